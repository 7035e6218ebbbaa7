"""Offline verification of signed records and transparency-log proofs, as a resolver would do it.

Everything here works on what a client receives (Handle.Net JSON records, the node's log JSON) and
trusts nothing but the keys it can check: the signer's key is looked up where the signature says it
is published (``iss``, a value reference such as ``301:0.NA/88.999``). With a trust anchor the key
must be the anchor itself or carry an HS_CERT signed by it. Without one, the key must be published on
a prefix handle (``0.NA/P``, which only the node operator writes) whose prefix ``P`` is the signed
record's prefix or one of its parents, so that no enterprise can sign for another with a key it
published on one of its own handles.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from idnode import merkle
from idnode.keys import CERT_INDEX_OFFSET
from idnode.model.errors import IdnodeError, UnverifiedRecord
from idnode.model.identifier import Identifier, is_within
from idnode.signing import (
    DIGEST_ALG,
    HS_CERT,
    HS_PUBKEY,
    HS_SIGNATURE,
    SIGNATURE_INDEX,
    PublicKey,
    SignatureInvalid,
    is_public,
    json_value_fields,
    jwk_thumbprint,
    jws_parts,
    jws_verify,
    public_jwk,
    public_key_from_jwk,
    record_digest,
    value_digests,
)

Fetch = Callable[[str], Awaitable[dict[str, Any] | None]]


@dataclass(frozen=True)
class Finding:
    ok: bool
    subject: str
    detail: str


@dataclass
class Report:
    """Per-check findings; ``ok`` only when every one holds."""

    handle: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.findings) and all(f.ok for f in self.findings)

    def add(self, ok: bool, subject: str, detail: str) -> bool:
        self.findings.append(Finding(ok, subject, detail))
        return ok

    def to_json(self) -> dict[str, Any]:
        return {
            "handle": self.handle,
            "ok": self.ok,
            "findings": [{"ok": f.ok, "subject": f.subject, "detail": f.detail} for f in self.findings],
        }


def _same_handle(a: str, b: str) -> bool:
    try:
        return Identifier.parse(a) == Identifier.parse(b)
    except IdnodeError:
        return False


def _authoritative(key_handle: str, subject: str | None) -> bool:
    """Is ``key_handle`` a prefix handle with authority over ``subject`` (any prefix handle if None)?"""
    try:
        where = Identifier.parse(key_handle)
        if not where.is_prefix_handle:
            return False
        if subject is None:
            return True
        owner = Identifier.parse(subject).owning_prefix
    except IdnodeError:
        return False
    return is_within(owner, where.suffix)


def _split_ref(ref: Any) -> tuple[int, str]:
    index, _, handle = str(ref).partition(":")
    if not index.isdigit() or not handle:
        raise SignatureInvalid(f"Not a value reference: {ref!r}")
    return int(index), handle


async def _value_at(fetch: Fetch, ref: str, vtype: str) -> Any:
    """The data value of type ``vtype`` at value reference ``ref``, or None."""
    index, handle = _split_ref(ref)
    record = await fetch(handle)
    for value in (record or {}).get("values", []):
        if int(value["index"]) == index and value["type"] == vtype:
            return value["data"]["value"] if isinstance(value["data"], dict) else value["data"]
    return None


async def signer_key(
    report: Report, fetch: Fetch, ref: str, anchor: PublicKey | None, now: int, subject: str | None
) -> PublicKey | None:
    """Look up and, with a trust anchor, certify the key published at ``ref`` for signing about
    ``subject`` (see the module docstring); record findings."""
    _, key_handle = _split_ref(ref)
    if anchor is None and not _authoritative(key_handle, subject):
        report.add(False, "signer key", f"{ref} is not a node key with authority over {subject or 'the log'}")
        return None
    jwk = await _value_at(fetch, ref, HS_PUBKEY)
    if not isinstance(jwk, dict):
        report.add(False, "signer key", f"no HS_PUBKEY is published at {ref}: signed by an unknown key")
        return None
    key = public_key_from_jwk(jwk)
    report.add(True, "signer key", f"{ref} ({jwk.get('alg')}, kid {jwk.get('kid')}, {jwk.get('status')})")
    if anchor is None:
        return key
    thumbprint = jwk_thumbprint(public_jwk(key))
    if thumbprint == jwk_thumbprint(public_jwk(anchor)):
        report.add(True, "chain", "the signer key is the trust anchor")
        return key
    index, handle = _split_ref(ref)
    token = await _value_at(fetch, f"{index + CERT_INDEX_OFFSET}:{handle}", HS_CERT)
    if not isinstance(token, str):
        report.add(False, "chain", f"no HS_CERT for {ref}; the key does not chain to the trust anchor")
        return key
    try:
        cert = jws_verify(token, anchor)
    except SignatureInvalid:
        report.add(False, "chain", f"the certificate of {ref} is not signed by the trust anchor")
        return key
    problems = []
    if cert.get("sub") != ref:
        problems.append(f"it certifies {cert.get('sub')!r}, not {ref}")
    if not isinstance(cert.get("jwk"), dict) or jwk_thumbprint(cert["jwk"]) != thumbprint:
        problems.append("it certifies a different key")
    if not cert.get("nbf", 0) <= now < cert.get("exp", 0):
        problems.append("it is outside its validity period")
    report.add(not problems, "chain", "; ".join(problems) or f"{ref} is certified by the trust anchor")
    return key


async def verify_record(
    record: dict[str, Any], fetch: Fetch, *, trust_anchor: PublicKey | None = None, now: int | None = None
) -> Report:
    """Check a resolved record's HS_SIGNATURE: key, signature, subject, validity, and every value."""
    now = int(time.time()) if now is None else now
    shaped = isinstance(record, dict) and isinstance(record.get("values"), list)
    handle = str(record.get("handle", "")) if isinstance(record, dict) else ""
    report = Report(handle)
    values = [v for v in record["values"] if isinstance(v, dict)] if shaped else []
    if not shaped or len(values) != len(record["values"]):
        report.add(False, "record", "not a Handle record: an object with a list of value objects")
        return report
    token = next(
        (v["data"] for v in values if v.get("type") == HS_SIGNATURE and v.get("index") == SIGNATURE_INDEX),
        None,
    )
    token = token.get("value") if isinstance(token, dict) else token
    if not isinstance(token, str):
        report.add(False, "signature", f"the record carries no HS_SIGNATURE at index {SIGNATURE_INDEX}")
        return report
    try:
        header, payload = jws_parts(token)
        ref = payload.get("iss") or header.get("kid")
        key = await signer_key(report, fetch, ref, trust_anchor, now, handle)
        if key is None:
            return report
        payload = jws_verify(token, key)
    except SignatureInvalid as exc:
        report.add(False, "signature", exc.message)
        return report
    report.add(True, "signature", "the JWS verifies with the signer key")
    report.add(
        _same_handle(str(payload.get("sub")), handle),
        "subject",
        f"signed for {payload.get('sub')!r}, resolved as {handle!r}",
    )
    valid = payload.get("nbf", 0) <= now < payload.get("exp", 0)
    report.add(valid, "validity", f"valid from {payload.get('nbf')} until {payload.get('exp')} (now {now})")
    try:
        _check_digests(report, payload.get("digests") or {}, payload.get("withheld") or [], values)
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        report.add(False, "digests", f"malformed values or digest list: {exc!r}")
    return report


