"""Fixtures for tests with several nodes: each node's settings go into ``<data dir>/idnode.toml``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import Server, start_server


def start_node(data_dir: Path, db: str = "", *, dns: bool = False, **settings: Any) -> Server:
    """Start a node whose settings file holds ``settings`` (strings, numbers, booleans), answering DNS
    too if ``dns``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    write_settings(data_dir, **settings)
    return start_server(data_dir, db, dns=dns)


def write_settings(data_dir: Path, **settings: Any) -> None:
    lines = [f"{name} = {json.dumps(value)}" for name, value in settings.items()]
    (data_dir / "idnode.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
