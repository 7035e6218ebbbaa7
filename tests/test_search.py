"""Reverse lookup through the core: the index the Committer keeps, matching rules and visibility,
on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import delete

from idnode.core import Core
from idnode.derived import VERBATIM_LENGTH, index_form
from idnode.model.errors import ProtocolError
from idnode.model.permissions import Principal
from idnode.reindex import reindex
from idnode.search import SearchTerm
from idnode.storage.tables import search_entries
from tests.conftest import run_cli
from tests.test_registry import Firm, h, onboard, url, val


async def found(core: Core, principal: Principal | None, *terms: tuple[str, str], **kw: object) -> list[str]:
    page = await core.searcher.search(principal, [SearchTerm.parse(k, v) for k, v in terms], **kw)  # type: ignore[arg-type]
    assert page.total >= len(page.handles)
    return page.handles


@pytest.fixture
async def firms(core: Core) -> tuple[Firm, Firm]:
    return await onboard(core, 1), await onboard(core, 2)


@given(st.text(max_size=400))
def test_index_form_is_short_and_keeps_the_beginning(text: str) -> None:
    form = index_form(text)
    assert len(form) <= 255
    assert "\x00" not in form  # PostgreSQL text cannot hold NUL
    if len(text) <= VERBATIM_LENGTH and "\x00" not in text:
        assert form == text
    else:
        assert form.startswith(text[:VERBATIM_LENGTH].replace("\x00", "\ufffd"))


def test_a_nul_and_a_replacement_character_have_different_forms() -> None:
    assert index_form("a\x00b") != index_form("a\ufffdb")
    assert index_form("a\x00b") != index_form("a\x00c")


def test_long_values_that_share_a_beginning_have_different_forms() -> None:
    base = "https://example.com/" + "x" * 300
    assert index_form(base + "a") != index_form(base + "b")
    assert len(index_form(base + "a")) == 255


@pytest.mark.parametrize("pattern", ["", "*", "a*b", "*abc", "x" * (VERBATIM_LENGTH + 1) + "*"])
def test_patterns_the_index_cannot_answer_are_refused(pattern: str) -> None:
    with pytest.raises(ProtocolError):
        SearchTerm.parse("URL", pattern)


async def test_exact_and_prefix_search_follow_every_write(core: Core, firms: tuple[Firm, Firm]) -> None:
    firm, _ = firms
    a, b = firm.handle("PUMP-1"), firm.handle("PUMP-2")
    await core.registry.put_record(firm.admin, a, [url(1, "https://m.example.com/p/1")])
    await core.registry.put_record(firm.admin, b, [url(1, "https://m.example.com/p/2")])
    assert await found(core, None, ("URL", "https://m.example.com/p/1")) == [str(a)]
    assert await found(core, None, ("URL", "https://m.example.com/p/*")) == [str(a), str(b)]
    assert await found(core, None, ("URL", "https://M.example.com/p/*")) == []  # case matters
    assert await found(core, None, ("EMAIL", "https://m.example.com/p/1")) == []  # so does the type

    await core.registry.put_record(firm.admin, a, [url(1, "https://m.example.com/q/1")])
    assert await found(core, None, ("URL", "https://m.example.com/p/1")) == []
    assert await found(core, None, ("URL", "https://m.example.com/q/1")) == [str(a)]

    await core.registry.delete(firm.admin, b)
    assert await found(core, None, ("URL", "https://m.example.com/*")) == [str(a)]


async def test_wildcard_characters_of_sql_are_plain_text(core: Core, firms: tuple[Firm, Firm]) -> None:
    firm, _ = firms
    await core.registry.put_record(firm.admin, firm.handle("A"), [url(1, "https://e.example/a_b%c")])
    await core.registry.put_record(firm.admin, firm.handle("B"), [url(1, "https://e.example/aXbYc")])
    assert await found(core, None, ("URL", "https://e.example/a_b%*")) == [str(firm.handle("A"))]


async def test_long_values_are_found_exactly_and_by_their_beginning(
    core: Core, firms: tuple[Firm, Firm]
) -> None:
    firm, _ = firms
    long_url = "https://erp.example.com/item?" + "&".join(f"k{i}=v{i}" for i in range(60))
    assert len(long_url) > VERBATIM_LENGTH
    await core.registry.put_record(firm.admin, firm.handle("LONG"), [url(1, long_url)])
    assert await found(core, None, ("URL", long_url)) == [str(firm.handle("LONG"))]
    assert await found(core, None, ("URL", long_url[:-1])) == []
    assert await found(core, None, ("URL", long_url[:50] + "*")) == [str(firm.handle("LONG"))]


async def test_callers_find_only_what_they_may_read(core: Core, firms: tuple[Firm, Firm]) -> None:
    firm, other = firms
    hidden = val(2, "EMAIL", "qa@firm.example", permissions="1100")  # admin read only
    await core.registry.put_record(firm.admin, firm.handle("P"), [url(1, "https://x.example/p"), hidden])
    term = ("EMAIL", "qa@firm.example")
    assert await found(core, None, term) == []
    assert await found(core, other.admin, term) == []
    assert await found(core, firm.admin, term) == [str(firm.handle("P"))]
    assert await found(core, core.local_operator, term) == [str(firm.handle("P"))]
    assert await found(core, None, ("URL", "https://x.example/p")) == [str(firm.handle("P"))]


async def test_terms_combine_and_pages_follow_handle_order(core: Core, firms: tuple[Firm, Firm]) -> None:
    firm, other = firms
    for n in range(5):
        values = [url(1, "https://shared.example/"), val(2, "EMAIL", f"user{n % 2}@example.com")]
        await core.registry.put_record(firm.admin, firm.handle(f"S{n}"), values)
    await core.registry.put_record(other.admin, other.handle("S9"), [url(1, "https://shared.example/")])
    both = await found(core, None, ("URL", "https://shared.example/"), ("EMAIL", "user1@example.com"))
    assert both == [str(firm.handle("S1")), str(firm.handle("S3"))]

    page = await core.searcher.search(
        None, [SearchTerm.parse("URL", "https://shared.example/")], offset=2, limit=2
    )
    assert page.total == 6 and page.handles == [str(firm.handle("S2")), str(firm.handle("S3"))]
    only_other = await found(core, None, ("URL", "https://shared.example/"), prefix=other.prefix)
    assert only_other == [str(other.handle("S9"))]


async def test_a_value_repeated_in_a_record_is_one_entry(core: Core, firms: tuple[Firm, Firm]) -> None:
    firm, _ = firms
    same = "https://twice.example/"
    await core.registry.put_record(firm.admin, h(f"{firm.prefix}/T"), [url(1, same), url(2, same)])
    page = await core.searcher.search(None, [SearchTerm.parse("URL", same)])
    assert (page.total, page.handles) == (1, [f"{firm.prefix}/T"])


async def test_reindex_rebuilds_entries_of_records_stored_before_the_index(
    core: Core, firms: tuple[Firm, Firm]
) -> None:
    firm, _ = firms
    for n in range(3):
        await core.registry.put_record(
            firm.admin, firm.handle(f"OLD-{n}"), [url(1, f"https://old.example/{n}")]
        )
    async with core.repository.transaction() as tx:  # as a node upgraded past migration 0005 has them
        await tx.conn.execute(delete(search_entries))
    assert await found(core, None, ("URL", "https://old.example/*")) == []

    seen: list[tuple[int, int]] = []
    conflicts = await reindex(core.repository, core.registry.committer, lambda *p: seen.append(p))
    assert conflicts == []
    assert await found(core, None, ("URL", "https://old.example/*")) == [
        str(firm.handle(f"OLD-{n}")) for n in range(3)
    ]
    assert seen and seen[-1][0] == seen[-1][1] == await core.repository.count_records()
    assert await reindex(core.repository, core.registry.committer) == []  # again: same entries, no error
    assert len(await found(core, None, ("URL", "https://old.example/*"))) == 3


def test_reindex_command(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    run_cli("init", *data)
    assert orjson.loads(run_cli("reindex", *data, "--json").stdout) == {"gs1_conflicts": []}


async def test_value_types_match_in_any_case_and_field_names_exactly(
    core: Core, firms: tuple[Firm, Firm]
) -> None:
    firm, _ = firms
    await core.registry.put_record(firm.admin, firm.handle("CASE"), [val(1, "url", "https://case.example/")])
    for spelled in ("URL", "url", "Url"):
        page = await core.searcher.search(None, [SearchTerm.of_type(spelled, "https://case.example/")])
        assert page.handles == [str(firm.handle("CASE"))], spelled
    assert (
        await core.searcher.search(None, [SearchTerm.of_field("url", "https://case.example/")])
    ).total == 0
