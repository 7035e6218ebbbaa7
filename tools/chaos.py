#!/usr/bin/env python3
"""Reliability runs too long or too disruptive for the default test suite (tests/http/test_chaos.py):

kill      rounds of: a stream of writes, kill -9 of the node mid-stream, restart on the same store,
          check that every acknowledged write is there and every record verifies against the log
          (on SQLite and on PostgreSQL);
pg        a real restart of the machine's PostgreSQL (pg_ctlcluster, as root) under a write load:
          refusals must be clean JSON 503s, the node must reconnect by itself, and nothing it
          stored may be corrupt. This drops every client's connections to that server, so run it
          when nobody else is using it.

  .venv/bin/python tools/chaos.py [kill] [pg] [--rounds 10]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = {
    "kill": "tests/http/test_chaos.py::test_repeated_kill_9",
    "pg": "tests/http/test_chaos.py::test_postgresql_restart_under_load",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", metavar="{kill,pg}", help="what to run (default: both)")
    parser.add_argument("--rounds", type=int, default=10, help="kill -9 rounds per database")
    args = parser.parse_args()
    unknown = set(args.runs) - set(TESTS)
    if unknown:
        parser.error(f"unknown run(s): {', '.join(sorted(unknown))}")
    command = [sys.executable, "-m", "pytest", "-m", "slow", "-s", "-q", "-p", "no:cacheprovider"]
    command += [TESTS[run] for run in args.runs or TESTS]
    environ = {**os.environ, "CHAOS_ROUNDS": str(args.rounds)}
    return subprocess.run(command, cwd=ROOT, env=environ).returncode


if __name__ == "__main__":
    raise SystemExit(main())
