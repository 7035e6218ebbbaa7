"""The attack catalogue for the offline verifier (idnode.verify), on SQLite and PostgreSQL.

Records and proofs come from the core exactly as a client would get them: ``fetch`` resolves through
``core.resolver`` and returns ``Resolution.to_json()``. Every attack below must be detected: the report
is not ok, and the finding that fails names the check that caught it.
"""

from __future__ import annotations

import base64
import copy
import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from idnode.config import Settings
from idnode.core import Core, open_core
from idnode.model.enterprise import EnterpriseDraft
from idnode.model.errors import HandleNotFound, InvalidHandle
from idnode.model.identifier import Identifier
from idnode.model.permissions import Principal
from idnode.model.values import HandleValue
from idnode.sample import make_uscc
from idnode.signing import (
    ED25519,
    ES256,
    KeyFile,
    b64url,
    json_value_fields,
    jws_parts,
    jws_sign,
    value_digests,
)
from idnode.verify import Fetch, Report, verify_consistency, verify_inclusion, verify_record, verify_tree_head

NODE_HANDLE = "0.NA/88.999"
FIRST_KEY_REF = f"301:{NODE_HANDLE}"
VALUES = [
    {"index": 1, "type": "URL", "data": "https://example.com/pump/1"},
    {"index": 2, "type": "LOT", "data": "B-7"},
    {"index": 3, "type": "NAME", "data": {"format": "string", "value": "盐城示范泵 型号 A"}},
]


# -- helpers ---------------------------------------------------------------------------------------


def fetcher(core: Core) -> Fetch:
    """Resolve as an anonymous client would, through the core's resolver."""

    async def fetch(handle: str) -> dict[str, Any] | None:
        try:
            return (await core.resolver.resolve(Identifier.parse(handle))).to_json()
        except (HandleNotFound, InvalidHandle):
            return None

    return fetch


def serving(fetch: Fetch, handle: str, change: Callable[[dict[str, Any]], None]) -> Fetch:
    """``fetch``, except that ``handle`` is served changed (a tampered store or a man in the middle)."""

    async def tampered(asked: str) -> dict[str, Any] | None:
        record = await fetch(asked)
        if record is not None and Identifier.parse(asked) == Identifier.parse(handle):
            record = copy.deepcopy(record)
            change(record)
        return record

    return tampered


def failing(report: Report) -> set[str]:
    return {f.subject for f in report.findings if not f.ok}


def assert_detected(report: Report, *subjects: str, only: bool = False) -> None:
    assert not report.ok, report.to_json()
    assert set(subjects) <= failing(report), report.to_json()
    if only:
        assert failing(report) == set(subjects), report.to_json()


def assert_verified(report: Report) -> None:
    assert report.ok, report.to_json()
    assert report.findings and not failing(report)


def value_at(record: dict[str, Any], index: int) -> dict[str, Any]:
    return next(v for v in record["values"] if v["index"] == index)


def signature_of(record: dict[str, Any]) -> str:
    value = value_at(record, 400)
    assert value["type"] == "HS_SIGNATURE"
    return value["data"]["value"]


def with_signature(record: dict[str, Any], token: str | None) -> dict[str, Any]:
    out = copy.deepcopy(record)
    out["values"] = [v for v in out["values"] if v["type"] != "HS_SIGNATURE"]
    if token is not None:
        out["values"].append(
            {"index": 400, "type": "HS_SIGNATURE", "data": {"format": "string", "value": token}, "ttl": 86400}
        )
    return out


def resigned(record: dict[str, Any], key: KeyFile, ref: str) -> dict[str, Any]:
    """The record with its signature payload re-signed by ``key``, claiming to be the key at ``ref``."""
    _, payload = jws_parts(signature_of(record))
    return with_signature(record, jws_sign(key.key, {**payload, "iss": ref}, ref))


def flip_b64(text: str) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[0] ^= 0x01
    return base64.b64encode(bytes(raw)).decode("ascii")


