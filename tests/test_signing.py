"""Node keys, compact JWS, JWK handling and the canonical value encoding (idnode.signing)."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import os
import stat
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from idnode.model.values import HandleValue
from idnode.signing import (
    ED25519,
    ES256,
    HS_PUBKEY,
    HS_SIGNATURE,
    SIGNATURE_INDEX,
    KeyFile,
    SignatureInvalid,
    b64url,
    b64url_decode,
    canonical_value_bytes,
    digest,
    json_value_fields,
    jwk_thumbprint,
    jws_parts,
    jws_sign,
    jws_verify,
    load_public_key,
    public_jwk,
    public_key_from_jwk,
    record_digest,
    signature_token,
    value_digests,
    withheld_indexes,
)
from idnode.verify import Report, verify_record
from tests.model.test_values import valid_value_objects

ALGORITHMS = [ED25519, ES256]
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
PAYLOAD = {"iss": "301:0.NA/88.999", "sub": "88.999.1001/pump-1", "n": 7, "name": "盐城"}

# RFC 8037 appendix A: an Ed25519 key (A.1/A.2), its thumbprint (A.3) and a JWS made with it (A.4).
RFC8037_D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
RFC8037_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
RFC8037_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
RFC8037_JWS = (
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
    ".hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
)


def token_parts(token: str) -> tuple[str, str, str]:
    head, body, signature = token.split(".")
    return head, body, signature


def with_part(token: str, position: int, value: str) -> str:
    parts = list(token_parts(token))
    parts[position] = value
    return ".".join(parts)


def encode(obj: Any) -> str:
    return b64url(orjson.dumps(obj))


@pytest.fixture(params=ALGORITHMS)
def key(request: pytest.FixtureRequest) -> KeyFile:
    return KeyFile.generate(request.param)


# -- JWS -------------------------------------------------------------------------------------------


def test_jws_round_trip(key: KeyFile) -> None:
    token = jws_sign(key.key, PAYLOAD, key.kid)
    head, body, signature = token_parts(token)
    assert "=" not in token and "+" not in token and "/" not in token  # base64url, unpadded
    assert orjson.loads(b64url_decode(head)) == {"alg": key.algorithm, "kid": key.kid}
    assert orjson.loads(b64url_decode(body)) == PAYLOAD
    assert jws_verify(token, key.key.public_key()) == PAYLOAD
    assert jws_parts(token) == ({"alg": key.algorithm, "kid": key.kid}, PAYLOAD)
    assert key.algorithm == {ED25519: "EdDSA", ES256: "ES256"}[key.algorithm]
    assert len(b64url_decode(signature)) == 64


def test_generate_makes_the_requested_key_type() -> None:
    assert isinstance(KeyFile.generate(ED25519).key, ed25519.Ed25519PrivateKey)
    p256 = KeyFile.generate(ES256).key
    assert isinstance(p256, ec.EllipticCurvePrivateKey) and p256.curve.name == "secp256r1"
    assert KeyFile.generate().algorithm == ED25519
    with pytest.raises(ValueError):
        KeyFile.generate("RS256")


def test_es256_signature_is_raw_r_s_not_der() -> None:
    key = KeyFile.generate(ES256)
    token = jws_sign(key.key, PAYLOAD, key.kid)
    head, body, signature = token_parts(token)
    raw = b64url_decode(signature)
    assert len(raw) == 64
    # r || s, each 32 bytes big-endian: re-encoded as DER it verifies with the plain ECDSA API
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    key.key.public_key().verify(der, f"{head}.{body}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
    assert der[0] == 0x30 and der != raw
    # and a DER signature in the JWS (the classic JOSE mistake) is refused
    with pytest.raises(SignatureInvalid):
        jws_verify(with_part(token, 2, b64url(der)), key.key.public_key())


def test_es256_token_made_elsewhere_verifies() -> None:
    """An ES256 JWS assembled by hand (as another JOSE library would) is accepted."""
    key = KeyFile.generate(ES256)
    head, body = encode({"alg": "ES256", "kid": "x"}), encode({"hello": "world"})
    r, s = decode_dss_signature(key.key.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256())))
    token = f"{head}.{body}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
    assert jws_verify(token, key.key.public_key()) == {"hello": "world"}


def test_rfc8037_key_thumbprint_and_signature() -> None:
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X}
    assert jwk_thumbprint(jwk) == RFC8037_THUMBPRINT
    # members beyond the required ones do not change the thumbprint
    assert jwk_thumbprint({**jwk, "kid": "anything", "alg": "EdDSA", "use": "sig"}) == RFC8037_THUMBPRINT
    key = KeyFile(ed25519.Ed25519PrivateKey.from_private_bytes(b64url_decode(RFC8037_D)))
    assert key.public_jwk == jwk
    assert key.kid == RFC8037_THUMBPRINT
    # the appendix A.4 JWS verifies with the key loaded from the JWK
    head, body, signature = token_parts(RFC8037_JWS)
    public = public_key_from_jwk(jwk)
    assert isinstance(public, ed25519.Ed25519PublicKey)
    public.verify(b64url_decode(signature), f"{head}.{body}".encode("ascii"))
    # Ed25519 is deterministic: the same input signed with the RFC key gives the RFC's signature
    assert b64url(key.key.sign(f"{head}.{body}".encode("ascii"))) == signature


def test_ec_thumbprint_is_rfc7638() -> None:
    key = KeyFile.generate(ES256)
    jwk = key.public_jwk
    assert set(jwk) == {"kty", "crv", "x", "y"} and jwk["kty"] == "EC" and jwk["crv"] == "P-256"
    text = f'{{"crv":"P-256","kty":"EC","x":"{jwk["x"]}","y":"{jwk["y"]}"}}'
    expected = b64url(hashlib.sha256(text.encode("ascii")).digest())
    assert jwk_thumbprint(jwk) == expected == key.kid
    assert jwk_thumbprint({**jwk, "kid": "k", "use": "sig"}) == expected


def test_verification_with_another_key_fails(key: KeyFile) -> None:
    token = jws_sign(key.key, PAYLOAD, key.kid)
    other = KeyFile.generate(key.algorithm)
    with pytest.raises(SignatureInvalid):
        jws_verify(token, other.key.public_key())


def test_altered_payload_fails(key: KeyFile) -> None:
    token = jws_sign(key.key, PAYLOAD, key.kid)
    altered = with_part(token, 1, encode({**PAYLOAD, "sub": "88.999.1001/pump-2"}))
    assert jws_parts(altered)[1]["sub"] == "88.999.1001/pump-2"  # well formed, only the content differs
    with pytest.raises(SignatureInvalid):
        jws_verify(altered, key.key.public_key())
    # the same payload, re-encoded differently (key order), is also a different signing input
    reordered = with_part(token, 1, b64url(orjson.dumps(dict(reversed(list(PAYLOAD.items()))))))
    with pytest.raises(SignatureInvalid):
        jws_verify(reordered, key.key.public_key())


def test_altered_header_fails(key: KeyFile) -> None:
    token = jws_sign(key.key, PAYLOAD, key.kid)
    altered = with_part(token, 0, encode({"alg": key.algorithm, "kid": "someone-else"}))
    with pytest.raises(SignatureInvalid):
        jws_verify(altered, key.key.public_key())


def test_altered_signature_fails(key: KeyFile) -> None:
    token = jws_sign(key.key, PAYLOAD, key.kid)
    raw = bytearray(b64url_decode(token_parts(token)[2]))
    for position in (0, 31, 32, 63):
        flipped = bytearray(raw)
        flipped[position] ^= 0x01
        with pytest.raises(SignatureInvalid):
            jws_verify(with_part(token, 2, b64url(bytes(flipped))), key.key.public_key())
    for wrong in (b"", bytes(raw[:63]), bytes(raw) + b"\x00", bytes(64)):
        with pytest.raises(SignatureInvalid):
            jws_verify(with_part(token, 2, b64url(wrong)), key.key.public_key())


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b", "a.b.c.d", "..", "!!.??.**", f"{encode({'alg': 'EdDSA'})}.bm90IGpzb24.AAAA"],
)
def test_malformed_tokens_raise_signature_invalid(token: str) -> None:
    key = KeyFile.generate()
    with pytest.raises(SignatureInvalid):
        jws_verify(token, key.key.public_key())


NON_OBJECTS = [b"[]", b"1", b'"text"', b"null"]


@pytest.mark.parametrize("json_text", NON_OBJECTS)
def test_non_object_header_raises_signature_invalid(json_text: bytes) -> None:
    key = KeyFile.generate()
    token = with_part(jws_sign(key.key, PAYLOAD, key.kid), 0, b64url(json_text))
    with pytest.raises(SignatureInvalid):
        jws_verify(token, key.key.public_key())


@pytest.mark.parametrize("part", [0, 1])
@pytest.mark.parametrize("json_text", NON_OBJECTS)
def test_jws_parts_requires_json_objects(part: int, json_text: bytes) -> None:
    key = KeyFile.generate()
    token = with_part(jws_sign(key.key, PAYLOAD, key.kid), part, b64url(json_text))
    with pytest.raises(SignatureInvalid):
        jws_parts(token)


def test_algorithm_confusion_is_refused() -> None:
    ed, p256 = KeyFile.generate(ED25519), KeyFile.generate(ES256)
    ed_token, ec_token = jws_sign(ed.key, PAYLOAD, ed.kid), jws_sign(p256.key, PAYLOAD, p256.kid)
    # a token is only checked with a key of the algorithm its header names
    with pytest.raises(SignatureInvalid, match="algorithm"):
        jws_verify(ed_token, p256.key.public_key())
    with pytest.raises(SignatureInvalid, match="algorithm"):
        jws_verify(ec_token, ed.key.public_key())
    body = encode(PAYLOAD)
    # a header that lies about the algorithm, signed correctly by the key: still refused
    for alg in ("ES256", "none", "HS256", "EdDSA ", "eddsa", None):
        head = encode({"alg": alg, "kid": ed.kid}) if alg is not None else encode({"kid": ed.kid})
        signature = b64url(ed.key.sign(f"{head}.{body}".encode("ascii")))
        with pytest.raises(SignatureInvalid):
            jws_verify(f"{head}.{body}.{signature}", ed.key.public_key())
    # "none" with an empty signature
    with pytest.raises(SignatureInvalid):
        jws_verify(f"{encode({'alg': 'none'})}.{body}.", ed.key.public_key())
    # HS256 keyed with the public key bytes (the classic RS256/HS256 confusion)
    secret = ed.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    head = encode({"alg": "HS256", "kid": ed.kid})
    mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    with pytest.raises(SignatureInvalid):
        jws_verify(f"{head}.{body}.{b64url(mac)}", ed.key.public_key())


# -- JWKs ------------------------------------------------------------------------------------------


def test_public_key_from_jwk_round_trip(key: KeyFile) -> None:
    jwk = key.public_jwk
    public = public_key_from_jwk(jwk)
    assert public_jwk(public) == jwk
    assert jws_verify(jws_sign(key.key, PAYLOAD, key.kid), public) == PAYLOAD
    # the published form (with kid, alg, use, status ...) loads too
    assert public_jwk(public_key_from_jwk({**jwk, "kid": key.kid, "alg": key.algorithm, "use": "sig"})) == jwk


def _bad_jwks() -> dict[str, dict[str, Any]]:
    ed, p256 = KeyFile.generate(ED25519).public_jwk, KeyFile.generate(ES256).public_jwk
    y = int.from_bytes(b64url_decode(p256["y"]), "big")
    return {
        "rsa": {"kty": "RSA", "n": "AQAB", "e": "AQAB"},
        "no kty": {"crv": "Ed25519", "x": ed["x"]},
        "empty": {},
        "ed25519 without x": {"kty": "OKP", "crv": "Ed25519"},
        "ed25519 short x": {**ed, "x": b64url(bytes(31))},
        "ed25519 long x": {**ed, "x": b64url(bytes(33))},
        "ed25519 x not a string": {**ed, "x": 5},
        "x25519": {**ed, "crv": "X25519"},
        "ed448": {**ed, "crv": "Ed448"},
        "okp under kty EC": {**ed, "kty": "EC"},
        "p256 without y": {k: v for k, v in p256.items() if k != "y"},
        "p256 off the curve": {**p256, "y": b64url((y ^ 1).to_bytes(32, "big"))},
        "p384": {**p256, "crv": "P-384"},
        "secp256k1": {**p256, "crv": "secp256k1"},
        "ec under kty OKP": {**p256, "kty": "OKP"},
    }


@pytest.mark.parametrize("name", list(_bad_jwks()))
def test_public_key_from_jwk_rejects_bad_jwks(name: str) -> None:
    with pytest.raises(SignatureInvalid):
        public_key_from_jwk(_bad_jwks()[name])


# -- canonical value encoding and digests ----------------------------------------------------------


def test_canonical_value_bytes_is_the_documented_encoding() -> None:
    encoded = canonical_value_bytes("string", '盐城 "pump"\n', "1110", "URL")
    expected = '{"data":{"format":"string","value":"盐城 \\"pump\\"\\n"},"permissions":"1110","type":"URL"}'
    assert encoded == expected.encode("utf-8")
    assert "盐城".encode() in encoded and b"\\u" not in encoded  # non-ASCII written as itself
    # keys sorted at every level, whatever order they arrive in; no whitespace between tokens
    admin = {"permissions": "011111110011", "index": 300, "handle": "0.NA/88.999"}
    assert canonical_value_bytes("admin", admin, "1100", "HS_ADMIN") == (
        b'{"data":{"format":"admin","value":{"handle":"0.NA/88.999","index":300,'
        b'"permissions":"011111110011"}},"permissions":"1100","type":"HS_ADMIN"}'
    )
    nested = {"z": [{"b": 1, "a": None}], "a": {"y": True, "x": False}}
    assert canonical_value_bytes("site", nested, "1110", "HS_SITE") == (
        b'{"data":{"format":"site","value":{"a":{"x":false,"y":true},"z":[{"a":null,"b":1}]}},'
        b'"permissions":"1110","type":"HS_SITE"}'
    )


def test_digest_is_unpadded_base64url_sha256() -> None:
    assert digest(b"") == "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
    encoded = canonical_value_bytes("string", "https://example.com/", "1110", "URL")
    assert digest(encoded) == b64url(hashlib.sha256(encoded).digest())
    assert len(digest(encoded)) == 43 and "=" not in digest(encoded)


def test_value_digests_cover_exactly_the_public_values() -> None:
    values = [
        (400, "HS_SIGNATURE", "string", "a.b.c", "1110"),
        (300, "HS_SECKEY", "string", "hashed-secret", "1110"),  # never public, whatever its bits say
        (5, "NOTE", "string", "admins only", "1100"),
        (2, "EMAIL", "string", "ops@example.com", "0010"),  # public read without admin read
        (1, "URL", "string", "https://example.com/", "1110"),
        (100, "HS_ADMIN", "admin", {"handle": "0.NA/88.999", "index": 300, "permissions": "0"}, "1110"),
        (7, "WRITABLE", "string", "x", "1111"),
    ]
    digests = value_digests(values)
    assert [d["index"] for d in digests] == [1, 2, 7, 100]  # sorted by index
    assert digests[0] == {
        "index": 1,
        "digest": b64url(
            hashlib.sha256(
                b'{"data":{"format":"string","value":"https://example.com/"},"permissions":"1110","type":"URL"}'
            ).digest()
        ),
    }
    assert digests[1]["digest"] == digest(canonical_value_bytes("string", "ops@example.com", "0010", "EMAIL"))
    assert value_digests([]) == []
    assert value_digests([v for v in values if v[0] in (300, 400, 5)]) == []


def test_json_value_fields_reads_the_wire_form() -> None:
    assert json_value_fields({"index": "3", "type": "URL", "data": "https://x"}) == (
        3,
        "URL",
        "string",
        "https://x",
        "1110",
    )
    wire = {"index": 9, "type": "HEX", "data": {"format": "HEX", "value": "00ff"}, "permissions": "1100"}
    assert json_value_fields(wire) == (9, "HEX", "hex", "00ff", "1100")


def test_record_digest_binds_the_handle_and_the_digests() -> None:
    digests = value_digests([(1, "URL", "string", "https://x", "1110")])
    base = record_digest("88.999.1001/a", digests)
    assert base == digest(
        b'{"handle":"88.999.1001/a","values":[{"digest":"' + digests[0]["digest"].encode() + b'","index":1}]}'
    )
    assert record_digest("88.999.1001/b", digests) != base
    assert record_digest("88.999.1001/a", []) != base
    assert record_digest("88.999.1001/a", [{**digests[0], "index": 2}]) != base


# -- key files -------------------------------------------------------------------------------------


def test_save_writes_mode_0600_and_refuses_to_overwrite(tmp_path: Path, key: KeyFile) -> None:
    path = tmp_path / "keys" / f"{key.kid}.pem"
    key.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert KeyFile.load(path).kid == key.kid
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        KeyFile.generate(key.algorithm).save(path)
    assert path.read_bytes() == before
    assert KeyFile.load(path).kid == key.kid


def test_save_is_never_world_readable_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        path = tmp_path / "k.pem"
        KeyFile.generate().save(path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_save_refuses_a_symlink_in_place(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.pem"
    link = tmp_path / "k.pem"
    link.symlink_to(target)
    with pytest.raises(FileExistsError):
        KeyFile.generate().save(link)
    assert not target.exists()


def test_load_public_key_reads_pem_public_pem_private_and_jwk(tmp_path: Path, key: KeyFile) -> None:
    private = tmp_path / "private.pem"
    key.save(private)
    public = tmp_path / "public.pem"
    public.write_text(key.public_pem())
    jwk = tmp_path / "key.jwk"
    jwk.write_bytes(b"\n  " + orjson.dumps({**key.public_jwk, "kid": key.kid}))
    for path in (private, public, jwk):
        loaded = load_public_key(path)
        assert public_jwk(loaded) == key.public_jwk, path.name
        assert jws_verify(jws_sign(key.key, PAYLOAD, key.kid), loaded) == PAYLOAD


def test_load_public_key_rejects_other_keys(tmp_path: Path) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "rsa.pem"
    pem.write_bytes(
        rsa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    with pytest.raises(ValueError):
        load_public_key(pem)
    jwk = tmp_path / "rsa.jwk"
    jwk.write_bytes(orjson.dumps({"kty": "RSA", "n": "AQAB", "e": "AQAB"}))
    with pytest.raises(SignatureInvalid):
        load_public_key(jwk)
    with pytest.raises(ValueError):
        KeyFile.load(pem)


# -- properties of the canonical encoding ----------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=6), children, max_size=4
        )
    ),
    max_leaves=12,
)
value_fields = st.tuples(
    st.sampled_from(["string", "base64", "hex", "admin", "vlist", "site", "key"]),
    json_values,
    st.text(alphabet="01", min_size=4, max_size=4),
    st.text(min_size=1, max_size=10, alphabet=st.characters(exclude_categories=("Cs", "Cc"))),
)


def strictly_equal(a: Any, b: Any) -> bool:
    """JSON equality that, unlike ==, tells True from 1 and False from 0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(strictly_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(strictly_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def reinserted(value: Any) -> Any:
    """The same JSON value with every object's keys inserted in reverse order."""
    if isinstance(value, dict):
        return {k: reinserted(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [reinserted(v) for v in value]
    return value


@settings(max_examples=200, deadline=None)
@given(fields=value_fields)
def test_canonical_value_bytes_is_deterministic(fields: tuple[str, Any, str, str]) -> None:
    fmt, value, permissions, vtype = fields
    encoded = canonical_value_bytes(fmt, value, permissions, vtype)
    assert canonical_value_bytes(fmt, reinserted(value), permissions, vtype) == encoded
    parsed = orjson.loads(encoded)
    assert parsed == {"data": {"format": fmt, "value": value}, "permissions": permissions, "type": vtype}
    assert orjson.dumps(parsed, option=orjson.OPT_SORT_KEYS) == encoded  # already in canonical form


@settings(max_examples=300, deadline=None)
@given(a=value_fields, b=value_fields)
def test_distinct_values_have_distinct_encodings(
    a: tuple[str, Any, str, str], b: tuple[str, Any, str, str]
) -> None:
    same = strictly_equal(list(a), list(b))
    assert (canonical_value_bytes(*a) == canonical_value_bytes(*b)) == same
    assert (digest(canonical_value_bytes(*a)) == digest(canonical_value_bytes(*b))) == same


@settings(max_examples=100, deadline=None)
@given(fields=value_fields, data=st.data())
def test_any_change_to_a_value_changes_its_encoding(
    fields: tuple[str, Any, str, str], data: st.DataObject
) -> None:
    fmt, value, permissions, vtype = fields
    changed = data.draw(json_values.filter(lambda v: not strictly_equal(v, value)), label="changed")
    assert canonical_value_bytes(fmt, value, permissions, vtype) != canonical_value_bytes(
        fmt, changed, permissions, vtype
    )
    other_permissions = data.draw(
        st.text(alphabet="01", min_size=4, max_size=4).filter(lambda p: p != permissions)
    )
    assert canonical_value_bytes(fmt, value, permissions, vtype) != canonical_value_bytes(
        fmt, value, other_permissions, vtype
    )


def test_jws_verify_does_not_accept_a_signature_over_other_bytes() -> None:
    key = KeyFile.generate()
    token = jws_sign(key.key, PAYLOAD, key.kid)
    other = jws_sign(key.key, {**PAYLOAD, "n": 8}, key.kid)
    spliced = with_part(token, 2, token_parts(other)[2])
    with pytest.raises(SignatureInvalid):
        jws_verify(spliced, key.key.public_key())
    with pytest.raises(InvalidSignature):  # sanity: the raw check agrees
        head, body, signature = token_parts(spliced)
        key.key.public_key().verify(b64url_decode(signature), f"{head}.{body}".encode())


# -- properties of signed records (sign, verify, tamper) -------------------------------------------

SIGNER_REF = "301:0.NA/88.999"
SIGNER = KeyFile.generate(ED25519)
NOW = 1_800_000_000


def _wire(obj: dict[str, Any]) -> dict[str, Any] | None:
    """A value as a client resolves it (normalised, through JSON), or None if it cannot be one."""
    value = HandleValue.from_json(obj).to_json()
    if value["index"] == SIGNATURE_INDEX or value["type"] == HS_SIGNATURE:
        return None
    try:
        return orjson.loads(orjson.dumps(value))
    except TypeError:  # an integer JSON cannot carry; a node never holds one (clients' JSON has none)
        return None


record_values = (
    st.lists(valid_value_objects(), min_size=1, max_size=5, unique_by=lambda v: int(v["index"]))
    .map(lambda objs: [_wire(o) for o in objs])
    .filter(lambda values: None not in values)
)


def signed(handle: str, values: list[dict[str, Any]]) -> dict[str, Any]:
    """The record as the node serves it: ``values`` and an HS_SIGNATURE over them by SIGNER."""
    fields = [json_value_fields(v) for v in values]
    token = signature_token(
        SIGNER, SIGNER_REF, [], handle, value_digests(fields), withheld_indexes(fields), NOW, 3600
    )
    signature = {"index": SIGNATURE_INDEX, "type": HS_SIGNATURE, "data": {"format": "string", "value": token}}
    return {"handle": handle, "values": [*values, signature]}


async def fetch_signer(handle: str) -> dict[str, Any] | None:
    """The node's prefix handle, publishing SIGNER's public key at index 301."""
    if handle != "0.NA/88.999":
        return None
    key = {"index": 301, "type": HS_PUBKEY, "data": {"format": "key", "value": SIGNER.public_jwk}}
    return {"handle": handle, "values": [key]}


def verified(record: Any) -> Report:
    return asyncio.run(verify_record(record, fetch_signer, now=NOW + 1))


@settings(max_examples=100, deadline=None)
@given(values=record_values)
def test_a_signed_record_verifies(values: list[dict[str, Any]]) -> None:
    report = verified(signed("88.999.1001/part-1", values))
    assert report.ok, [f for f in report.findings if not f.ok]


@settings(max_examples=150, deadline=None)
@given(values=record_values, text=st.text(min_size=1, max_size=40), data=st.data())
def test_any_byte_changed_in_a_signed_value_breaks_verification(
    values: list[dict[str, Any]], text: str, data: st.DataObject
) -> None:
    """A public string value changed at any one byte of its UTF-8 text (what a tampering store or
    proxy would do) is reported against that value, whatever else the record holds."""
    index = max(int(v["index"]) for v in values) % (SIGNATURE_INDEX - 1) + 1
    assume(all(int(v["index"]) != index for v in values))
    victim = orjson.loads(
        orjson.dumps(HandleValue.from_json({"index": index, "type": "URL", "data": text}).to_json())
    )
    record = signed("88.999.1001/part-1", [*values, victim])
    raw = bytearray(text.encode())
    position = data.draw(st.integers(0, len(raw) - 1), label="byte")
    raw[position] ^= data.draw(st.integers(1, 255), label="xor")
    try:
        changed = raw.decode()
    except UnicodeDecodeError:
        assume(False)  # not UTF-8 any more: no JSON answer can carry it
    tampered = copy.deepcopy(record)
    next(v for v in tampered["values"] if v["index"] == index)["data"]["value"] = changed
    report = verified(tampered)
    assert not report.ok
    assert f"value {index}" in {f.subject for f in report.findings if not f.ok}


@settings(max_examples=200, deadline=None)
@given(obj=valid_value_objects())
def test_a_value_digest_is_the_same_at_the_node_and_at_a_client(obj: dict[str, Any]) -> None:
    """The node signs the values it holds; a client digests the JSON it receives: the wire must not
    change the canonical bytes (numbers, escapes, key order), or no client could verify."""
    try:
        sent = orjson.loads(orjson.dumps(obj))
    except TypeError:  # an integer JSON cannot carry
        assume(False)
    value = HandleValue.from_json(sent)
    at_node = value_digests([(value.index, value.type, value.format, value.data, value.permissions)])
    received = orjson.loads(orjson.dumps(value.to_json()))
    assert value_digests([json_value_fields(received)]) == at_node


@settings(max_examples=200, deadline=None)
@given(token=st.one_of(st.text(), st.lists(st.text(alphabet=B64URL, max_size=60), max_size=4).map(".".join)))
def test_verifying_any_text_raises_only_signature_invalid(token: str) -> None:
    with pytest.raises(SignatureInvalid):
        jws_verify(token, SIGNER.key.public_key())


@settings(max_examples=200, deadline=None)
@given(record=json_values)
@example(record=None)
def test_verifying_any_json_as_a_record_reports_and_never_crashes(record: Any) -> None:
    assert isinstance(verified(record), Report)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(json_values, max_size=4), handle=st.text(max_size=20))
@example(values=[None], handle="")  # raised AttributeError before the verifier checked the shape
def test_verifying_a_record_of_any_values_reports_and_never_crashes(values: list[Any], handle: str) -> None:
    report = verified({"handle": handle, "values": values})
    assert not report.ok  # nothing here carries a signature by SIGNER
