"""Node keys, compact JWS, and the canonical value encoding that record signatures cover.

Keys are Ed25519 (JWS ``EdDSA``, the default) or ECDSA P-256 (``ES256``, signature r||s). Public keys
travel as JWKs; a key's id is its RFC 7638 thumbprint.

Canonical value encoding (what a digest covers)
    ``canonical_value_bytes(v)`` is the UTF-8 JSON text of ``{"data":{"format":F,"value":V},
    "permissions":P,"type":T}`` with keys sorted at every level, no insignificant whitespace, and
    non-ASCII characters written as themselves (not escaped). ``F`` is the lower-case format name,
    ``V`` the value exactly as the node returns it in ``data.value``, ``P`` the four-character
    permissions string (default ``"1110"``), ``T`` the type. Index, TTL and timestamp are not part of
    it: the signature pairs each digest with its index, and timestamps change when nothing else does.
    A value's digest is ``base64url(SHA-256(canonical_value_bytes))`` without padding.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from idnode.model.errors import IdnodeError

ED25519 = "EdDSA"
ES256 = "ES256"
ALGORITHMS = {"ed25519": ED25519, "p256": ES256}

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey


class SignatureInvalid(IdnodeError):
    """The signature does not verify."""


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def b64url(data: bytes) -> str:
    # binascii directly: base64.urlsafe_b64encode costs twice as much, and every write signs.
    return binascii.b2a_base64(data, newline=False).rstrip(b"=").translate(_URLSAFE).decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def canonical_json(obj: Any) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)


def canonical_value_bytes(fmt: str, value: Any, permissions: str, vtype: str) -> bytes:
    """The bytes a value's digest covers (see the module docstring)."""
    return canonical_json(
        {"data": {"format": fmt, "value": value}, "permissions": permissions, "type": vtype}
    )


def digest(data: bytes) -> str:
    return b64url(hashlib.sha256(data).digest())


def public_jwk(key: PublicKey) -> dict[str, str]:
    """The JWK (RFC 7517/8037) of a public key, without optional members."""
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}
    numbers = key.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url(numbers.x.to_bytes(32, "big")),
        "y": b64url(numbers.y.to_bytes(32, "big")),
    }


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order."""
    required = {"OKP": ("crv", "kty", "x"), "EC": ("crv", "kty", "x", "y")}[jwk["kty"]]
    return digest(canonical_json({name: jwk[name] for name in required}))


def public_key_from_jwk(jwk: dict[str, Any]) -> PublicKey:
    """Load a public key from a JWK; raise SignatureInvalid if it is not one we support."""
    try:
        if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
            return ed25519.Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))
        if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
            x = int.from_bytes(b64url_decode(jwk["x"]), "big")
            y = int.from_bytes(b64url_decode(jwk["y"]), "big")
            return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    except (KeyError, ValueError, TypeError) as exc:
        raise SignatureInvalid(f"Unusable public key: {exc}") from None
    raise SignatureInvalid("Unsupported key type; expected an Ed25519 or P-256 JWK.")


def algorithm_of(key: PublicKey | PrivateKey) -> str:
    return ED25519 if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey) else ES256


def _raw_sign(key: PrivateKey, data: bytes) -> bytes:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _raw_verify(key: PublicKey, signature: bytes, data: bytes) -> None:
    if isinstance(key, ed25519.Ed25519PublicKey):
        key.verify(signature, data)
        return
    if len(signature) != 64:
        raise InvalidSignature()
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    key.verify(der, data, ec.ECDSA(hashes.SHA256()))


def jws_sign(key: PrivateKey, payload: dict[str, Any], kid: str) -> str:
    """A compact JWS (RFC 7515) of ``payload`` with header ``{"alg", "kid"}``."""
    header = _jws_header(key, kid)
    body = b64url(canonical_json(payload))
    signing_input = f"{header}.{body}".encode("ascii")
    return f"{header}.{body}.{b64url(_raw_sign(key, signing_input))}"


@functools.lru_cache(maxsize=64)
def _jws_header(key: PrivateKey, kid: str) -> str:
    return b64url(canonical_json({"alg": algorithm_of(key), "kid": kid}))


def jws_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, payload) of a compact JWS, unverified; raise SignatureInvalid if malformed."""
    try:
        header, body, _ = token.split(".")
        parts = orjson.loads(b64url_decode(header)), orjson.loads(b64url_decode(body))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise SignatureInvalid(f"Malformed JWS: {exc}") from None
    if not all(isinstance(part, dict) for part in parts):
        raise SignatureInvalid("Malformed JWS: the header and payload must be JSON objects.")
    return parts


def jws_verify(token: str, key: PublicKey) -> dict[str, Any]:
    """Verify a compact JWS with ``key`` and return its payload; raise SignatureInvalid."""
    header, payload = jws_parts(token)
    head, body, signature = token.split(".")
    _check_signature(key, header, f"{head}.{body}", signature)
    return payload


def _check_signature(key: PublicKey, header: dict[str, Any], signing_input: str, signature: str) -> None:
    if header.get("alg") != algorithm_of(key):
        raise SignatureInvalid(f"JWS algorithm {header.get('alg')!r} does not match the key.")
    try:
        _raw_verify(key, b64url_decode(signature), signing_input.encode("ascii"))
    except (InvalidSignature, ValueError):
        raise SignatureInvalid("The signature does not verify with the signer's key.") from None


def jws_sign_detached(key: PrivateKey, content: bytes, kid: str) -> str:
    """A compact JWS over ``content`` (any bytes) with the payload left out, ``header..signature``
    (RFC 7515 appendix F): the content travels separately, e.g. as the body of a request."""
    header = _jws_header(key, kid)
    signing_input = f"{header}.{b64url(content)}".encode("ascii")
    return f"{header}..{b64url(_raw_sign(key, signing_input))}"