async def onboard(core: Core, serial: int) -> tuple[str, Principal]:
    draft = EnterpriseDraft.from_json(
        {
            "name": f"盐城验证企业{serial}有限公司",
            "uscc": make_uscc(serial),
            "district": "盐都区",
            "industry": "通用设备制造业",
            "contact_name": "王工",
        },
        (),
    )
    enterprise, _ = await core.registry.add_enterprise(core.local_operator, draft)
    return enterprise.prefix, Principal(f"{enterprise.prefix}/ADMIN", 300)


async def put(core: Core, admin: Principal, handle: str, values: list[dict[str, Any]], **kw: Any) -> None:
    parsed = [HandleValue.from_json(v) for v in values]
    await core.registry.put_record(admin, Identifier.parse(handle), parsed, **kw)


class Node:
    """A core with one enterprise and one signed record, plus the client's view of them."""

    def __init__(self, core: Core, prefix: str, admin: Principal) -> None:
        self.core, self.prefix, self.admin = core, prefix, admin
        self.fetch = fetcher(core)
        self.handle = f"{prefix}/pump-1"

    async def record(self, handle: str | None = None) -> dict[str, Any]:
        record = await self.fetch(handle or self.handle)
        assert record is not None
        return record

    async def put(self, handle: str, values: list[dict[str, Any]], **kw: Any) -> None:
        await put(self.core, self.admin, handle, values, **kw)


@pytest.fixture
async def node(core: Core) -> Node:
    prefix, admin = await onboard(core, 1)
    n = Node(core, prefix, admin)
    await n.put(n.handle, VALUES)
    return n


# -- record signatures -----------------------------------------------------------------------------


async def test_untouched_record_verifies(node: Node) -> None:
    record = await node.record()
    report = await verify_record(record, node.fetch)
    assert_verified(report)
    subjects = {f.subject for f in report.findings}
    assert {"signer key", "signature", "subject", "validity", "value 1", "value 2", "value 3"} <= subjects
    assert "value 100" in subjects  # the default HS_ADMIN value is public and covered
    assert report.handle == node.handle
    # the enterprise's own records and the node record verify too
    for handle in (f"0.NA/{node.prefix}", NODE_HANDLE):
        assert_verified(await verify_record(await node.record(handle), node.fetch))


async def test_altered_added_and_removed_values_are_detected(node: Node) -> None:
    record = await node.record()

    altered = copy.deepcopy(record)
    value_at(altered, 1)["data"]["value"] = "https://evil.example/pump/1"
    assert_detected(await verify_record(altered, node.fetch), "value 1", only=True)

    retyped = copy.deepcopy(record)
    value_at(retyped, 2)["type"] = "URL"
    assert_detected(await verify_record(retyped, node.fetch), "value 2", only=True)

    reformatted = copy.deepcopy(record)
    value_at(reformatted, 2)["data"] = {"format": "hex", "value": "B-7"}
    assert_detected(await verify_record(reformatted, node.fetch), "value 2", only=True)

    added = copy.deepcopy(record)
    added["values"].append(
        {"index": 9, "type": "URL", "data": {"format": "string", "value": "https://evil/"}}
    )
    assert_detected(await verify_record(added, node.fetch), "value 9", only=True)

    removed = copy.deepcopy(record)
    removed["values"] = [v for v in removed["values"] if v["index"] != 2]
    assert_detected(await verify_record(removed, node.fetch), "value 2", only=True)

    moved = copy.deepcopy(record)  # same content, other index
    value_at(moved, 2)["index"] = 5
    assert_detected(await verify_record(moved, node.fetch), "value 2", "value 5", only=True)

    hidden = copy.deepcopy(record)  # a signed public value re-marked as admin-only
    value_at(hidden, 1)["permissions"] = "1100"
    assert_detected(await verify_record(hidden, node.fetch), "value 1")

    # the original is still fine: nothing above leaked into it
    assert_verified(await verify_record(record, node.fetch))


@pytest.mark.parametrize(
    "injected",
    [
        {
            "index": 9,
            "type": "URL",
            "data": {"format": "string", "value": "https://evil/"},
            "permissions": "1100",
        },
        {"index": 9, "type": "HS_SECKEY", "data": {"format": "string", "value": "https://evil/"}},
        {"index": 401, "type": "HS_SIGNATURE", "data": {"format": "string", "value": "https://evil/"}},
    ],
    ids=["admin-only", "seckey-typed", "second-signature"],
)
async def test_values_injected_outside_the_signature_are_detected(
    node: Node, injected: dict[str, Any]
) -> None:
    record = await node.record()
    assert all(v["index"] != injected["index"] for v in record["values"])  # a resolver never serves these
    added = copy.deepcopy(record)
    added["values"].append(injected)
    assert not (await verify_record(added, node.fetch)).ok


