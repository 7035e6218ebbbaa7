"""``idnode applications``: the operator reviews applications from the command line, on the data of a
running node to which the applications were submitted over HTTP."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from tests.conftest import Server, run_cli
from tests.http.helpers import apply, basic, put_values


def cli(server: Server, *args: str, check: bool = True) -> Any:
    result = run_cli("applications", *args, *server.cli_args(), "--json", check=check)
    return json.loads(result.stdout) if check else result


async def test_review_approve_reject_withdraw(sqlite_server: Server) -> None:
    async with aiohttp.ClientSession() as session:
        first, _, _ = await apply(session, sqlite_server)
        second, _, _ = await apply(session, sqlite_server)
        third, _, _ = await apply(session, sqlite_server)
        listed = cli(sqlite_server, "list", "--state", "submitted")
        assert [a["id"] for a in listed["applications"]] == [first, second, third]
        assert cli(sqlite_server, "review", first)["application"]["state"] == "under_review"
        approved = cli(sqlite_server, "approve", first)
        prefix = approved["enterprise"]["prefix"]
        assert approved["admin"]["username"] == f"300:{prefix}/ADMIN"
        admin = basic(approved["admin"]["username"], approved["admin"]["secret"])
        value = [{"index": 1, "type": "URL", "data": "https://example.com/cli"}]
        assert (await put_values(session, sqlite_server, f"{prefix}/CLI-1", value, admin, overwrite="false"))[
            0
        ] == 201
    cli(sqlite_server, "review", second)
    rejected = cli(sqlite_server, "reject", second, "--reason", "材料不全")
    assert rejected["application"]["reason"] == "材料不全"
    assert cli(sqlite_server, "withdraw", third)["application"]["state"] == "withdrawn"
    shown = cli(sqlite_server, "show", first)
    assert [t["to"] for t in shown["transitions"]] == ["submitted", "under_review", "approved"]
    assert shown["transitions"][1]["actor"] == "300:0.NA/88.999"
    refused = cli(sqlite_server, "approve", third, check=False)
    assert refused.returncode == 2 and "withdrawn" in refused.stderr
    table = run_cli("applications", "list", *sqlite_server.cli_args()).stdout
    assert "3 application(s)" in table and "C3411" in table
