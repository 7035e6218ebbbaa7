"""Registration statistics through the core, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from idnode.config import load_settings
from idnode.core import Core, open_core
from idnode.counting import ResolutionCounter
from idnode.model.enterprise import EnterpriseDraft
from idnode.model.errors import ProtocolError
from idnode.sample import make_uscc
from idnode.storage.repository import today


async def register(core: Core, serial: int, days_ago: int) -> None:
    draft = EnterpriseDraft.from_json(
        {
            "name": f"盐城统计企业{serial}有限公司",
            "uscc": make_uscc(serial),
            "district": "东台市",
            "industry": "电气机械和器材制造业",
            "registered_on": (today() - timedelta(days=days_ago)).isoformat(),
        },
        core.settings.districts,
    )
    await core.registry.add_enterprise(core.local_operator, draft)


async def test_target_progress_counts_registrations_by_day(core: Core) -> None:
    for serial, days_ago in enumerate([0, 10, 10, 45, 200], start=1):
        await register(core, serial, days_ago)
    progress = await core.stats.target_progress()
    assert progress["registered"] == 5 and progress["target"] == 3500
    assert progress["progress"] == round(5 / 3500, 4)
    assert progress["windows"]["30"]["new"] == 3 and progress["windows"]["90"]["new"] == 4
    linear = progress["windows"]["30"]["linear"]
    assert linear["per_day"] == pytest.approx(3 / 30, abs=1e-3)
    expected = today() + timedelta(days=-(-(3500 - 5) * 30 // 3))  # ceil((target - n) / rate)
    assert linear["reaches_target_on"] == expected.isoformat()
    assert progress["deadline"] is None and progress["needed_per_month"] is None


async def test_deadline_from_settings(tmp_path) -> None:  # type: ignore[no-untyped-def]
    deadline = today() + timedelta(days=365)
    settings = load_settings({"data_dir": tmp_path, "target_deadline": deadline.isoformat()}, environ={})
    async with open_core(settings) as core:
        await register(core, 1, 0)
        progress = await core.stats.target_progress()
    assert progress["deadline"] == deadline.isoformat() and not progress["deadline_passed"]
    assert progress["needed_per_month"] == pytest.approx(3499 / 365 * 365.25 / 12, abs=0.1)
    assert progress["windows"]["90"]["linear"]["by_deadline"] is False
    with pytest.raises(ValueError, match="target_deadline"):
        load_settings({"data_dir": tmp_path, "target_deadline": "soon"}, environ={})


async def test_resolution_counts_add_up_across_flushes_and_counters(core: Core) -> None:
    first, second = ResolutionCounter(), ResolutionCounter()  # e.g. two serving processes
    for _ in range(3):
        first.count("88.999.1001")
    first.count("88.999.1002")
    second.count("88.999.1001")
    await first.flush(core.repository)
    await second.flush(core.repository)
    first.count("88.999.1001")
    await first.flush(core.repository)
    await first.flush(core.repository)  # nothing new: no change
    assert await core.repository.resolution_totals(today()) == (6, 6)
    assert await core.repository.resolution_totals(today() - timedelta(days=1)) == (6, 0)


async def test_resolver_counts_found_handles_only(tmp_path) -> None:  # type: ignore[no-untyped-def]
    async with open_core(load_settings({"data_dir": tmp_path}, environ={})) as core:
        await register(core, 1, 0)
        handle = "0.NA/88.999.1001"  # the enterprise's prefix handle exists from onboarding
        assert core.resolver.counter is not None
        await core.resolver.respond(handle, [], "")  # miss: from the store
        for _ in range(2):
            assert core.resolver.cached(handle, "") is not None  # hits
        await core.resolver.respond("88.999.1001/ABSENT", [], "")
        assert core.resolver.counter.counts == {"88.999.1001": 3}
        await core.resolver.counter.flush(core.repository)
        assert (await core.stats.summary())["resolutions"] == {"total": 3, "today": 3}


async def independent_counts(core: Core, by: str) -> dict[str, tuple[int, int, int]]:
    """(enterprises, identifiers, enterprises without identifiers) per ``by``, counted from the raw
    tables without the maintained counters."""
    from sqlalchemy import text

    query = text(
        f"SELECT e.{by}, e.prefix, COUNT(h.handle) FROM enterprises e LEFT JOIN handles h"
        f" ON h.prefix = e.prefix AND h.handle <> e.prefix || '/ADMIN' GROUP BY e.{by}, e.prefix"
    )
    async with core.repository.engines.reader.connect() as conn:
        rows = (await conn.execute(query)).all()
    out: dict[str, tuple[int, int, int]] = {}
    for name, _, count in rows:
        firms, identifiers, unused = out.get(name, (0, 0, 0))
        out[name] = (firms + 1, identifiers + count, unused + (count == 0))
    return out


async def test_breakdowns_match_an_independent_count(core: Core) -> None:
    import random

    from idnode.model.identifier import Identifier
    from idnode.model.permissions import Principal
    from idnode.model.values import HandleValue

    rng = random.Random(5)
    layout = [("东台市", "电气机械和器材制造业"), ("东台市", "通用设备制造业"), ("盐都区", "通用设备制造业")]
    prefixes = []
    for serial in range(1, 10):
        district, industry = layout[serial % 3]
        draft = EnterpriseDraft.from_json(
            {
                "name": f"盐城核对企业{serial}",
                "uscc": make_uscc(serial),
                "district": district,
                "industry": industry,
                "registered_on": (today() - timedelta(days=serial * 20)).isoformat(),
            },
            core.settings.districts,
        )
        enterprise, _ = await core.registry.add_enterprise(core.local_operator, draft)
        prefixes.append(enterprise.prefix)
    resolved: dict[str, int] = {}
    for prefix in prefixes:
        admin = Principal(f"{prefix}/ADMIN", 300)
        count = rng.choice([0, 0, 1, 3, 7])
        items = [
            (f"{prefix}/P-{n}", [{"index": 1, "type": "URL", "data": f"https://x/{n}"}]) for n in range(count)
        ]
        await core.bulk.register(admin, items)
        if count:
            await core.registry.put_record(
                admin, Identifier.parse(f"{prefix}/SINGLE"), [HandleValue.from_json(items[0][1][0])]
            )
            await core.registry.delete(admin, Identifier.parse(f"{prefix}/P-0"))
            for _ in range(rng.randrange(1, 5)):
                await core.resolver.respond(f"{prefix}/SINGLE", [], "")
                resolved[prefix] = resolved.get(prefix, 0) + 1
    assert core.resolver.counter is not None
    await core.resolver.counter.flush(core.repository)

    for by, rows in (("district", await core.stats.districts()), ("industry", await core.stats.industries())):
        expected = await independent_counts(core, by)
        got = {
            r["name"]: (r["enterprises"], r["identifiers"], r["without_identifiers"])
            for r in rows
            if r["enterprises"]
        }
        assert got == expected
    districts = {r["name"]: r for r in await core.stats.districts()}
    assert set(core.settings.districts) <= set(districts)  # every configured district, with zeros
    assert districts["射阳县"]["enterprises"] == 0
    assert sum(r["resolutions"] for r in districts.values()) == sum(resolved.values())
    summary = await core.stats.summary()
    assert summary["identifiers"] == sum(v[1] for v in (await independent_counts(core, "district")).values())

    lists = await core.stats.enterprises(limit=20)
    unused = {r["prefix"] for r in lists["without_identifiers"]}
    assert unused == {p for p in prefixes if p not in resolved}
    assert lists["by_resolutions"][0]["resolutions"] == max(resolved.values())

    months = await core.stats.timeseries("enterprises", "month", today() - timedelta(days=400), today())
    assert sum(p["value"] for p in months) == len(prefixes)
    days = await core.stats.timeseries("identifiers", "day", today(), today())
    assert days == [
        {"period": today().isoformat(), "value": summary["identifiers"] + sum(1 for p in resolved)}
    ]
    with pytest.raises(ProtocolError):
        await core.stats.timeseries("bananas", "day", None, None)


async def test_district_quotas(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(
        {"data_dir": tmp_path}, environ={"IDNODE_DISTRICT_QUOTAS": "东台市=4, 盐都区=10"}
    )
    assert settings.district_quotas == {"东台市": 4, "盐都区": 10}
    async with open_core(settings) as core:
        await register(core, 1, 0)  # in 东台市
        rows = {row["name"]: row for row in await core.stats.districts()}
    assert rows["东台市"]["quota"] == 4 and rows["东台市"]["quota_progress"] == 0.25
    assert rows["盐都区"]["quota_progress"] == 0 and rows["射阳县"]["quota"] is None
    with pytest.raises(ValueError, match="not configured"):
        load_settings({"data_dir": tmp_path}, environ={"IDNODE_DISTRICT_QUOTAS": "火星区=1"})