async def test_private_values_seen_by_their_admin_verify(node: Node) -> None:
    """A value without public read is listed as withheld by the signature: its admin's view (which
    includes it) verifies, the public view (which lacks it) verifies, and a signature re-made without
    that listing no longer accepts it."""
    private = {"index": 7, "type": "PRICE", "data": "1999", "permissions": "1100"}
    await node.put(node.handle, [*VALUES, private])
    admin_view = (
        await node.core.resolver.resolve(Identifier.parse(node.handle), principal=node.admin)
    ).to_json()
    assert 7 in {v["index"] for v in admin_view["values"]}
    report = await verify_record(admin_view, node.fetch)
    assert_verified(report)
    assert any(f.subject == "value 7" and "withheld" in f.detail for f in report.findings)
    assert_verified(await verify_record(await node.record(), node.fetch))

    _, payload = jws_parts(signature_of(admin_view))
    assert payload["withheld"] == [7]


async def test_signature_by_an_unknown_key_is_detected(node: Node) -> None:
    record = await node.record()
    intruder = KeyFile.generate()
    # a key reference where nothing is published
    for ref in (f"399:{NODE_HANDLE}", f"301:{node.prefix}/nothing-here", "301:77.1/elsewhere"):
        report = await verify_record(resigned(record, intruder, ref), node.fetch)
        assert_detected(report, "signer key", only=True)
    # a key reference that points at an existing value that is not a key
    for ref in (f"1:{node.handle}", f"100:{NODE_HANDLE}", f"400:{NODE_HANDLE}"):
        report = await verify_record(resigned(record, intruder, ref), node.fetch)
        assert_detected(report, "signer key", only=True)
    # claiming to be the node's real key: the JWS does not verify with it
    report = await verify_record(resigned(record, intruder, FIRST_KEY_REF), node.fetch)
    assert_detected(report, "signature", only=True)
    # a P-256 intruder claiming the node's Ed25519 key: refused as well (algorithm mismatch)
    report = await verify_record(resigned(record, KeyFile.generate(ES256), FIRST_KEY_REF), node.fetch)
    assert_detected(report, "signature", only=True)
    # an iss that is not a value reference at all
    report = await verify_record(resigned(record, intruder, "the node, honestly"), node.fetch)
    assert_detected(report, "signature")


async def test_tenant_published_key_does_not_chain_to_the_anchor(node: Node) -> None:
    """An enterprise can publish HS_PUBKEY (and HS_CERT) values on its own handles; with a trust
    anchor, a signature by such a key is refused even when it looks certified."""
    tenant_key, tenant_root = KeyFile.generate(), KeyFile.generate()
    key_handle = f"{node.prefix}/my-key"
    key_ref = f"10:{key_handle}"
    fake_cert = jws_sign(
        tenant_root.key,
        {"iss": "jwk:x", "sub": key_ref, "jwk": tenant_key.public_jwk, "nbf": 0, "exp": 2**40},
        tenant_root.kid,
    )
    await node.put(
        key_handle,
        [
            {"index": 10, "type": "HS_PUBKEY", "data": {"format": "key", "value": tenant_key.public_jwk}},
            {"index": 210, "type": "HS_CERT", "data": fake_cert},
        ],
    )
    root = KeyFile.generate()
    await node.core.keyring.certify(root, 30)
    forged = resigned(await node.record(), tenant_key, key_ref)
    report = await verify_record(forged, node.fetch, trust_anchor=root.key.public_key())
    assert_detected(report, "chain", only=True)
    assert_verified(await verify_record(await node.record(), node.fetch, trust_anchor=root.key.public_key()))


