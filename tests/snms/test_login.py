"""SNMS usernames and the day-salted password (no server)."""

from __future__ import annotations

from datetime import UTC, datetime

from idnode.seckeys import sha256_hex
from idnode.snms.login import credential_of, day_salted, login_days


def test_the_documented_day_salted_example() -> None:
    # docs/dev-tools/snms/v3/identity-auth.md: sha256(sha256(password) + "2019-08-15"); the example's
    # digest is that of password "123456" (its note says "12345", which gives another digest).
    expected = "58e2c92c46485fdbc35fdcd0814d6c0f000cad5aa156848ca5edaf29406b7661"
    assert day_salted(sha256_hex("123456"), "2019-08-15") == expected


def test_usernames_name_the_enterprise_admin_credential() -> None:
    admin = ("88.999.1001/ADMIN", 300)
    assert credential_of("88.999.1001") == admin
    assert credential_of(" 88.999.1001/ADMIN ") == admin
    assert credential_of("300:88.999.1001/ADMIN") == admin
    assert credential_of("300%3A88.999.1001/ADMIN") == admin
    assert credential_of("301:88.999.1001/ops") == ("88.999.1001/ops", 301)
    assert credential_of("300:0.NA/88.999") == ("0.NA/88.999", 300)


def test_a_day_salted_password_may_use_the_china_or_the_utc_date() -> None:
    assert login_days(datetime(2026, 11, 24, 17, 0, tzinfo=UTC)) == {"2026-11-25", "2026-11-24"}
    assert login_days(datetime(2026, 11, 24, 3, 0, tzinfo=UTC)) == {"2026-11-24"}
