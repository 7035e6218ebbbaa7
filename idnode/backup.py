"""Backups: a consistent snapshot of a node's database and signing keys, and restoring one.

A backup is a new directory holding
    manifest.json   format, node prefix, database kind, the transparency log's size and root hash at
                    the snapshot, and the SHA-256 of every other file
    idnode.db       SQLite: the database as one read transaction saw it (sqlite3's online backup API,
                    all pages in one step), so a write the serving node makes meanwhile is wholly in
                    it or not at all, and the node is never stopped or blocked
    idnode.pgdump   PostgreSQL: a ``pg_dump --format=custom`` archive (pg_dump reads one snapshot too)
    keys/*.pem      the node's private signing keys, copied after the snapshot: keys are only ever
                    added, so every key the snapshot names is there
    licences/*      the business-licence files of applications (idnode/licences.py), copied after
                    the snapshot: a file is stored before its application is, so every file the
                    snapshot names is there
    idnode.toml     the node's settings file, if it has one

The keys are copied as the node holds them: unencrypted PEM, in a 0700 directory, each file 0600 (as
``signing.KeyFile.save`` writes them). Whoever can read a backup can sign as the node and holds every
credential hash, so keep it as the data directory is kept, and encrypt it (age, gpg) before it
leaves the machine.

On PostgreSQL the log head is read just before pg_dump starts, so the archive holds at least those
entries (and whatever was written while it began); on SQLite it is the snapshot's own.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.engine import make_url

from idnode.config import Settings
from idnode.model.errors import BackupError
from idnode.storage.engine import create_engines, is_empty, is_sqlite, sqlite_url
from idnode.storage.repository import Repository
from idnode.translog import root_at

FORMAT = "idnode-backup/1"
MANIFEST = "manifest.json"
SQLITE_FILE = "idnode.db"  # the name storage.engine.sqlite_url gives the file in a directory
PG_FILE = "idnode.pgdump"
KEYS = "keys"
LICENCES = "licences"
CONFIG = "idnode.toml"
PG_GUIDANCE = (
    "pg_dump is not on PATH. Back up a PostgreSQL node with "
    "`pg_dump --format=custom --file=idnode.pgdump <database>` (one consistent snapshot; the node "
    "keeps serving) and copy its keys directory; restore with "
    "`pg_restore --no-owner --dbname=<empty database> idnode.pgdump` and put the keys back."
)


async def backup(settings: Settings, dest: Path) -> dict[str, Any]:
    """Back up the node ``settings`` describe into the new (or empty) directory ``dest``; return the
    manifest. Raises BackupError (nothing to back up, ``dest`` not empty, pg_dump missing or failing)."""
    _require_empty(dest, "The backup destination", "choose a new directory")
    dest.mkdir(mode=0o700, parents=True, exist_ok=True)
    if is_sqlite(settings.db_url):
        source = _sqlite_path(settings.db_url)
        if not source.is_file():
            raise BackupError(f"There is no database at {source}: nothing to back up.")
        snapshot = _sqlite_path(sqlite_url(dest))
        await asyncio.to_thread(_sqlite_snapshot, source, snapshot)
        size, root, _ = await _log_head(sqlite_url(dest))
        database = "sqlite"
    else:
        size, root, _ = await _log_head(settings.db_url)
        await asyncio.to_thread(_pg_dump, settings.db_url, dest / PG_FILE)
        database = "postgresql"
    _copy_keys(settings.keys_path, dest / KEYS, overwrite=False)
    _copy_licences(settings.licences_path, dest / LICENCES)
    if settings.config_file is not None:
        shutil.copyfile(settings.config_file, dest / CONFIG)
    manifest = {
        "format": FORMAT,
        "node_prefix": settings.node_prefix_canonical,
        "database": database,
        "log": {"tree_size": size, "sha256_root_hash": base64.b64encode(root).decode()},
        "files": {
            str(path.relative_to(dest)): _sha256(path) for path in sorted(dest.rglob("*")) if path.is_file()
        },
    }
    (dest / MANIFEST).write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    return manifest


async def restore(source: Path, settings: Settings, *, force: bool = False) -> dict[str, Any]:
    """Restore the backup in ``source`` into the data directory (and ``db``) of ``settings``.

    The target must be empty (a data directory with nothing in it; for PostgreSQL a database without
    tables) unless ``force``. Every file is checked against the manifest first, and the restored log
    afterwards: its first ``tree_size`` entries must hash to the manifest's root. Returns what was
    restored. Raises BackupError.
    """
    manifest = read_manifest(source)
    if manifest["node_prefix"] != settings.node_prefix_canonical:
        raise BackupError(
            f"The backup is of node {manifest['node_prefix']}; restore it with --node-prefix "
            f"{manifest['node_prefix']}."
        )
    if not force:
        _require_empty(settings.data_dir, "The data directory", "restore into a new one or use --force")
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if manifest["database"] == "sqlite":
        if not is_sqlite(settings.db_url):
            raise BackupError("This is a backup of a SQLite node: restore it without --db.")
        target = _sqlite_path(settings.db_url)
        for stale in (target, target.with_name(f"{target.name}-wal"), target.with_name(f"{target.name}-shm")):
            stale.unlink(missing_ok=True)
        shutil.copyfile(source / SQLITE_FILE, target)
    else:
        if is_sqlite(settings.db_url):
            raise BackupError(
                "This is a backup of a PostgreSQL node: restore it with --db postgresql+asyncpg://… "
                "naming an empty database."
            )
        await _pg_restore(source / PG_FILE, settings.db_url, force)
    keys = _copy_keys(source / KEYS, settings.keys_path, overwrite=force)
    licences = _copy_licences(source / LICENCES, settings.licences_path)
    if (source / CONFIG).is_file() and (force or not (settings.data_dir / CONFIG).exists()):
        shutil.copyfile(source / CONFIG, settings.data_dir / CONFIG)
    expected = manifest["log"]
    size, root, total = await _log_head(settings.db_url, expected["tree_size"])
    if base64.b64encode(root).decode() != expected["sha256_root_hash"]:
        raise BackupError(f"The restored log's first {size} entries do not hash to the backup's root.")
    if manifest["database"] == "sqlite" and total != size:
        raise BackupError(f"The restored log holds {total} entries, the backup {size}.")
    return {
        "database": manifest["database"],
        "log": expected,
        "restored_log_size": total,
        "keys": keys,
        "licences": licences,
    }


def read_manifest(source: Path) -> dict[str, Any]:
    """The manifest of the backup in ``source``, after checking every file it lists; BackupError if
    the backup is incomplete or damaged."""
    try:
        manifest = orjson.loads((source / MANIFEST).read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise BackupError(f"{source} holds no readable idnode backup ({exc}).") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{source / MANIFEST} is not an {FORMAT} manifest.")
    files: Mapping[str, str] = manifest["files"]
    for name, digest in files.items():
        path = source / name
        if not path.is_file() or _sha256(path) != digest:
            raise BackupError(f"The backup is damaged: {name} is missing or differs from its checksum.")
    return manifest


def _require_empty(path: Path, what: str, advice: str) -> None:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise BackupError(f"{what} {path} is not empty: {advice}.")


def _sqlite_path(url: str) -> Path:
    return Path(make_url(url).database or "")


def _sqlite_snapshot(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` with the online backup API, every page in one step (one read
    transaction: a consistent snapshot; in WAL mode the node's writer carries on meanwhile)."""
    target.touch(mode=0o600)  # it holds every credential hash
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