async def test_tenant_published_key_cannot_sign_another_enterprises_record(node: Node) -> None:
    tenant_key = KeyFile.generate()
    key_handle = f"{node.prefix}/my-key"
    await node.put(
        key_handle,
        [{"index": 10, "type": "HS_PUBKEY", "data": {"format": "key", "value": tenant_key.public_jwk}}],
    )
    other_prefix, other_admin = await onboard(node.core, 2)
    victim = f"{other_prefix}/pump-9"
    await put(node.core, other_admin, victim, VALUES)
    forged = copy.deepcopy(await node.record(victim))
    value_at(forged, 1)["data"]["value"] = "https://evil.example/"
    _, payload = jws_parts(signature_of(forged))
    digests = value_digests(json_value_fields(v) for v in forged["values"])
    payload = {**payload, "iss": f"10:{key_handle}", "digests": {"alg": "SHA-256", "digests": digests}}
    forged = with_signature(forged, jws_sign(tenant_key.key, payload, f"10:{key_handle}"))
    assert not (await verify_record(forged, node.fetch)).ok


async def test_missing_signature_is_detected(node: Node) -> None:
    record = await node.record()
    report = await verify_record(with_signature(record, None), node.fetch)
    assert_detected(report, "signature", only=True)
    # a signature value that is not a JWS at all
    for garbage in ("", "not-a-jws", "a.b.c", "...."):
        assert_detected(await verify_record(with_signature(record, garbage), node.fetch), "signature")


@pytest.mark.parametrize("part", [0, 1])
async def test_signature_with_non_object_parts_is_reported_not_raised(node: Node, part: int) -> None:
    record = await node.record()
    parts = signature_of(record).split(".")
    parts[part] = b64url(b"[]")
    report = await verify_record(with_signature(record, ".".join(parts)), node.fetch)
    assert_detected(report, "signature")


async def test_signature_for_another_handle_is_detected(node: Node) -> None:
    # two records with the same values: their digests agree, only the subject tells them apart
    other = f"{node.prefix}/pump-2"
    upper = f"{node.prefix}/PUMP-1"  # suffixes are case-sensitive: a different handle
    await node.put(other, VALUES)
    await node.put(upper, VALUES)
    original = await node.record()
    for victim in (other, upper):
        record = await node.record(victim)
        assert_verified(await verify_record(record, node.fetch))
        copied = with_signature(record, signature_of(original))
        assert_detected(await verify_record(copied, node.fetch), "subject", only=True)
    # the prefix part is case-insensitive: the same handle spelt differently is not an attack
    respelt = {**original, "handle": node.handle.upper().replace("/PUMP-1", "/pump-1")}
    assert_verified(await verify_record(respelt, node.fetch))


async def test_expired_and_not_yet_valid_signatures_are_detected(node: Node) -> None:
    record = await node.record()
    _, payload = jws_parts(signature_of(record))
    assert payload["exp"] - payload["nbf"] == node.core.settings.signature_lifetime_days * 86400
    assert_verified(await verify_record(record, node.fetch, now=payload["exp"] - 1))
    assert_verified(await verify_record(record, node.fetch, now=payload["nbf"]))
    for now in (payload["exp"], payload["exp"] + 1, payload["exp"] + 10**6):
        assert_detected(await verify_record(record, node.fetch, now=now), "validity", only=True)
    for now in (payload["nbf"] - 1, 0):
        assert_detected(await verify_record(record, node.fetch, now=now), "validity", only=True)


# -- certificate chain -----------------------------------------------------------------------------


