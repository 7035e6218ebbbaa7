"""Finding the node that holds a prefix (idnode/locator.py), against a small upper node in the test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from idnode.locator import NodeLocation, PrefixLocator, UpperNode, dns_name
from idnode.model.errors import UpstreamUnavailable
from idnode.model.identifier import is_within, parent_prefixes


@dataclass
class Upper:
    """An upper node knowing ``known`` (prefix → node URL), counting the questions it is asked."""

    url: str = ""
    known: dict[str, str] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)
    failing: bool = False
    delay: float = 0.0


@pytest.fixture
async def upper() -> AsyncIterator[Upper]:
    state = Upper()

    async def where(request: web.Request) -> web.Response:
        prefix = request.match_info["prefix"]
        state.asked.append(prefix)
        await asyncio.sleep(state.delay)
        if state.failing:
            return web.json_response({"responseCode": 2, "message": "down"}, status=500)
        if prefix not in state.known:
            return web.json_response({"responseCode": 100, "message": "unknown"}, status=404)
        return web.json_response({"prefix": prefix, "node": {"url": state.known[prefix], "prefix": prefix}})

    app = web.Application()
    app.router.add_get("/api/prefixes/{prefix}", where)
    async with TestServer(app) as server:
        state.url = str(server.make_url("")).rstrip("/")
        yield state


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def test_prefix_helpers() -> None:
    assert parent_prefixes("88.888.1001") == ["88.888.1001", "88.888", "88"]
    assert is_within("88.999.1001", "88.999") and is_within("88.999", "88.999")
    assert not is_within("88.9991", "88.999") and not is_within("88", "88.999")
    assert dns_name("88.888.1001", "idis.example.") == "_handle._tcp.1001.888.88.idis.example."


async def test_asks_the_prefix_then_its_parents_and_remembers(
    upper: Upper, client: aiohttp.ClientSession
) -> None:
    upper.known["88.888"] = "https://b.example/"
    locator = PrefixLocator([UpperNode(upper.url, client)], ttl=60, negative_ttl=60)
    found = await locator.locate("88.888.1001")
    assert found == NodeLocation("88.888", "https://b.example", "88.888", "upper")
    assert upper.asked == ["88.888.1001", "88.888"]
    assert await locator.locate("88.888.1001") == found  # remembered: not asked again
    assert await locator.locate("77.1") is None
    assert await locator.locate("77.1") is None
    assert upper.asked == ["88.888.1001", "88.888", "77.1", "77"]


async def test_answers_expire(upper: Upper, client: aiohttp.ClientSession) -> None:
    locator = PrefixLocator([UpperNode(upper.url, client)], ttl=60, negative_ttl=0.2)
    assert await locator.locate("88.777") is None
    upper.known["88.777"] = "http://c.example"
    assert await locator.locate("88.777") is None  # the negative answer still holds
    await asyncio.sleep(0.3)
    found = await locator.locate("88.777")
    assert found is not None and found.url == "http://c.example"


async def test_failures_are_not_remembered(upper: Upper, client: aiohttp.ClientSession) -> None:
    locator = PrefixLocator([UpperNode(upper.url, client)], ttl=60, negative_ttl=60)
    upper.failing = True
    with pytest.raises(UpstreamUnavailable, match="HTTP 500"):
        await locator.locate("88.888")
    upper.failing = False
    upper.known["88.888"] = "http://b.example"
    assert (await locator.locate("88.888")) is not None


async def test_a_second_source_answers_when_the_first_cannot(
    upper: Upper, client: aiohttp.ClientSession
) -> None:
    upper.known["88.888"] = "http://b.example"
    unreachable = UpperNode("http://127.0.0.1:9", client)
    locator = PrefixLocator([unreachable, UpperNode(upper.url, client)], ttl=60, negative_ttl=60)
    found = await locator.locate("88.888")
    assert found is not None and found.url == "http://b.example"
    locator = PrefixLocator([unreachable, UpperNode(upper.url, client)], ttl=60, negative_ttl=60)
    with pytest.raises(UpstreamUnavailable, match=r"127\.0\.0\.1:9"):
        await locator.locate("77.7")  # the second knows nothing, the first could not say: not "nowhere"


async def test_concurrent_lookups_share_one_question(upper: Upper, client: aiohttp.ClientSession) -> None:
    upper.known["88.888"] = "http://b.example"
    upper.delay = 0.2
    locator = PrefixLocator([UpperNode(upper.url, client)], ttl=60, negative_ttl=60)
    found = await asyncio.gather(*(locator.locate("88.888") for _ in range(10)))
    assert len(set(found)) == 1 and upper.asked == ["88.888"]


async def test_unusable_answers_are_failures(upper: Upper, client: aiohttp.ClientSession) -> None:
    upper.known["88.888"] = "ftp://b.example"
    locator = PrefixLocator([UpperNode(upper.url, client)], ttl=60, negative_ttl=60)
    with pytest.raises(UpstreamUnavailable, match="no usable answer"):
        await locator.locate("88.888")