def jws_header(token: str) -> dict[str, Any]:
    """The protected header of a compact JWS (detached or not), unverified; raise SignatureInvalid."""
    try:
        header = orjson.loads(b64url_decode(token.split(".", 1)[0]))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise SignatureInvalid(f"Malformed JWS header: {exc}") from None
    if not isinstance(header, dict):
        raise SignatureInvalid("Malformed JWS: the header must be a JSON object.")
    return header


def jws_verify_detached(token: str, content: bytes, key: PublicKey) -> dict[str, Any]:
    """Verify a detached compact JWS (``header..signature``) over ``content`` with ``key``; return its
    header. Raise SignatureInvalid."""
    parts = token.split(".")
    if len(parts) != 3 or parts[1]:
        raise SignatureInvalid("Malformed detached JWS: expected header..signature.")
    header = jws_header(token)
    _check_signature(key, header, f"{parts[0]}.{b64url(content)}", parts[2])
    return header


@dataclass(frozen=True)
class KeyFile:
    """A private key kept as PKCS#8 PEM in the data directory (mode 0600)."""

    key: PrivateKey

    @property
    def public_jwk(self) -> dict[str, str]:
        return public_jwk(self.key.public_key())

    @property
    def kid(self) -> str:
        return jwk_thumbprint(self.public_jwk)

    @property
    def algorithm(self) -> str:
        return algorithm_of(self.key)

    @classmethod
    def generate(cls, algorithm: str = ED25519) -> KeyFile:
        if algorithm == ED25519:
            return cls(ed25519.Ed25519PrivateKey.generate())
        if algorithm == ES256:
            return cls(ec.generate_private_key(ec.SECP256R1()))
        raise ValueError(f"unknown algorithm {algorithm!r}; use {ED25519} or {ES256}")

    @classmethod
    def load(cls, path: Path) -> KeyFile:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
            raise ValueError(f"{path}: not an Ed25519 or EC private key")
        return cls(key)

    def save(self, path: Path) -> None:
        """Write the key with mode 0600 (created that way, never world-readable for an instant)."""
        pem = self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)

    def public_pem(self) -> str:
        return public_pem(self.key.public_key())


def public_pem(key: PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public_key(path: Path) -> PublicKey:
    """A trust anchor: a PEM public key (or private key, whose public half is used) or a JWK JSON file."""
    raw = path.read_bytes()
    if raw.lstrip().startswith(b"{"):
        return public_key_from_jwk(orjson.loads(raw))
    if b"PRIVATE KEY" in raw:
        key: Any = serialization.load_pem_private_key(raw, password=None).public_key()
    else:
        key = serialization.load_pem_public_key(raw)
    if not isinstance(key, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey):
        raise ValueError(f"{path}: not an Ed25519 or EC public key")
    return key


# -- record signatures (HS_SIGNATURE, Handle 9 style) ---------------------------------------------

HS_SIGNATURE = "HS_SIGNATURE"
HS_PUBKEY = "HS_PUBKEY"
HS_CERT = "HS_CERT"
SIGNATURE_INDEX = 400
DIGEST_ALG = "SHA-256"


def is_public(permissions: str, vtype: str) -> bool:
    """Public read bit set, and not a secret key (never public whatever its bits say)."""
    return permissions[2] == "1" and vtype != "HS_SECKEY"


def value_digests(values: Iterable[tuple[int, str, str, Any, str]]) -> list[dict[str, Any]]:
    """``[{"index", "digest"}]`` over (index, type, format, value, permissions) of the public values,
    by index, leaving out HS_SIGNATURE values (a signature cannot cover itself)."""
    return [
        {"index": index, "digest": digest(canonical_value_bytes(fmt, value, perms, vtype))}
        for index, vtype, fmt, value, perms in sorted(values, key=lambda v: v[0])
        if vtype != HS_SIGNATURE and is_public(perms, vtype)
    ]


def withheld_indexes(values: Iterable[tuple[int, str, str, Any, str]]) -> list[int]:
    """Indexes of the values a signature deliberately leaves uncovered: the non-public ones (they are
    not served to everyone, so a digest of them could not be checked). Listing them lets a verifier
    tell a private value from one injected into the record."""
    return sorted(
        index for index, vtype, _, _, perms in values if vtype != HS_SIGNATURE and not is_public(perms, vtype)
    )


def json_value_fields(value: dict[str, Any]) -> tuple[int, str, str, Any, str]:
    """(index, type, format, value, permissions) of a value in the Handle.Net JSON form."""
    data = value["data"]
    if isinstance(data, str):
        data = {"format": "string", "value": data}
    return (
        int(value["index"]),
        value["type"],
        data["format"].lower(),
        data["value"],
        value.get("permissions", "1110"),
    )


def record_digest(handle: str, digests: list[dict[str, Any]]) -> str:
    """What the transparency log records of a record's content: a digest over its value digests."""
    return digest(canonical_json({"handle": handle, "values": digests}))


def signature_token(
    key: KeyFile,
    key_ref: str,
    chain: list[str],
    handle: str,
    digests: list[dict[str, Any]],
    withheld: list[int],
    now: int,
    lifetime: int,
) -> str:
    """The compact JWS an HS_SIGNATURE value holds (payload: iss, sub, iat, nbf, exp, chain, digests,
    withheld)."""
    payload = {
        "iss": key_ref,
        "sub": handle,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "chain": chain,
        "digests": {"alg": DIGEST_ALG, "digests": digests},
        "withheld": withheld,
    }
    return jws_sign(key.key, payload, key_ref)