async def require_verified(
    identifier: Identifier, record: dict[str, Any], fetch: Fetch, source: str, trust_anchor: PublicKey | None
) -> None:
    """Raise UnverifiedRecord unless ``record`` (as ``source`` served it) is ``identifier``'s and its
    signature verifies (``verify_record``); the message names every failed check."""
    try:
        same = Identifier.parse(record.get("handle")) == identifier
    except IdnodeError:
        same = False
    if not same or not isinstance(record.get("values"), list):
        raise UnverifiedRecord(f"{source} answered for {identifier} with something else.")
    report = await verify_record(record, fetch, trust_anchor=trust_anchor)
    if not report.ok:
        failed = "; ".join(f"{f.subject}: {f.detail}" for f in report.findings if not f.ok)
        raise UnverifiedRecord(f"The record of {identifier} from {source} failed verification: {failed}.")


def _check_digests(
    report: Report, signed: dict[str, Any], withheld: list[Any], values: list[dict[str, Any]]
) -> None:
    """One finding per value: public values against their signed digests; every other value must be
    one the signature lists as withheld (private), or it was slipped into the record."""
    if signed.get("alg") != DIGEST_ALG:
        report.add(False, "digests", f"unsupported digest algorithm {signed.get('alg')!r}")
        return
    expected = {int(d["index"]): d["digest"] for d in signed.get("digests", [])}
    fields = [json_value_fields(v) for v in values]
    actual = {d["index"]: d["digest"] for d in value_digests(fields)}
    types = {f[0]: f[1] for f in fields}
    for index in sorted(set(expected) | set(actual)):
        if index not in actual:
            report.add(False, f"value {index}", "signed but missing from the record (removed)")
        elif index not in expected:
            report.add(False, f"value {index}", f"{types[index]} is not covered by the signature (added)")
        elif expected[index] != actual[index]:
            report.add(False, f"value {index}", f"{types[index]} does not match its signed digest (altered)")
        else:
            report.add(True, f"value {index}", f"{types[index]} matches its signed digest")
    private = set(withheld)
    for index, vtype, _, _, perms in fields:
        if index in actual or (index == SIGNATURE_INDEX and vtype == HS_SIGNATURE):
            continue
        if vtype in (HS_SIGNATURE, "HS_SECKEY") or is_public(perms, vtype) or index not in private:
            report.add(False, f"value {index}", f"{vtype} is not covered by the signature (added)")
        else:
            report.add(True, f"value {index}", f"{vtype} is private: withheld from the signature by design")


