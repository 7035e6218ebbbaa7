"""Fixtures of the end-to-end DNS tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Server, module_node


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def dns_node(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real node answering HTTP and DNS, per test module and database (tests use their own
    enterprises)."""
    yield from module_node(request, tmp_path_factory, dns=True)
