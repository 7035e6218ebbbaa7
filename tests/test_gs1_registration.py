"""GS1 keys on the write paths (registry, bulk, Committer) and the GS1 resolver over them, on SQLite
and PostgreSQL: one identifier per key, keys that move and vanish with their records."""

from __future__ import annotations

import asyncio

import pytest

from idnode.core import Core
from idnode.model.errors import Gs1KeyNotFound, InvalidGs1Key, ValueAlreadyExists
from idnode.model.identifier import Identifier
from idnode.model.permissions import Principal
from idnode.model.record import Record
from idnode.model.values import HandleValue
from tests.test_bulk import onboard

GTIN = "09506000134352"


def values(href: str, *keys: str) -> list[HandleValue]:
    url = HandleValue.from_json({"index": 1, "type": "URL", "data": href})
    return [
        url,
        *(HandleValue.from_json({"index": 4 + i, "type": "GS1", "data": k}) for i, k in enumerate(keys)),
    ]


def handle(principal: Principal, suffix: str) -> Identifier:
    return Identifier.parse(f"{principal.prefix}/{suffix}")


async def test_keys_are_mapped_moved_and_dropped_with_their_record(core: Core) -> None:
    firm = await onboard(core, 501)
    rice = handle(firm, "RICE")
    # Two spellings of one key and a second key: two rows.
    keys = (f"(01){GTIN}(10)L1", f"https://id.example/01/{GTIN[1:]}/10/L1?17=270100", f"(01){GTIN}(21)S9")
    await core.registry.put_record(firm, rice, values("https://e.example/rice", *keys))
    paths = [f"/01/{GTIN}/10/L1", f"/01/{GTIN}/21/S9"]
    assert await core.repository.gs1_handles(paths) == dict.fromkeys(paths, str(rice))

    await core.registry.put_record(firm, rice, values("https://e.example/rice", f"(01){GTIN}(10)L2"))
    assert await core.repository.gs1_handles([*paths, f"/01/{GTIN}/10/L2"]) == {
        f"/01/{GTIN}/10/L2": str(rice)
    }
    await core.registry.delete(firm, rice)
    assert await core.repository.gs1_handles([f"/01/{GTIN}/10/L2"]) == {}


async def test_a_key_mapped_elsewhere_is_refused_and_nothing_stored(core: Core) -> None:
    firm, other = await onboard(core, 502), await onboard(core, 503)
    first, second = handle(firm, "A"), handle(other, "B")
    await core.registry.put_record(firm, first, values("https://e.example/a", f"(01){GTIN}"))
    with pytest.raises(ValueAlreadyExists) as caught:
        await core.registry.put_record(other, second, values("https://e.example/b", f"/01/{GTIN}"))
    assert caught.value.message == f"GS1 key /01/{GTIN} is already mapped to {first}."
    assert await core.repository.get_record(second) is None
    # A change that would take the key is refused too, and leaves the record as it was.
    await core.registry.put_record(other, second, values("https://e.example/b"))
    with pytest.raises(ValueAlreadyExists):
        await core.registry.put_record(other, second, values("https://e.example/b2", f"(01){GTIN}"))
    stored = await core.repository.get_record(second)
    assert stored is not None and [v.data for v in stored.values if v.index == 1] == ["https://e.example/b"]
    with pytest.raises(InvalidGs1Key):
        await core.registry.put_record(other, second, values("https://e.example/b", f"(01){GTIN[:-1]}3"))


async def test_a_concurrent_claim_names_the_winner(core: Core) -> None:
    """The loser of a race for a key gets the same clear error, not a retry or a server error (on
    PostgreSQL its insert waits for the winner's commit and then hits the unique key)."""
    firm = await onboard(core, 504)
    winner, loser = handle(firm, "WIN"), handle(firm, "LOSE")
    await core.registry.put_record(firm, loser, values("https://e.example/l"))
    committer = core.registry.committer
    async with core.repository.transaction() as tx:
        await committer.create(
            tx, "test", Record(winner, tuple(values("https://e.example/w", f"(01){GTIN}")), 1)
        )
        claim = asyncio.create_task(
            core.registry.put_record(firm, loser, values("https://e.example/l", f"(01){GTIN}"))
        )
        await asyncio.sleep(0.5)  # the claim checks before the winner commits, then waits for it
    with pytest.raises(ValueAlreadyExists, match=f"already mapped to {winner}"):
        await claim


async def test_bulk_reports_each_claim_of_a_taken_key(core: Core) -> None:
    firm = await onboard(core, 505)
    await core.registry.put_record(firm, handle(firm, "OLD"), values("https://e.example/old", f"(01){GTIN}"))
    items = [
        (handle(firm, "N0"), values("https://e.example/0", f"(01){GTIN}(21)0")),
        (handle(firm, "N1"), values("https://e.example/1", f"(01){GTIN}")),  # stored already
        (handle(firm, "N2"), values("https://e.example/2", f"(01){GTIN}(21)0")),  # N0 has it
        (handle(firm, "N3"), values("https://e.example/3", f"(01){GTIN}(21)3")),
        (handle(firm, "N4"), values("https://e.example/4", f"(01){GTIN}(21)4X", "(01)1")),
    ]
    result = await core.bulk.register(firm, items)
    assert result.created == 2 and result.failed == 3
    failures = {f.index: (f.response_code, f.message) for f in result.failures}
    assert failures[1] == (201, f"GS1 key /01/{GTIN} is already mapped to {handle(firm, 'OLD')}.")
    assert failures[2] == (201, f"GS1 key /01/{GTIN}/21/0 is already mapped to {handle(firm, 'N0')}.")
    assert failures[4][0] == 202 and failures[4][1].startswith("Value 5 (GS1): ")
    owners = await core.repository.gs1_handles([f"/01/{GTIN}/21/0", f"/01/{GTIN}/21/3", f"/01/{GTIN}/21/4X"])
    assert owners == {
        f"/01/{GTIN}/21/0": str(handle(firm, "N0")),
        f"/01/{GTIN}/21/3": str(handle(firm, "N3")),
    }
    assert await core.repository.get_record(handle(firm, "N2")) is None


async def test_resolution_walks_up_and_counts(core: Core) -> None:
    firm = await onboard(core, 506)
    await core.registry.put_record(firm, handle(firm, "G"), values("https://e.example/g", f"(01){GTIN}"))
    await core.registry.put_record(firm, handle(firm, "S"), values("https://e.example/s", f"(01){GTIN}(21)7"))
    resolution = await core.gs1.resolve(f"/01/{GTIN}/10/ANY/21/7", "17=270101")
    assert [level.path for level in resolution.levels] == [f"/01/{GTIN}/21/7", f"/01/{GTIN}"]
    assert resolution.target().href == "https://e.example/s"
    with pytest.raises(Gs1KeyNotFound):
        await core.gs1.resolve("/01/09520123456788", "")
    assert core.gs1.counter is not None and core.gs1.counter is core.resolver.counter
