"""Fuzzing the running node from its OpenAPI document: no 5xx, no answer the document does not allow.

The suite runs a bounded, reproducible sample on SQLite (a few hundred requests); tools/fuzz.py runs
the slow variant below for longer, on both databases, with fresh random examples.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import orjson
import pytest

from tests.conftest import Server, module_node
from tests.http.fuzzing import Target, fuzz_operations, fuzz_stateful, load_schema
from tests.http.helpers import onboard, operator

SCHEMA = Path(__file__).resolve().parents[2] / "schema" / "openapi.json"
SUITE_EXAMPLES = 4  # per operation and generation mode: about 320 requests (and 80 in scenarios)
SUITE_SCENARIOS = 10


async def _target(server: Server) -> Target:
    async with aiohttp.ClientSession() as session:
        writer_prefix, writer = await onboard(session, server)
        victim_prefix, _ = await onboard(session, server)
    target = Target(server.url, operator(server), writer_prefix, writer, victim_prefix)
    target.add_application()
    target.add_data_template()
    return target


def _fuzzed_node(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A node for fuzzing: without the per-client failed-login limit and the write rate limit, which
    the run's hundreds of wrong logins and its bursts of writes from one address would trip, turning
    later answers to that address into 429s (both limits have their own tests; the per-account
    failed-login limit stays)."""
    config = tmp_path_factory.mktemp("fuzz-config") / "idnode.toml"
    config.write_text("login_failures_per_client = 0\nrate_limit_writes = 0\n", encoding="utf-8")
    yield from module_node(request, tmp_path_factory, options=["--config", str(config)])


@pytest.fixture(scope="module", params=["sqlite"])
def fuzz_node(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from _fuzzed_node(request, tmp_path_factory)


async def test_the_node_serves_its_document(fuzz_node: Server, session: aiohttp.ClientSession) -> None:
    async with session.get(f"{fuzz_node.url}/api/openapi.json") as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        assert orjson.loads(await resp.read()) == orjson.loads(SCHEMA.read_bytes())


async def test_fuzz_every_operation(fuzz_node: Server) -> None:
    target = await _target(fuzz_node)
    failures = fuzz_operations(load_schema(fuzz_node.url), target, SUITE_EXAMPLES)
    assert not failures, "\n\n".join(failures)
    assert target.requests_made >= 150  # every operation was really called, most of them in both modes


async def test_fuzz_following_links(fuzz_node: Server) -> None:
    target = await _target(fuzz_node)
    failures = fuzz_stateful(load_schema(fuzz_node.url), target, SUITE_SCENARIOS)
    assert not failures, "\n\n".join(failures)
    assert target.requests_made >= SUITE_SCENARIOS


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def long_fuzz_node(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    yield from _fuzzed_node(request, tmp_path_factory)


@pytest.mark.slow
async def test_fuzz_long(long_fuzz_node: Server) -> None:
    """tools/fuzz.py: IDNODE_FUZZ_EXAMPLES per operation and mode, IDNODE_FUZZ_SCENARIOS link scenarios,
    only the operations whose path matches IDNODE_FUZZ_PATHS (a regular expression) if it is set."""
    examples = int(os.environ.get("IDNODE_FUZZ_EXAMPLES", "100"))
    scenarios = int(os.environ.get("IDNODE_FUZZ_SCENARIOS", "100"))
    paths = os.environ.get("IDNODE_FUZZ_PATHS", "")
    schema, target = load_schema(long_fuzz_node.url), await _target(long_fuzz_node)
    if paths:
        schema = schema.include(path_regex=paths)
    failures = fuzz_operations(schema, target, examples, derandomize=False)
    if scenarios:
        failures += fuzz_stateful(schema, target, scenarios, derandomize=False)
    print(f"{target.requests_made} requests")
    assert not failures, "\n\n".join(failures)