async def test_chain_to_the_trust_anchor(node: Node) -> None:
    root = KeyFile.generate()
    anchor = root.key.public_key()
    record = await node.record()
    assert_detected(await verify_record(record, node.fetch, trust_anchor=anchor), "chain", only=True)

    token = await node.core.keyring.certify(root, 10)
    _, cert = jws_parts(token)
    assert cert["sub"] == FIRST_KEY_REF
    report = await verify_record(record, node.fetch, trust_anchor=anchor)
    assert_verified(report)
    assert any(f.subject == "chain" and f.ok for f in report.findings)
    # records signed after certification verify too (and name the certificate in their chain)
    await node.put(f"{node.prefix}/pump-3", VALUES)
    later = await node.record(f"{node.prefix}/pump-3")
    assert jws_parts(signature_of(later))[1]["chain"] == [f"501:{NODE_HANDLE}"]
    assert_verified(await verify_record(later, node.fetch, trust_anchor=anchor))
    # ...but not once the certificate has expired, nor before it was issued
    assert_detected(
        await verify_record(record, node.fetch, trust_anchor=anchor, now=cert["exp"]), "chain", only=True
    )
    assert_detected(
        await verify_record(record, node.fetch, trust_anchor=anchor, now=cert["nbf"] - 1), "chain"
    )
    # the trust anchor may also be the node key itself
    node_key = (await node.core.keyring.active_key()).key
    assert_verified(await verify_record(record, node.fetch, trust_anchor=node_key.key.public_key()))
    # another anchor: the certificate is not signed by it
    stranger = KeyFile.generate().key.public_key()
    assert_detected(await verify_record(record, node.fetch, trust_anchor=stranger), "chain", only=True)


async def test_certificate_by_a_different_root_is_detected(node: Node) -> None:
    root, impostor = KeyFile.generate(), KeyFile.generate()
    await node.core.keyring.certify(impostor, 10)
    record = await node.record()
    assert_verified(await verify_record(record, node.fetch, trust_anchor=impostor.key.public_key()))
    report = await verify_record(record, node.fetch, trust_anchor=root.key.public_key())
    assert_detected(report, "chain", only=True)
    # an ES256 root certifying, an Ed25519 anchor expected: refused too
    await node.core.keyring.certify(KeyFile.generate(ES256), 10)
    report = await verify_record(record, node.fetch, trust_anchor=root.key.public_key())
    assert_detected(report, "chain", only=True)


async def test_certificate_for_a_different_key_is_detected(node: Node) -> None:
    root = KeyFile.generate()
    anchor = root.key.public_key()
    record = await node.record()
    node_key = (await node.core.keyring.active_key()).key

    def certificate(**changes: Any) -> str:
        claims = {
            "iss": f"jwk:{root.kid}",
            "sub": FIRST_KEY_REF,
            "jwk": node_key.public_jwk,
            "iat": 0,
            "nbf": 0,
            "exp": 2**40,
            **changes,
        }
        return jws_sign(root.key, claims, root.kid)

    def serve_cert(token: str) -> Fetch:
        def change(node_record: dict[str, Any]) -> None:
            node_record["values"] = [v for v in node_record["values"] if v["index"] != 501]
            node_record["values"].append({"index": 501, "type": "HS_CERT", "data": token})

        return serving(node.fetch, NODE_HANDLE, change)

    # the genuine certificate, served this way, passes (so the cases below fail for their reason)
    assert_verified(await verify_record(record, serve_cert(certificate()), trust_anchor=anchor))
    cases = {
        "another key's JWK": certificate(jwk=KeyFile.generate().public_jwk),
        "a P-256 JWK": certificate(jwk=KeyFile.generate(ES256).public_jwk),
        "no JWK": certificate(jwk=None),
        "another key reference": certificate(sub=f"302:{NODE_HANDLE}"),
        "expired": certificate(exp=1),
        "a forged certificate": jws_sign(KeyFile.generate().key, jws_parts(certificate())[1], root.kid),
    }
    for name, token in cases.items():
        report = await verify_record(record, serve_cert(token), trust_anchor=anchor)
        assert not report.ok and failing(report) == {"chain"}, (name, report.to_json())