def _b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


async def verify_tree_head(
    report: Report,
    sth: dict[str, Any],
    fetch: Fetch,
    anchor: PublicKey | None,
    now: int,
    subject: str | None = None,
) -> bytes | None:
    """Check a signed tree head's signature (by a node key with authority over ``subject``, if given);
    return its root hash when it holds."""
    try:
        _, claimed = jws_parts(sth["tree_head_signature"])
        key = await signer_key(report, fetch, claimed.get("iss"), anchor, now, subject)
        if key is None:
            return None
        signed = jws_verify(sth["tree_head_signature"], key)
    except (SignatureInvalid, KeyError, TypeError) as exc:
        report.add(False, "tree head", f"signature does not verify: {exc}")
        return None
    fields = ("tree_size", "timestamp", "sha256_root_hash")
    if any(signed.get(name) != sth.get(name) for name in fields):
        report.add(False, "tree head", "the signed fields differ from the ones presented")
        return None
    report.add(True, "tree head", f"size {sth['tree_size']} signed by {signed.get('iss')}")
    return _b64(sth["sha256_root_hash"])


async def verify_inclusion(
    record: dict[str, Any],
    proof: dict[str, Any],
    fetch: Fetch,
    *,
    trust_anchor: PublicKey | None = None,
    now: int | None = None,
) -> Report:
    """Check that the record as resolved is the newest logged state of its handle, under a signed head."""
    now = int(time.time()) if now is None else now
    handle = str(record.get("handle", ""))
    report = Report(handle)
    try:
        root = await verify_tree_head(report, proof["sth"], fetch, trust_anchor, now, handle)
        if root is None:
            return report
        entry_bytes = proof["entry"].encode("utf-8")
        entry = orjson.loads(entry_bytes)
        leaf = merkle.leaf_hash(entry_bytes)
        path = [_b64(p) for p in proof["audit_path"]]
        included = merkle.verify_inclusion(
            leaf, int(proof["leaf_index"]), int(proof["sth"]["tree_size"]), path, root
        )
    except (KeyError, ValueError, TypeError, orjson.JSONDecodeError) as exc:
        report.add(False, "inclusion", f"malformed proof: {exc}")
        return report
    report.add(
        included, "inclusion", f"entry {proof['leaf_index']} {'is' if included else 'is NOT'} in the tree"
    )
    report.add(_same_handle(str(entry.get("handle")), handle), "entry", f"logged for {entry.get('handle')!r}")
    digests = value_digests(json_value_fields(v) for v in record.get("values", []))
    content = record_digest(str(entry.get("handle")), digests)
    report.add(
        entry.get("action") != "delete" and entry.get("record") == content,
        "content",
        "the resolved record matches the logged content"
        if entry.get("record") == content
        else "the resolved record differs from the newest logged content",
    )
    return report


def verify_consistency(old: dict[str, Any], new: dict[str, Any], proof: list[str]) -> bool:
    """Is the tree behind signed head ``new`` an append-only extension of the one behind ``old``?
    (Check both heads' signatures with ``verify_tree_head`` first.)"""
    try:
        return merkle.verify_consistency(
            int(old["tree_size"]),
            int(new["tree_size"]),
            _b64(old["sha256_root_hash"]),
            _b64(new["sha256_root_hash"]),
            [_b64(p) for p in proof],
        )
    except (KeyError, ValueError, TypeError):
        return False
