"""``idnode import`` as a separate process: exit codes and reports, and an import killed with SIGKILL
part-way through and run again, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import func, select

from idnode.config import load_settings
from idnode.core import open_core
from idnode.model.identifier import Identifier
from idnode.sample import make_uscc
from idnode.storage.engine import create_engines, sqlite_url
from idnode.storage.repository import Repository
from idnode.storage.tables import audit, log_entries
from idnode.verify import verify_record
from tests.conftest import run_cli
from tests.test_verify import fetcher


def storage(data_dir: Path, db: str) -> list[str]:
    return ["--data-dir", str(data_dir), *(["--db", db] if db else [])]


def new_enterprise(where: list[str]) -> str:
    """Onboard an enterprise on the node at ``where``; its prefix."""
    fields = [
        "--name",
        "导入测试企业",
        "--uscc",
        make_uscc(1),
        "--district",
        "盐都区",
        "--industry",
        "纺织业",
    ]
    added = run_cli("enterprise", "add", *where, "--json", *fields)
    return json.loads(added.stdout)["enterprise"]["prefix"]


def import_(where: list[str], path: Path, prefix: str, *extra: str) -> tuple[int, dict, str]:
    """Run ``idnode import``; (exit status, its --json summary or {}, stderr)."""
    done = run_cli("import", str(path), "--prefix", prefix, *where, "--json", *extra, check=False)
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else {}, done.stderr


def test_exit_status_summary_and_error_report(tmp_path: Path) -> None:
    where = storage(tmp_path / "node", "")
    prefix = new_enterprise(where)
    rows = tmp_path / "products.csv"
    rows.write_bytes(
        "后缀,网址,型号\nA-1,https://example.com/a1,泵\n,https://example.com/x,\nA-2,,阀\n".encode("gbk")
    )

    status, checked, stderr = import_(where, rows, prefix, "--dry-run")
    assert status == 1 and checked["dryRun"] is True
    assert (checked["created"], checked["failed"]) == (2, 1)
    assert "rows/s" in stderr  # the progress bar, on stderr
    assert run_cli("resolve", f"{prefix}/A-1", *where, check=False).returncode == 1  # nothing written

    status, done, _ = import_(where, rows, prefix)
    assert status == 1
    assert (done["created"], done["updated"], done["unchanged"], done["failed"]) == (2, 0, 0, 1)
    assert done["errors"] == str(tmp_path / "products.errors.csv")
    assert done["failures"] == [
        {"row": 3, "handle": "", "responseCode": 102, "message": "The row has no suffix."}
    ]
    with open(done["errors"], encoding="utf-8-sig", newline="") as report:
        assert list(csv.reader(report)) == [
            ["row", "handle", "responseCode", "message"],
            ["3", "", "102", "The row has no suffix."],
        ]
    resolved = json.loads(run_cli("resolve", f"{prefix}/A-1", *where, "--json").stdout)
    assert [(v["type"], v["data"]["value"]) for v in resolved["values"][:2]] == [
        ("URL", "https://example.com/a1"),
        ("METADATA", '{"型号":"泵"}'),
    ]

    good = tmp_path / "good.jsonl"
    good.write_text('{"suffix": "A-1", "url": "https://example.com/a1", "型号": "泵"}\n')
    status, done, _ = import_(where, good, prefix, "--errors", str(tmp_path / "good-errors.csv"))
    assert status == 0 and (done["unchanged"], done["failed"], done["errors"]) == (1, 0, None)
    assert not (tmp_path / "good-errors.csv").exists()

    plain = run_cli("import", str(rows), "--prefix", prefix, *where, check=False)
    assert plain.returncode == 1 and "0 created, 0 updated, 2 unchanged, 1 failed" in plain.stdout

    (tmp_path / "binary.csv").write_bytes(b"suffix\n\xff\xfe\x80\x80\n")
    for path, extra, message in [
        (tmp_path / "binary.csv", [], "neither UTF-8 nor GBK"),
        (rows, ["--prefix", "88.999.4242"], "does not live on this node"),
        (tmp_path / "notes.txt", [], "Cannot tell the format"),
        (rows, ["--template", "solar-module@99"], "No template solar-module@99"),
        (rows, ["--batch-size", "0"], "batch_size must be between"),
    ]:
        (tmp_path / "notes.txt").write_text("suffix\nx\n")
        failed = run_cli("import", str(path), "--prefix", prefix, *where, *extra, check=False)
        assert failed.returncode == 2 and message in failed.stderr, failed.stderr


ROWS = 20_000
BATCH = 250


def write_products(path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["suffix", "url", "model"])
        writer.writerows((f"K-{n:06d}", f"https://example.com/k/{n}", f"离心泵 {n}") for n in range(ROWS))


@asynccontextmanager
async def repository_at(url: str) -> AsyncIterator[Repository]:
    engines = create_engines(url)
    try:
        yield Repository(engines)
    finally:
        await engines.dispose()


async def wait_for_a_batch(url: str, process: subprocess.Popen[bytes]) -> None:
    """Return once the import has committed at least one batch."""
    async with repository_at(url) as repository:
        while process.poll() is None:
            if await repository.count_identifiers():
                return
            await asyncio.sleep(0.01)
    raise AssertionError("the import ended before it could be interrupted")


async def stored_identifiers(url: str) -> int:
    async with repository_at(url) as repository:
        return await repository.count_identifiers()


def test_an_import_killed_part_way_completes_when_run_again(tmp_path: Path, db_url: str) -> None:
    data_dir = tmp_path / "node"
    where = storage(data_dir, db_url)
    run_cli("init", *where)
    prefix = new_enterprise(where)
    rows = tmp_path / "many.csv"
    write_products(rows)
    command = [
        sys.executable,
        "-m",
        "idnode.cli",
        "import",
        str(rows),
        "--prefix",
        prefix,
        "--batch-size",
        str(BATCH),
    ]
    process = subprocess.Popen([*command, *where], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = db_url or sqlite_url(data_dir)
    try:
        asyncio.run(wait_for_a_batch(url, process))
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    committed = asyncio.run(stored_identifiers(url))
    assert 0 < committed < ROWS and committed % BATCH == 0  # whole batches only

    status, done, _ = import_(where, rows, prefix, "--batch-size", "1000")
    assert status == 0
    assert (done["created"], done["unchanged"], done["updated"], done["failed"]) == (
        ROWS - committed,
        committed,
        0,
        0,
    )
    asyncio.run(check_every_row_once(data_dir, db_url, prefix))


async def check_every_row_once(data_dir: Path, db: str, prefix: str) -> None:
    """Every row stored with its content and signature, created once in the audit trail and the log."""
    settings = load_settings({"data_dir": data_dir, "db": db or None}, environ={})
    async with open_core(settings) as core:
        assert await core.repository.count_identifiers() == ROWS
        total, names = await core.repository.list_handles(prefix, 0, ROWS + 10)
        mine = [n for n in names if n != f"{prefix}/ADMIN"]
        assert total == ROWS + 1 and mine == [f"{prefix}/K-{n:06d}" for n in range(ROWS)]
        async with core.repository.engines.reader.connect() as conn:
            logged = await conn.execute(
                select(log_entries.c.handle, func.count())
                .where(log_entries.c.handle.like(f"{prefix}/K-%"))
                .group_by(log_entries.c.handle)
            )
            assert dict(logged.all()) == dict.fromkeys(mine, 1)
            audited = await conn.execute(
                select(audit.c.target, audit.c.action, func.count())
                .where(audit.c.target.like(f"{prefix}/K-%"))
                .group_by(audit.c.target, audit.c.action)
            )
            assert {(target, action, n) for target, action, n in audited} == {(h, "create", 1) for h in mine}
        for n in range(ROWS):
            record = await core.repository.get_record(Identifier(prefix, f"K-{n:06d}"))
            assert record is not None and record.version == 1
            values = record.by_index()
            assert values[1].data == f"https://example.com/k/{n}"
            assert values[3].data == f'{{"model":"离心泵 {n}"}}'
            assert values[400].type == "HS_SIGNATURE"
        fetch = fetcher(core)
        for n in range(0, ROWS, 997):
            resolved = await fetch(f"{prefix}/K-{n:06d}")
            assert resolved is not None and (await verify_record(resolved, fetch)).ok
