"""``idnode backup`` and ``idnode restore`` (idnode/backup.py) on SQLite and PostgreSQL: a backup taken
from a real node while it takes writes, restored into a fresh data directory (and database), served
again: every record as it was at the snapshot, every signature valid, the log root the backup's."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from idnode.backup import backup, restore
from idnode.config import load_settings
from idnode.core import open_core
from idnode.model.errors import BackupError
from idnode.verify import verify_record
from tests.conftest import Server, fresh_pg_database, run_cli, start_server, stop_server
from tests.http.helpers import Credentials, get_json, onboard, operator, put_values
from tests.test_applications import PDF as APPLICATION_PDF
from tests.test_applications import submit as submit_application


@pytest.fixture
def restore_db(db_url: str) -> Iterator[str]:
    """Where a backup of the ``db_url`` node is restored: its own new database, or SQLite."""
    if db_url:
        yield from fresh_pg_database()
    else:
        yield ""


async def _write_until(
    stop: asyncio.Event, session: aiohttp.ClientSession, node: Server, prefix: str, auth: Credentials
) -> int:
    """Register identifiers one after another until ``stop``; return how many."""
    written = 0
    while not stop.is_set():
        values = [{"index": 1, "type": "URL", "data": f"https://example.com/{written}"}]
        status, body = await put_values(session, node, f"{prefix}/STREAM-{written}", values, auth)
        assert status == 200, body
        written += 1
    return written


async def _log_entries(session: aiohttp.ClientSession, node: Server) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    while True:
        url = f"{node.url}/api/log/entries?start={len(entries)}&limit=1000"
        _, page = await get_json(session, url, headers=operator(node))
        entries += page["entries"]
        if len(entries) >= page["tree_size"]:
            return entries


async def _record(session: aiohttp.ClientSession, node: Server, handle: str) -> tuple[int, Any]:
    """The authoritative answer for ``handle``, as the operator sees it."""
    return await get_json(session, f"{node.url}/api/handles/{handle}?auth=true", headers=operator(node))


async def test_backup_under_writes_restores_every_record_signature_and_the_log_root(
    server: Server, restore_db: str, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    prefix, auth = await onboard(session, server)
    stop = asyncio.Event()
    writer = asyncio.create_task(_write_until(stop, session, server, prefix, auth))
    while (await _log_entries(session, server))[-1]["handle"] == f"{prefix}/ADMIN":
        await asyncio.sleep(0.01)  # the stream has begun
    before = len(await _log_entries(session, server))
    dest = tmp_path / "backup"
    made = await asyncio.to_thread(run_cli, "backup", str(dest), *server.cli_args(), "--json")
    after = len(await _log_entries(session, server))
    stop.set()
    assert await writer > 0
    manifest = json.loads(made.stdout)
    size = manifest["log"]["tree_size"]
    assert before < size < after, (before, size, after)  # taken while the node was writing
    assert (dest / "keys").stat().st_mode & 0o777 == 0o700
    assert all(key.stat().st_mode & 0o777 == 0o600 for key in (dest / "keys").iterdir())

    # The original log at the backup's size has the backup's root (the log is append-only).
    _, proof = await get_json(
        session, f"{server.url}/api/log/consistency?first={size}&second={size}", headers=operator(server)
    )
    assert proof["first_root_hash"] == manifest["log"]["sha256_root_hash"]

    data_dir = tmp_path / "restored"
    run_cli("restore", str(dest), "--data-dir", str(data_dir), *(["--db", restore_db] if restore_db else []))
    restored = start_server(data_dir, restore_db)
    restored.operator = server.operator  # the restored node keeps the original's credentials
    try:
        await _compare(session, server, restored, manifest)
        # The restored node signs new writes with the restored key, and the enterprise's secret works.
        values = [{"index": 1, "type": "URL", "data": "https://example.com/after-restore"}]
        status, _ = await put_values(session, restored, f"{prefix}/AFTER-RESTORE", values, auth)
        assert status == 200
        _, record = await _record(session, restored, f"{prefix}/AFTER-RESTORE")
        assert (await verify_record(record, _fetcher(session, restored))).ok
    finally:
        stop_server(restored)


def _fetcher(session: aiohttp.ClientSession, node: Server) -> Any:
    """What verify_record looks keys up with: the node's answers, each fetched once."""
    cache: dict[str, dict[str, Any] | None] = {}

    async def fetch(handle: str) -> dict[str, Any] | None:
        if handle not in cache:
            status, body = await _record(session, node, handle)
            cache[handle] = body if status == 200 else None
        return cache[handle]

    return fetch


