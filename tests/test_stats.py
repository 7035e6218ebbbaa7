"""Registration statistics through the core, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from idnode.config import load_settings
from idnode.core import Core, open_core
from idnode.counting import ResolutionCounter
from idnode.model.enterprise import EnterpriseDraft
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
