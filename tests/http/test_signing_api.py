"""Signed records and the transparency log, end to end: a running node, its HTTP API and the CLI."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import stat
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import requests

from idnode.signing import public_key_from_jwk
from idnode.verify import Report, verify_consistency, verify_inclusion, verify_record, verify_tree_head
from tests.conftest import Server, run_cli, start_server, stop_server
from tests.http.helpers import get_json, onboard, put_values

URL_VALUE = {"index": 1, "type": "URL", "data": "https://example.com/pump/1"}


def fetcher(session: aiohttp.ClientSession, server: Server) -> Any:
    async def fetch(handle: str) -> dict[str, Any] | None:
        async with session.get(f"{server.url}/api/handles/{handle}") as response:
            return await response.json() if response.status == 200 else None

    return fetch


def verify_cli(server: Server, handle: str, *extra: str) -> tuple[int, list[dict[str, Any]]]:
    result = run_cli("verify", handle, "--server", server.url, "--json", *extra, check=False)
    return result.returncode, json.loads(result.stdout)


async def test_node_publishes_its_key(node: Server, session: aiohttp.ClientSession) -> None:
    status, body = await get_json(session, f"{node.url}/api/node")
    assert status == 200 and body["nodePrefix"] == "88.999" and body["active"] == "301:0.NA/88.999"
    (key,) = body["keys"]
    assert key["alg"] == "EdDSA" and key["status"] == "active" and key["jwk"]["crv"] == "Ed25519"
    assert key["pem"].startswith("-----BEGIN PUBLIC KEY-----")
    public_key_from_jwk(key["jwk"])
    _, record = await get_json(session, f"{node.url}/api/handles/0.NA/88.999")
    published = [v for v in record["values"] if v["type"] == "HS_PUBKEY"]
    assert published[0]["index"] == 301 and published[0]["data"]["value"]["kid"] == key["kid"]
    assert all(v["type"] != "HS_SECKEY" for v in record["values"])
    keys_dir = node.data_dir / "keys"
    (key_file,) = keys_dir.iterdir()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(keys_dir.stat().st_mode) == 0o700


async def test_records_verify_offline_and_in_the_log(node: Server, session: aiohttp.ClientSession) -> None:
    prefix, auth = await onboard(session, node)
    handle = f"{prefix}/SIGNED-1"
    await put_values(session, node, handle, [URL_VALUE, {"index": 2, "type": "LOT", "data": "B-7"}], auth)
    fetch = fetcher(session, node)
    record = await fetch(handle)
    assert (await verify_record(record, fetch)).ok
    _, proof = await get_json(session, f"{node.url}/api/log/proof", params={"handle": handle})
    assert (await verify_inclusion(record, proof, fetch)).ok
    code, reports = await asyncio.to_thread(verify_cli, node, handle, "--log")
    assert code == 0 and all(r["ok"] for r in reports) and len(reports) == 2
    # A change is logged too: the old proof no longer matches, a fresh one does.
    await put_values(session, node, handle, [{"index": 2, "type": "LOT", "data": "B-8"}], auth, index="2")
    changed = await fetch(handle)
    assert not (await verify_inclusion(changed, proof, fetch)).ok
    _, fresh = await get_json(session, f"{node.url}/api/log/proof", params={"handle": handle})
    assert (await verify_inclusion(changed, fresh, fetch)).ok and fresh["leaf_index"] > proof["leaf_index"]


async def test_tree_heads_are_consistent(node: Server, session: aiohttp.ClientSession) -> None:
    prefix, auth = await onboard(session, node)
    _, old = await get_json(session, f"{node.url}/api/log/sth")
    for n in range(5):
        await put_values(session, node, f"{prefix}/CONS-{n}", [URL_VALUE], auth)
    _, new = await get_json(session, f"{node.url}/api/log/sth")
    assert new["tree_size"] == old["tree_size"] + 5
    fetch = fetcher(session, node)
    for head in (old, new):
        assert await verify_tree_head(Report("sth"), head, fetch, None, head["timestamp"] // 1000) is not None
    _, proof = await get_json(
        session,
        f"{node.url}/api/log/consistency",
        params={"first": old["tree_size"], "second": new["tree_size"]},
    )
    assert verify_consistency(old, new, proof["consistency"])
    assert not verify_consistency(new, old, proof["consistency"])
    status, body = await get_json(
        session, f"{node.url}/api/log/consistency", params={"first": "0", "second": "1"}
    )
    assert (status, body["responseCode"]) == (400, 4)
    status, body = await get_json(session, f"{node.url}/api/log/proof", params={"handle": f"{prefix}/NEVER"})
    assert (status, body["responseCode"]) == (404, 100)


async def test_concurrent_writers_keep_the_log_gap_free(node: Server, session: aiohttp.ClientSession) -> None:
    prefix, auth = await onboard(session, node)
    _, before = await get_json(session, f"{node.url}/api/log/sth")
    handles = [f"{prefix}/PAR-{n}" for n in range(20)]
    results = await asyncio.gather(*(put_values(session, node, h, [URL_VALUE], auth) for h in handles))
    assert all(status == 200 for status, _ in results)
    _, after = await get_json(session, f"{node.url}/api/log/sth")
    assert after["tree_size"] == before["tree_size"] + 20
    fetch = fetcher(session, node)
    seen = set()
    for handle in handles:
        _, proof = await get_json(session, f"{node.url}/api/log/proof", params={"handle": handle})
        assert (await verify_inclusion(await fetch(handle), proof, fetch)).ok, handle
        seen.add(proof["leaf_index"])
    assert len(seen) == 20


async def test_certified_key_chains_to_the_trust_anchor(sqlite_server: Server, tmp_path: Path) -> None:
    node = sqlite_server
    root, other = tmp_path / "root.pem", tmp_path / "other.pem"
    run_cli("keys", "generate", "--out", str(root))
    run_cli("keys", "generate", "--out", str(other), "--algorithm", "p256")
    async with aiohttp.ClientSession() as session:
        prefix, auth = await onboard(session, node)
        handle = f"{prefix}/CHAIN-1"
        await put_values(session, node, handle, [URL_VALUE], auth)
    anchor = str(root.with_suffix(".pub.pem"))
    code, reports = verify_cli(node, handle, "--trust-anchor", anchor)
    assert code == 1 and any(f["subject"] == "chain" and not f["ok"] for f in reports[0]["findings"])
    run_cli("keys", "certify", "--root-key", str(root), *node.cli_args())
    await asyncio.sleep(1.2)  # the server re-reads the node record's keys at most once a second
    code, reports = verify_cli(node, handle, "--trust-anchor", anchor, "--log")
    assert code == 0, reports
    code, _ = verify_cli(node, handle, "--trust-anchor", str(other.with_suffix(".pub.pem")))
    assert code == 1


def test_tampering_with_the_store_is_detected(sqlite_server: Server) -> None:
    node = sqlite_server

    async def register() -> str:
        async with aiohttp.ClientSession() as session:
            prefix, auth = await onboard(session, node)
            await put_values(session, node, f"{prefix}/TAMPER-1", [URL_VALUE], auth)
            return f"{prefix}/TAMPER-1"

    handle = asyncio.run(register())
    assert verify_cli(node, handle, "--log")[0] == 0
    # Someone with access to the database file rewrites the URL behind the node's back.
    with sqlite3.connect(node.data_dir / "idnode.db") as db:
        (data,) = db.execute("SELECT data FROM handles WHERE handle = ?", (handle,)).fetchone()
        values = orjson.loads(data)
        values[0][3] = "https://evil.example/phish"
        db.execute("UPDATE handles SET data = ? WHERE handle = ?", (orjson.dumps(values).decode(), handle))
    code, reports = verify_cli(node, handle, "--log")
    assert code == 1
    failed = {f["subject"]: f["detail"] for r in reports for f in r["findings"] if not f["ok"]}
    assert "altered" in failed["value 1"] and "content" in failed


def test_rotation_never_serves_an_unverifiable_record(sqlite_server: Server) -> None:
    node = sqlite_server

    async def register() -> list[str]:
        async with aiohttp.ClientSession() as session:
            prefix, auth = await onboard(session, node)
            names = [f"{prefix}/ROT-{n}" for n in range(30)]
            for name in names:
                await put_values(session, node, name, [URL_VALUE], auth)
            return names

    handles = asyncio.run(register())
    failures: list[str] = []
    checked = 0
    stop = threading.Event()

    def resolve_and_verify() -> None:
        nonlocal checked

        async def loop() -> None:
            nonlocal checked
            async with aiohttp.ClientSession() as session:
                fetch = fetcher(session, node)
                while not stop.is_set():
                    for handle in handles:
                        report = await verify_record(await fetch(handle), fetch)
                        checked += 1
                        if not report.ok:
                            failures.append(f"{handle}: {report.to_json()}")

        asyncio.run(loop())

    worker = threading.Thread(target=resolve_and_verify)
    worker.start()
    try:
        rotated = json.loads(run_cli("keys", "rotate", "--json", *node.cli_args()).stdout)
    finally:
        stop.set()
        worker.join(timeout=60)
    assert not failures, failures[:3]
    assert checked > 30 and rotated["active"] == "302:0.NA/88.999" and rotated["resigned"] >= 30
    body = requests.get(f"{node.url}/api/node", timeout=10).json()
    assert [k["status"] for k in body["keys"]] == ["retired", "active"] and body["keys"][0]["expires"]

    def signer_kid() -> str:
        record = requests.get(f"{node.url}/api/handles/{handles[0]}", timeout=10).json()
        token = next(v for v in record["values"] if v["type"] == "HS_SIGNATURE")["data"]["value"]
        return orjson.loads(_b64url(token.split(".")[0]))["kid"]

    # the CLI re-signed in another process: the server's cache follows within its staleness bound (1 s)
    deadline = time.monotonic() + 1.5
    while signer_kid() != "302:0.NA/88.999":
        assert time.monotonic() < deadline, "the server still serves the old signature"
        time.sleep(0.05)


def _b64url(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_log_survives_a_restart_and_p256_keys_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDNODE_KEY_ALGORITHM", "p256")
    data = tmp_path / "node"
    node = start_server(data)
    try:

        async def register() -> tuple[str, dict[str, Any]]:
            async with aiohttp.ClientSession() as session:
                prefix, auth = await onboard(session, node)
                await put_values(session, node, f"{prefix}/P256", [URL_VALUE], auth)
                _, head = await get_json(session, f"{node.url}/api/log/sth")
                return f"{prefix}/P256", head

        handle, head = asyncio.run(register())
        code, reports = verify_cli(node, handle, "--log")
        assert code == 0 and "ES256" in reports[0]["findings"][0]["detail"]
    finally:
        stop_server(node)
    restarted = start_server(data)
    try:
        again = requests.get(f"{restarted.url}/api/log/sth", timeout=10).json()
        assert (again["tree_size"], again["sha256_root_hash"]) == (
            head["tree_size"],
            head["sha256_root_hash"],
        )
        assert verify_cli(restarted, handle, "--log")[0] == 0
    finally:
        stop_server(restarted)
