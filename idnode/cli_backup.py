"""``idnode backup DEST`` and ``idnode restore SRC``: see ``idnode.backup``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console

from idnode import backup
from idnode.config import Settings

console = Console()


def add_parsers(sub: Any, common: argparse.ArgumentParser, output: argparse.ArgumentParser) -> None:
    make = sub.add_parser(
        "backup",
        parents=[common, output],
        help="a consistent snapshot of the database, keys and licence files, taken while the node serves",
    )
    make.add_argument("dest", type=Path, help="a new directory for the backup")
    restore = sub.add_parser(
        "restore", parents=[common, output], help="restore a backup into a fresh data directory (or database)"
    )
    restore.add_argument("source", type=Path, help="the backup directory")
    restore.add_argument(
        "--force", action="store_true", help="restore over a data directory or database that is not empty"
    )


async def run(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """Back up or restore, as ``args.command`` says; returns what to print."""
    if args.command == "backup":
        return await backup.backup(settings, args.dest)
    return await backup.restore(args.source, settings, force=args.force)


def print_result(command: str, result: dict[str, Any]) -> None:
    log = result["log"]
    if command == "backup":
        console.print(
            f"Backed up the {result['database']} database, {len(result['files'])} files; "
            f"transparency log: {log['tree_size']} entries, root {log['sha256_root_hash']}."
        )
        console.print("The backup holds the node's private keys: keep it as safe as the data directory.")
    else:
        console.print(
            f"Restored the {result['database']} database, {result['keys']} signing key(s) and "
            f"{result['licences']} licence file(s); "
            f"the log's first {log['tree_size']} entries match the backup's root {log['sha256_root_hash']}."
        )
