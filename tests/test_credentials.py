"""Secret hashing and verification (idnode/credentials.py)."""

from __future__ import annotations

import base64

import pytest

from idnode.credentials import (
    PREFIX,
    SCRYPT_N,
    SCRYPT_P,
    SCRYPT_R,
    SecretVerifier,
    hash_secret,
    is_hashed,
    new_secret,
)

SECRET = "correct horse battery staple 电池"


@pytest.fixture(scope="module")
def stored() -> str:
    """One hash shared by the module (scrypt is deliberately slow)."""
    return hash_secret(SECRET)


def test_hash_format(stored: str) -> None:
    assert stored.startswith("scrypt$")
    assert is_hashed(stored)
    tag, n, r, p, salt, digest = stored.split("$")
    assert tag + "$" == PREFIX
    assert (int(n), int(r), int(p)) == (SCRYPT_N, SCRYPT_R, SCRYPT_P)
    assert len(base64.b64decode(salt, validate=True)) == 16
    assert len(base64.b64decode(digest, validate=True)) == 32


def test_hash_never_contains_the_secret(stored: str) -> None:
    assert SECRET not in stored
    for word in SECRET.split():
        assert word not in stored
    assert base64.b64encode(SECRET.encode()).decode() not in stored


def test_two_hashes_of_one_secret_differ(stored: str) -> None:
    again = hash_secret(SECRET)
    assert again != stored
    assert again.split("$")[4] != stored.split("$")[4]  # different salt
    verifier = SecretVerifier()
    assert verifier.verify(again, SECRET)
    assert verifier.verify(stored, SECRET)


def test_verify_right_and_wrong_secret(stored: str) -> None:
    verifier = SecretVerifier()
    assert verifier.verify(stored, SECRET) is True
    assert verifier.verify(stored, SECRET + " ") is False
    assert verifier.verify(stored, SECRET.upper()) is False
    assert verifier.verify(stored, "") is False


def test_remembered_success_does_not_admit_another_secret(stored: str) -> None:
    verifier = SecretVerifier()
    assert verifier.verify(stored, SECRET)
    assert verifier.verify(stored, SECRET)  # served from the verified cache
    assert not verifier.verify(stored, "wrong")
    assert not SecretVerifier().verify(hash_secret("other"), SECRET)


def test_verified_cache_never_holds_the_secret(stored: str) -> None:
    verifier = SecretVerifier()
    assert verifier.verify(stored, SECRET)
    remembered = list(verifier._verified)
    assert len(remembered) == 1
    assert SECRET.encode() not in remembered[0]


def test_empty_secret_can_be_hashed_and_verified() -> None:
    stored = hash_secret("")
    assert SecretVerifier().verify(stored, "")
    assert not SecretVerifier().verify(stored, "x")


@pytest.mark.parametrize(
    "malformed",
    [
        "",
        "plaintext-secret",
        "scrypt$",
        "scrypt$16384$8$1$c2FsdA==",  # too few fields
        "scrypt$16384$8$1$c2FsdA==$AAAA$extra",  # too many fields
        "scrypt$abc$8$1$c2FsdA==$AAAA",  # n not a number
        "scrypt$3$8$1$c2FsdA==$AAAA",  # n not a power of two
        "scrypt$16384$0$1$c2FsdA==$AAAA",  # r out of range
        "scrypt$16384$8$1$é$AAAA",  # salt not ASCII
    ],
)
def test_verify_malformed_stored_string_is_false(malformed: str) -> None:
    assert SecretVerifier().verify(malformed, SECRET) is False


@pytest.mark.parametrize("bad_digest", ["abc", "é"])
def test_verify_malformed_digest_is_false(stored: str, bad_digest: str) -> None:
    malformed = stored.rsplit("$", 1)[0] + "$" + bad_digest
    assert SecretVerifier().verify(malformed, SECRET) is False


def test_verify_is_false_for_a_truncated_digest(stored: str) -> None:
    head, digest = stored.rsplit("$", 1)
    shorter = base64.b64encode(base64.b64decode(digest)[:16]).decode()
    assert SecretVerifier().verify(f"{head}${shorter}", SECRET) is False


def test_new_secret_is_random_and_url_safe() -> None:
    secrets = {new_secret() for _ in range(20)}
    assert len(secrets) == 20
    for secret in secrets:
        assert len(secret) >= 32
        assert set(secret) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert not is_hashed(new_secret())
