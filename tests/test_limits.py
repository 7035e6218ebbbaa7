"""Record limits (idnode/limits.py) on every core write path: single PUTs and bulk registration, on
SQLite and PostgreSQL; the rules themselves without a store; and the settings' checks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from idnode.bulk import BulkRegistrar
from idnode.config import Settings, load_settings
from idnode.core import Core, open_core
from idnode.limits import RecordLimits, value_bytes
from idnode.model.errors import InvalidHandle, InvalidValue
from idnode.model.identifier import MAX_HANDLE_BYTES, Identifier
from idnode.model.record import Record
from idnode.model.values import HandleValue
from tests.test_registry import Firm, onboard, stored

LIMITS = {"max_handle_bytes": 30, "max_values_per_record": 3, "max_value_bytes": 100}


def value(index: int, data: Any, vtype: str = "URL") -> HandleValue:
    return HandleValue.from_json({"index": index, "type": vtype, "data": data})


@pytest.fixture
def limited(tmp_path: Path, db_url: str) -> Settings:
    return load_settings({"data_dir": tmp_path / "data", "db": db_url or None, **LIMITS}, environ={})


@pytest.fixture
async def core(limited: Settings) -> AsyncIterator[Core]:
    async with open_core(limited) as opened:
        yield opened


@pytest.fixture
async def firm(core: Core) -> Firm:
    return await onboard(core, 1)


async def test_a_write_over_a_limit_is_refused_and_changes_nothing(core: Core, firm: Firm) -> None:
    registry, handle = core.registry, firm.handle("P-1")  # "88.999.1001/P-1": 15 bytes
    # Two values and the default HS_ADMIN the node adds: exactly the three allowed.
    await registry.put_record(firm.admin, handle, [value(1, "https://a.example"), value(2, "x" * 100)])
    before = await stored(core, handle)
    with pytest.raises(InvalidValue, match="would hold 4 values; this node keeps at most 3"):
        await registry.put_record(firm.admin, handle, [value(3, "https://c.example")], indexes=[3])
    with pytest.raises(InvalidValue, match=r"Value 2 \(URL\) holds 101 bytes"):
        await registry.put_record(firm.admin, handle, [value(2, "x" * 101)], indexes=[2])
    long = firm.handle("P-" + "9" * 17)  # 31 bytes
    with pytest.raises(InvalidHandle, match="31 bytes long"):
        await registry.put_record(firm.admin, long, [value(1, "https://a.example")])
    assert await stored(core, handle) == before
    assert await stored(core, long) is None
    # Within the limits everything still goes: a replace of a value, a handle of exactly 30 bytes.
    await registry.put_record(firm.admin, handle, [value(2, "y" * 100)], indexes=[2])
    await registry.put_record(firm.admin, firm.handle("P-" + "9" * 16), [value(1, "https://a.example")])


async def test_bulk_registration_lists_rows_over_a_limit_and_writes_the_rest(core: Core, firm: Firm) -> None:
    bulk = BulkRegistrar(core.registry)
    items: list[tuple[str, list[Any]]] = [
        (f"{firm.prefix}/ok", [value(1, "https://a.example")]),
        (f"{firm.prefix}/big", [value(1, "z" * 101)]),
        (f"{firm.prefix}/many", [value(n, f"https://{n}.example") for n in range(1, 4)]),  # + HS_ADMIN
        (f"{firm.prefix}/{'L' * 20}", [value(1, "https://a.example")]),
    ]
    result = await bulk.register(firm.admin, items)
    assert result.created == 1
    refused = {f.handle.rpartition("/")[2]: f.response_code for f in result.failures}
    assert refused == {"big": 202, "many": 202, "L" * 20: 102}
    assert await stored(core, firm.handle("big")) is None


def record(*values: HandleValue) -> Record:
    return Record(Identifier.parse("88.999.1001/x"), Record.sorted_values(values))


def test_limits_apply_to_what_a_write_brings_in() -> None:
    limits = RecordLimits(max_handle_bytes=320, max_values_per_record=2, max_value_bytes=10)
    big = value(1, "b" * 50)
    over = record(big, value(2, "c"), value(3, "d"))  # stored before the limits were lowered
    # Keeping an oversized value, or shrinking a record that is over the count, is allowed ...
    assert limits.problem(over, record(big, value(2, "c"))) is None
    assert limits.problem(over, record(big, value(2, "c2"), value(3, "d"))) is None
    # ... growing it, or bringing in an oversized value, is not.
    assert isinstance(
        limits.problem(over, record(big, value(2, "c"), value(3, "d"), value(4, "e"))), InvalidValue
    )
    assert isinstance(limits.problem(over, record(value(1, "b" * 11))), InvalidValue)
    # The node's signature (index 400) is not counted.
    signature = value(400, "token", "HS_SIGNATURE")
    assert limits.problem(None, record(value(1, "a"), value(2, "b"), signature)) is None


def test_value_size_is_the_data_as_stored() -> None:
    assert value_bytes(value(1, "盐城")) == 6  # UTF-8
    assert value_bytes(value(1, {"format": "hex", "value": "00ff"})) == 4  # the hex text
    admin = {
        "format": "admin",
        "value": {"handle": "88.999.1001/ADMIN", "index": 300, "permissions": "1" * 12},
    }
    assert value_bytes(value(100, admin, "HS_ADMIN")) == len(
        '{"handle":"88.999.1001/ADMIN","index":300,"permissions":"111111111111"}'
    )


@pytest.mark.parametrize(
    ("setting", "raw"),
    [
        ("max_handle_bytes", "0"),
        ("max_handle_bytes", str(MAX_HANDLE_BYTES + 1)),
        ("max_values_per_record", "0"),
        ("max_value_bytes", "-1"),
        ("max_body_bytes", "0"),
        ("header_timeout_seconds", "0"),
        ("rate_limit_writes", "-1"),
        ("trusted_proxies", "not-an-address"),
        ("tls_cert", "/etc/cert.pem"),  # without tls_key
    ],
)
def test_senseless_limits_are_refused_at_start(tmp_path: Path, setting: str, raw: str) -> None:
    with pytest.raises(ValueError):
        load_settings({"data_dir": tmp_path}, environ={f"IDNODE_{setting.upper()}": raw})


def test_limit_defaults_and_environment() -> None:
    settings = load_settings(
        {}, environ={"IDNODE_RATE_LIMIT_RESOLVES": "0", "IDNODE_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8"}
    )
    assert settings.rate_limit_resolves == 0
    assert [str(n) for n in settings.trusted_proxy_networks] == ["127.0.0.1/32", "10.0.0.0/8"]
    assert settings.max_handle_bytes == MAX_HANDLE_BYTES == 320
    assert settings.require_tls_for_credentials and settings.tls_cert is None


def test_serve_flags_set_the_limits(tmp_path: Path) -> None:
    from idnode.cli import _parser, _settings

    flags = "--max-body-bytes 1024 --rate-limit-resolves 0 --rate-limit-writes 2.5"
    flags += " --trusted-proxies 127.0.0.1,::1 --header-timeout 3 --body-timeout 4 --shutdown-timeout 5"
    flags += " --tls-cert c.pem --tls-key k.pem"
    args = _parser().parse_args(["serve", "--data-dir", str(tmp_path), *flags.split()])
    settings = _settings(args)
    assert (settings.max_body_bytes, settings.rate_limit_resolves, settings.rate_limit_writes) == (
        1024,
        0,
        2.5,
    )
    assert settings.trusted_proxies == ("127.0.0.1", "::1")
    assert (settings.header_timeout_seconds, settings.body_timeout_seconds) == (3, 4)
    assert settings.shutdown_timeout_seconds == 5
    assert (settings.tls_cert, settings.tls_key) == (Path("c.pem"), Path("k.pem"))
    assert settings.base_url == "https://127.0.0.1:8000"