async def test_rotation_and_resigning(node: Node) -> None:
    core = node.core
    root = KeyFile.generate()
    anchor = root.key.public_key()
    await core.keyring.certify(root, 10)
    before = await node.record()
    assert jws_parts(signature_of(before))[1]["iss"] == FIRST_KEY_REF

    new = await core.keyring.rotate(ED25519)
    assert new.ref == f"302:{NODE_HANDLE}" and new.chain == []
    # not yet re-signed: the old signature still verifies (the retired key stays published, certified)
    stale = await node.record()
    assert signature_of(stale) == signature_of(before)
    assert_verified(await verify_record(stale, node.fetch, trust_anchor=anchor))
    described = await core.keyring.describe()
    assert [k["status"] for k in described["keys"]] == ["retired", "active"]

    assert await core.keyring.resign_all() >= 3  # at least the record and the enterprise's two
    after = await node.record()
    assert jws_parts(signature_of(after))[1]["iss"] == new.ref
    assert_verified(await verify_record(after, node.fetch))
    # the new key has no certificate yet: it does not chain to the anchor
    assert_detected(await verify_record(after, node.fetch, trust_anchor=anchor), "chain", only=True)
    # a signature by the new key that claims the old (certified) key's reference is refused
    forged = resigned(after, new.key, FIRST_KEY_REF)
    assert_detected(await verify_record(forged, node.fetch, trust_anchor=anchor), "signature", only=True)
    await core.keyring.certify(root, 10)
    assert_verified(await verify_record(after, node.fetch, trust_anchor=anchor))
    # nothing went unsigned or unverifiable in the re-signing pass
    for handle in (f"0.NA/{node.prefix}", f"{node.prefix}/ADMIN"):
        assert_verified(await verify_record(await node.record(handle), node.fetch, trust_anchor=anchor))


# -- the transparency log --------------------------------------------------------------------------


async def test_inclusion_proof_verifies(node: Node) -> None:
    record = await node.record()
    proof = await node.core.log.inclusion(node.handle)
    report = await verify_inclusion(record, proof, node.fetch)
    assert_verified(report)
    assert {"signer key", "tree head", "inclusion", "entry", "content"} <= {
        f.subject for f in report.findings
    }
    assert proof["sth"]["tree_size"] == proof["leaf_index"] + 1  # the newest entry of this log
    # with a trust anchor: only once the signing key is certified
    root = KeyFile.generate()
    report = await verify_inclusion(record, proof, node.fetch, trust_anchor=root.key.public_key())
    assert_detected(report, "chain")
    await node.core.keyring.certify(root, 10)
    proof = await node.core.log.inclusion(node.handle)  # certify does not touch this record's entry
    report = await verify_inclusion(record, proof, node.fetch, trust_anchor=root.key.public_key())
    assert_verified(report)


async def test_tampered_audit_paths_are_detected(node: Node) -> None:
    await node.put(f"{node.prefix}/pump-2", VALUES)  # the entry is no longer the newest one
    record = await node.record()
    proof = await node.core.log.inclusion(node.handle)
    assert len(proof["audit_path"]) >= 2
    assert_verified(await verify_inclusion(record, proof, node.fetch))

    cases: dict[str, dict[str, Any]] = {
        "truncated": {**proof, "audit_path": proof["audit_path"][:-1]},
        "empty": {**proof, "audit_path": []},
        "extended": {**proof, "audit_path": [*proof["audit_path"], proof["audit_path"][0]]},
        "reordered": {**proof, "audit_path": list(reversed(proof["audit_path"]))},
        "forged first hash": {
            **proof,
            "audit_path": [flip_b64(proof["audit_path"][0]), *proof["audit_path"][1:]],
        },
        "forged last hash": {
            **proof,
            "audit_path": [*proof["audit_path"][:-1], flip_b64(proof["audit_path"][-1])],
        },
        "next leaf index": {**proof, "leaf_index": proof["leaf_index"] + 1},
        "previous leaf index": {**proof, "leaf_index": proof["leaf_index"] - 1},
        "leaf index beyond the tree": {**proof, "leaf_index": proof["sth"]["tree_size"]},
    }
    for name, tampered in cases.items():
        report = await verify_inclusion(record, tampered, node.fetch)
        assert not report.ok and "inclusion" in failing(report), (name, report.to_json())


async def test_entry_for_another_handle_is_detected(node: Node) -> None:
    other = f"{node.prefix}/pump-2"
    await node.put(other, VALUES)  # same values: only the handle differs
    record = await node.record()
    other_proof = await node.core.log.inclusion(other)
    assert_verified(await verify_inclusion(await node.record(other), other_proof, node.fetch))
    report = await verify_inclusion(record, other_proof, node.fetch)
    assert_detected(report, "entry")
    # an entry rewritten to name this handle no longer hashes to the logged leaf
    own = await node.core.log.inclusion(node.handle)
    forged_entry = other_proof["entry"].replace(other, node.handle)
    report = await verify_inclusion(record, {**other_proof, "entry": forged_entry}, node.fetch)
    assert_detected(report, "inclusion")
    assert own["leaf_index"] != other_proof["leaf_index"]