async def _compare(
    session: aiohttp.ClientSession, original: Server, restored: Server, manifest: dict[str, Any]
) -> None:
    """Every handle the log names: as the original has it if the snapshot had it (the stream only
    creates, so the original's answer is still the snapshot's), absent from the restored node if
    not; every restored signature verifies; the restored log has the backup's root."""
    size, root = manifest["log"]["tree_size"], manifest["log"]["sha256_root_hash"]
    entries = await _log_entries(session, original)
    restored_entries = await _log_entries(session, restored)
    if manifest["database"] == "sqlite":
        assert len(restored_entries) == size
    assert restored_entries[:size] == entries[:size]
    _, proof = await get_json(
        session,
        f"{restored.url}/api/log/consistency?first={size}&second={len(restored_entries)}",
        headers=operator(restored),
    )
    assert proof["first_root_hash"] == root
    in_snapshot = {e["handle"] for e in restored_entries}
    fetch = _fetcher(session, restored)
    for handle in {e["handle"] for e in entries}:
        if handle not in in_snapshot:
            assert (await _record(session, restored, handle))[0] == 404, handle
            continue
        status, record = await _record(session, restored, handle)
        assert (status, record) == await _record(session, original, handle), handle
        report = await verify_record(record, fetch)
        assert report.ok, report.to_json()


async def test_backup_and_restore_refuse_to_overwrite_and_check_the_backup(tmp_path: Path) -> None:
    settings = load_settings({"data_dir": tmp_path / "node"}, environ={})
    async with open_core(settings):
        pass
    dest = tmp_path / "backup"
    await backup(settings, dest)
    with pytest.raises(BackupError, match="not empty"):
        await backup(settings, dest)
    with pytest.raises(BackupError, match="not empty"):
        await restore(dest, settings)  # the node's own, non-empty data directory
    restored = await restore(dest, settings, force=True)
    assert restored["restored_log_size"] == restored["log"]["tree_size"]
    elsewhere = load_settings({"data_dir": tmp_path / "a", "node_prefix": "88.7"}, environ={})
    with pytest.raises(BackupError, match=re.escape("--node-prefix 88.999")):
        await restore(dest, elsewhere)
    pg = load_settings(
        {"data_dir": tmp_path / "a", "db": "postgresql+asyncpg://nobody@127.0.0.1/x"}, environ={}
    )
    with pytest.raises(BackupError, match="backup of a SQLite node"):
        await restore(dest, pg)
    key = next((dest / "keys").iterdir())
    key.write_bytes(key.read_bytes() + b"\n")
    fresh = load_settings({"data_dir": tmp_path / "b"}, environ={})
    with pytest.raises(BackupError, match=re.escape(f"keys/{key.name}")):
        await restore(dest, fresh)
    assert not (tmp_path / "b").exists()


async def test_licence_files_of_applications_are_backed_up_and_restored(tmp_path: Path) -> None:
    settings = load_settings({"data_dir": tmp_path / "node"}, environ={})
    async with open_core(settings) as core:
        application, _ = await submit_application(core)
        (settings.licences_path / ".upload-in-progress.part").write_bytes(b"%PDF-")
    manifest = await backup(settings, tmp_path / "backup")
    assert f"licences/{application.licence.file}" in manifest["files"]
    assert not any(name.endswith(".part") for name in manifest["files"])
    fresh = load_settings({"data_dir": tmp_path / "restored"}, environ={})
    assert (await restore(tmp_path / "backup", fresh))["licences"] == 1
    async with open_core(fresh) as core:
        restored = await core.applications.get(application.id)
        assert (await core.applications.licence_file(restored)).read_bytes() == APPLICATION_PDF
