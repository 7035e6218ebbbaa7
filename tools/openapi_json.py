#!/usr/bin/env python3
"""Write schema/openapi.json, the copy of schema/openapi.yaml the node serves at /api/openapi.json.

The YAML is the document people edit; the node ships the JSON so that serving it needs no YAML parser
(PyYAML comes with the test extra, through schemathesis, not with the node). Run after every edit of
the YAML; tests/http/test_openapi.py fails while the two differ.

    .venv/bin/python tools/openapi_json.py [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

SCHEMA = Path(__file__).resolve().parent.parent / "schema"
SOURCE, TARGET = SCHEMA / "openapi.yaml", SCHEMA / "openapi.json"


def rendered() -> str:
    """The JSON text for the YAML document as it is now (stable: keys in document order, 2-space indent)."""
    document = yaml.safe_load(SOURCE.read_text(encoding="utf-8"))
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report whether the JSON is up to date")
    args = parser.parse_args()
    text = rendered()
    if args.check:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        print("up to date" if current == text else f"{TARGET} is stale: run tools/openapi_json.py")
        return 0 if current == text else 1
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