async def test_content_changed_after_the_proof_is_detected(node: Node) -> None:
    proof = await node.core.log.inclusion(node.handle)
    assert_verified(await verify_inclusion(await node.record(), proof, node.fetch))
    await node.put(node.handle, [{"index": 2, "type": "LOT", "data": "B-8"}], indexes=[2])
    changed = await node.record()
    assert_verified(await verify_record(changed, node.fetch))  # properly signed: only the log can tell
    report = await verify_inclusion(changed, proof, node.fetch)
    assert_detected(report, "content", only=True)
    fresh = await node.core.log.inclusion(node.handle)
    assert fresh["leaf_index"] > proof["leaf_index"]
    assert_verified(await verify_inclusion(changed, fresh, node.fetch))
    # a record tampered after the newest entry: content mismatch as well
    tampered = copy.deepcopy(changed)
    value_at(tampered, 1)["data"]["value"] = "https://evil.example/"
    assert_detected(await verify_inclusion(tampered, fresh, node.fetch), "content", only=True)


async def test_tree_head_signed_by_another_key_is_detected(node: Node) -> None:
    record = await node.record()
    proof = await node.core.log.inclusion(node.handle)
    header, payload = jws_parts(proof["sth"]["tree_head_signature"])
    assert header["kid"] == payload["iss"] == FIRST_KEY_REF
    for intruder in (KeyFile.generate(), KeyFile.generate(ES256)):
        forged_sth = {**proof["sth"], "tree_head_signature": jws_sign(intruder.key, payload, header["kid"])}
        report = await verify_inclusion(record, {**proof, "sth": forged_sth}, node.fetch)
        assert_detected(report, "tree head", only=True)
    # the intruder also claiming a key reference of its own, where nothing is published
    intruder = KeyFile.generate()
    ref = f"399:{NODE_HANDLE}"
    forged_sth = {**proof["sth"], "tree_head_signature": jws_sign(intruder.key, {**payload, "iss": ref}, ref)}
    report = await verify_inclusion(record, {**proof, "sth": forged_sth}, node.fetch)
    assert_detected(report, "signer key", only=True)
    # no signature at all
    unsigned = {k: v for k, v in proof["sth"].items() if k != "tree_head_signature"}
    assert_detected(await verify_inclusion(record, {**proof, "sth": unsigned}, node.fetch), "tree head")


async def test_tree_head_fields_altered_after_signing_are_detected(node: Node) -> None:
    record = await node.record()
    proof = await node.core.log.inclusion(node.handle)
    sth = proof["sth"]
    other_root = base64.b64encode(bytes(32)).decode()
    for name, value in {
        "tree_size": sth["tree_size"] + 1,
        "timestamp": sth["timestamp"] + 1,
        "sha256_root_hash": other_root,
    }.items():
        report = await verify_inclusion(record, {**proof, "sth": {**sth, name: value}}, node.fetch)
        assert_detected(report, "tree head", only=True)
    # a head that is internally consistent but for a bigger tree: the old path does not lead there
    await node.put(f"{node.prefix}/pump-2", VALUES)
    newer = await node.core.log.inclusion(f"{node.prefix}/pump-2")
    report = await verify_inclusion(record, {**proof, "sth": newer["sth"]}, node.fetch)
    assert_detected(report, "inclusion", only=True)


async def test_deleted_handle_logs_a_delete(node: Node) -> None:
    record = await node.record()
    before = await node.core.log.inclusion(node.handle)
    await node.core.registry.delete(node.admin, Identifier.parse(node.handle))
    assert await node.fetch(node.handle) is None
    proof = await node.core.log.inclusion(node.handle)
    entry = orjson.loads(proof["entry"])
    assert entry["action"] == "delete" and entry["record"] is None and entry["handle"] == node.handle
    assert proof["leaf_index"] > before["leaf_index"]
    # the proof itself is sound, but a client holding the old record learns it is gone
    report = await verify_inclusion(record, proof, node.fetch)
    assert_detected(report, "content", only=True)