async def _log_head(url: str, size: int | None = None) -> tuple[int, bytes, int]:
    """(size, root hash of the first ``size`` log entries (all if None), entries stored) at ``url``."""
    engines = create_engines(url)
    try:
        repository = Repository(engines)
        size, root = await root_at(repository, size)
        return size, root, await repository.log_size()
    finally:
        await engines.dispose()


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection URI for ``url`` and the environment to run a client with: the password
    goes in PGPASSWORD, never on the command line (where ``ps`` would show it)."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    dsn = parsed.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return dsn, env


def _run(command: list[str], env: Mapping[str, str]) -> None:
    if shutil.which(command[0]) is None:
        raise BackupError(PG_GUIDANCE)
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BackupError(f"{command[0]} failed: {result.stderr.strip()}")


def _pg_dump(url: str, target: Path) -> None:
    dsn, env = _libpq(url)
    target.touch(mode=0o600)
    _run(["pg_dump", "--format=custom", "--no-owner", f"--file={target}", dsn], env)


async def _pg_restore(archive: Path, url: str, force: bool) -> None:
    engines = create_engines(url)
    try:
        empty = await is_empty(engines)
    finally:
        await engines.dispose()
    if not empty and not force:
        raise BackupError("The database is not empty: restore into a new one, or use --force to replace it.")
    dsn, env = _libpq(url)
    clean = ["--clean", "--if-exists"] if not empty else []
    await asyncio.to_thread(_run, ["pg_restore", "--no-owner", *clean, f"--dbname={dsn}", str(archive)], env)


def _copy_keys(source: Path, target: Path, *, overwrite: bool) -> int:
    """Copy the private key files from ``source`` to ``target`` (0700 directory, 0600 files); return
    how many."""
    if not source.is_dir():
        return 0
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    copied = 0
    for key in sorted(source.glob("*.pem")):
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
        fd = os.open(target / key.name, flags, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(key.read_bytes())
        copied += 1
    return copied


def _copy_licences(source: Path, target: Path) -> int:
    """Copy the stored licence files (not uploads in progress, whose names start with a dot) from
    ``source`` to ``target``; return how many."""
    if not source.is_dir():
        return 0
    target.mkdir(parents=True, exist_ok=True)
    files = [path for path in sorted(source.iterdir()) if path.is_file() and not path.name.startswith(".")]
    for path in files:
        shutil.copyfile(path, target / path.name)
    return len(files)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
