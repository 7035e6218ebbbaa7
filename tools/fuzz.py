#!/usr/bin/env python3
"""Fuzz a real node from its OpenAPI document for longer than the test suite does.

Runs the slow test tests/http/test_fuzz.py::test_fuzz_long (schemathesis: every operation, valid and
invalid requests, as anonymous, operator and enterprise callers, then link-following scenarios) on
SQLite and PostgreSQL, with fresh random examples each run. It fails on any 5xx and on any answer the
document does not allow, printing a curl command that reproduces each. ``--paths`` restricts the run to
the operations whose path matches a regular expression (``'^/(identity|snms)'``: the SNMS API).

    .venv/bin/python tools/fuzz.py [--examples 200] [--scenarios 200] [--db sqlite|postgresql|both]
                                   [--paths REGEX]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST = "tests/http/test_fuzz.py::test_fuzz_long"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=200, help="per operation and generation mode")
    parser.add_argument("--scenarios", type=int, default=200, help="link-following scenarios")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--paths", default="", help="only operations whose path matches this regex")
    args = parser.parse_args()
    selected = "" if args.db == "both" else args.db
    env = {
        **os.environ,
        "IDNODE_FUZZ_EXAMPLES": str(args.examples),
        "IDNODE_FUZZ_SCENARIOS": str(args.scenarios),
        "IDNODE_FUZZ_PATHS": args.paths,
    }
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-s",
        "-p",
        "no:cacheprovider",
        "-m",
        "slow",
        "-k",
        selected,
        TEST,
    ]
    return subprocess.call(command, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main())