async def test_consistency_between_real_heads(node: Node) -> None:
    log = node.core.log
    first = await log.signed_tree_head()
    for i in range(3):
        await node.put(f"{node.prefix}/batch-{i}", VALUES)
    second = await log.signed_tree_head()
    assert second["tree_size"] == first["tree_size"] + 3
    answer = await log.consistency(first["tree_size"], second["tree_size"])
    assert answer["first_root_hash"] == first["sha256_root_hash"]
    assert answer["second_root_hash"] == second["sha256_root_hash"]
    proof = answer["consistency"]
    assert proof
    assert verify_consistency(first, second, proof)
    # both heads are properly signed
    for head in (first, second):
        report = Report("tree head")
        assert await verify_tree_head(report, head, node.fetch, None, int(time.time())) is not None
        assert_verified(report)

    assert not verify_consistency(second, first, proof)  # swapped heads
    assert not verify_consistency(first, second, [flip_b64(proof[0]), *proof[1:]])
    assert not verify_consistency(first, second, [*proof[:-1], flip_b64(proof[-1])])
    assert not verify_consistency(first, second, proof[:-1])
    assert not verify_consistency(first, second, [*proof, proof[0]])
    assert not verify_consistency(first, second, [])
    assert not verify_consistency(
        {**first, "sha256_root_hash": flip_b64(first["sha256_root_hash"])}, second, proof
    )
    assert not verify_consistency(
        first, {**second, "sha256_root_hash": flip_b64(second["sha256_root_hash"])}, proof
    )
    # (tree sizes are bound to roots by the head signatures, not by the proof: an altered size is
    # caught by verify_tree_head, see test_tree_head_fields_altered_after_signing_are_detected)
    resized = {**second, "tree_size": second["tree_size"] + 1}
    assert await verify_tree_head(Report("tree head"), resized, node.fetch, None, int(time.time())) is None
    assert not verify_consistency(first, second, ["not base64!"])
    assert not verify_consistency({}, second, proof)
    # a head of the same size: consistent with itself only
    assert verify_consistency(second, second, [])
    assert not verify_consistency({**second, "sha256_root_hash": first["sha256_root_hash"]}, second, [])


async def test_log_survives_a_restart(settings: Settings) -> None:
    async with open_core(settings) as core:
        prefix, admin = await onboard(core, 7)
        handle = f"{prefix}/pump-1"
        await put(core, admin, handle, VALUES)
        await put(core, admin, f"{prefix}/pump-2", VALUES)
        head = await core.log.signed_tree_head()
        proof = await core.log.inclusion(handle)
        record = await fetcher(core)(handle)
        assert record is not None
        assert_verified(await verify_inclusion(record, proof, fetcher(core)))

    async with open_core(settings) as core:
        assert core.operator_secret is None  # the same node, not a new one
        fetch = fetcher(core)
        again = await core.log.signed_tree_head()
        assert (again["tree_size"], again["sha256_root_hash"]) == (
            head["tree_size"],
            head["sha256_root_hash"],
        )
        assert jws_parts(again["tree_head_signature"])[1]["iss"] == FIRST_KEY_REF
        record = await fetch(handle)
        assert record is not None
        assert_verified(await verify_record(record, fetch))
        assert_verified(await verify_inclusion(record, proof, fetch))  # the old proof still holds
        reproved = await core.log.inclusion(handle)
        assert (reproved["leaf_index"], reproved["audit_path"]) == (proof["leaf_index"], proof["audit_path"])
        # and the log grows on from where it was, append-only
        await put(core, admin, f"{prefix}/pump-3", VALUES)
        await put(core, admin, handle, [{"index": 2, "type": "LOT", "data": "B-9"}], indexes=[2])
        grown = await core.log.signed_tree_head()
        assert grown["tree_size"] == head["tree_size"] + 2
        consistency = await core.log.consistency(head["tree_size"], grown["tree_size"])
        assert verify_consistency(head, grown, consistency["consistency"])
        changed = await fetch(handle)
        assert changed is not None
        assert_verified(await verify_inclusion(changed, await core.log.inclusion(handle), fetch))
