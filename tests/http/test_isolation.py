"""Tenant isolation matrix: every write operation of the HTTP API, on every kind of target, with every
kind of credential, against one real node; exactly the allowed cells succeed, and a refused cell
changes nothing (the target, its prefix's listing, its enterprise, its owner's login, the templates,
the enterprises, the applications and the transparency log are the same before and after). The SNMS
business API's writes are cells too: ``/identityv2/data``... log in with the credential and send its
bearer token, ``/snms/api/v5/template`` takes Basic credentials; they answer an SNMS status (a batch:
its item's code) where the Handle API answers a responseCode, and either way 1 is success.

Credentials: none, a wrong password (for A's account), enterprise A's, a suspended enterprise S's,
the operator's. Targets: B's identifiers, B's prefix handle ``0.NA/<B>``, B's admin handle
``<B>/ADMIN``, B's enterprise, the node's own handle ``0.NA/88.999``, the node's templates, the
enterprise list, applications (submitted, under review); and, to show the allowed cells are
allowed, A's and S's own identifiers and S's enterprise. A cell expected to succeed acts on a fresh
copy of its target, so the shared targets only ever see refused writes.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from idnode.config import load_settings
from idnode.http.app import create_app
from idnode.sample import make_uscc
from tests.conftest import Server, stop_server
from tests.http.helpers import (
    Credentials,
    application_fields,
    application_form,
    apply,
    basic,
    onboard,
    operator,
)
from tests.http.test_login_security import start_configured
from tests.http.test_templates_api import new_template

CREDENTIALS = ("none", "wrong", "enterprise_a", "suspended", "operator")
AUTH = (401, 402)  # no or unverifiable credentials
DENY = (403, 401)  # a verified caller without the permission
OK = (200, 1)
CREATED = (201, 1)
SNMS_AUTH = (401, -1)  # SNMS: no live token (none sent, or the login failed)
SNMS_DENY = (403, -3)
SNMS_ITEM_DENY = (200, -3)  # a batch is answered, its item refused
SNMS_OK = (200, 1)
# Logging in and out changes no identifier, enterprise or template: not cells of the matrix.
SESSION_ROUTES = {("POST", "/identity/token"), ("POST", "/identity/token/v1"), ("DELETE", "/identity/token")}
_serial = itertools.count(1)


@dataclass
class Firm:
    prefix: str
    auth: Credentials


@dataclass
class World:
    node: Server
    a: Firm
    b: Firm
    s: Firm  # suspended
    template: str  # a template name the operator added
    snms_template: str  # a node-wide template of string fields, for SNMS registrations

    def credentials(self, kind: str) -> Credentials | None:
        return {
            "none": None,
            "wrong": basic(self.a.auth.username, "not-a's-secret"),
            "enterprise_a": self.a.auth,
            "suspended": self.s.auth,
            "operator": operator(self.node),
        }[kind]


@dataclass
class Target:
    """One concrete thing a cell writes to; ``None`` fields do not apply."""

    handle: str | None = None
    index: int | None = None  # the index of an existing value to modify or remove
    value: dict[str, Any] | None = None  # what modify_value puts there
    firm: Firm | None = None  # whose prefix (listing, enterprise details, owner login)
    template: str | None = None  # name@version
    data_template: str | None = None  # a version of an SNMS data template of ``firm``
    application: str | None = None  # an application's id


TargetMaker = Callable[[aiohttp.ClientSession, World, bool], Awaitable[Target]]


# -- targets: each builds a shared (refused cells) or fresh (allowed cells) instance ------------------


async def _item(session: aiohttp.ClientSession, world: World, firm: Firm) -> Target:
    """A new identifier of ``firm``, registered by the operator (identifiers are cheap: every cell,
    allowed or refused, gets its own)."""
    handle = f"{firm.prefix}/ITEM-{next(_serial)}"
    values = [{"index": 1, "type": "URL", "data": "https://example.com/item"}]
    async with session.put(
        f"{world.node.url}/api/handles/{handle}", json=values, headers=operator(world.node)
    ) as resp:
        assert resp.status == 200, await resp.text()
    return Target(handle, 1, {"index": 1, "type": "URL", "data": "https://attacker.example"}, firm)


async def _fresh_firm(
    session: aiohttp.ClientSession, world: World, fresh: bool, suspended: bool = False
) -> Firm:
    """A newly onboarded enterprise if ``fresh``, else the shared victim B (or S if ``suspended``)."""
    if not fresh:
        return world.s if suspended else world.b
    firm = Firm(*await onboard(session, world.node))
    if suspended:
        await _patch(session, world, firm.prefix, {"status": "suspended"})
    return firm


async def _patch(session: aiohttp.ClientSession, world: World, prefix: str, body: dict[str, Any]) -> None:
    url = f"{world.node.url}/api/enterprises/{prefix}"
    async with session.patch(url, json=body, headers=operator(world.node)) as resp:
        assert resp.status == 200, await resp.text()


def _of(make: Callable[[aiohttp.ClientSession, World, Firm], Awaitable[Target]], firm: str) -> TargetMaker:
    """A target maker making ``make``'s kind of target for the world's firm ``firm`` (a, b or s), named
    ``<firm><make's name>`` (``b_item``) in the cells' ids."""

    async def target(session: aiohttp.ClientSession, world: World, fresh: bool) -> Target:
        return await make(session, world, getattr(world, firm))

    target.__name__ = f"{firm}{make.__name__}"
    return target


b_item, a_item, s_item = (_of(_item, firm) for firm in "bas")


async def b_admin(session: aiohttp.ClientSession, world: World, fresh: bool) -> Target:
    firm = await _fresh_firm(session, world, fresh)
    seckey = {"index": 300, "type": "HS_SECKEY", "data": "attacker-chosen-secret"}
    return Target(f"{firm.prefix}/ADMIN", 300, seckey, firm)


async def b_prefix(session: aiohttp.ClientSession, world: World, fresh: bool) -> Target:
    firm = await _fresh_firm(session, world, fresh)
    vlist = {
        "index": 200,
        "type": "HS_VLIST",
        "data": {"format": "vlist", "value": [{"handle": f"{world.a.prefix}/ADMIN", "index": 300}]},
    }
    return Target(f"0.NA/{firm.prefix}", 200, vlist, firm)


async def node_handle(session: aiohttp.ClientSession, world: World, fresh: bool) -> Target:
    seckey = {"index": 300, "type": "HS_SECKEY", "data": "attacker-chosen-secret"}
    return Target("0.NA/88.999", 300, seckey)


async def b_enterprise(session: aiohttp.ClientSession, world: World, fresh: bool) -> Target:
    return Target(firm=await _fresh_firm(session, world, fresh))


async def s_enterprise(session: aiohttp.ClientSession, world: World, fresh: bool) -> Target:
    return Target(firm=await _fresh_firm(session, world, fresh, suspended=True))


async def templates(session: aiohttp.ClientSession, world: World, fresh: bool) -> Target:
    if not fresh:
        return Target(template=f"{world.template}@1")
    name = f"iso-{next(_serial)}"
    async with session.post(
        f"{world.node.url}/api/templates", json=new_template(name), headers=operator(world.node)
    ) as resp:
        assert resp.status == 201, await resp.text()
    return Target(template=f"{name}@1")


async def enterprises(session: aiohttp.ClientSession, world: World, fresh: bool) -> Target:
    return Target()


async def _data_template(session: aiohttp.ClientSession, world: World, firm: Firm) -> Target:
    """A new SNMS data template of ``firm``, stored by the operator (one per cell, like identifiers)."""
    version = f"iso-{next(_serial)}"
    url = f"{world.node.url}/snms/api/v5/template"
    async with session.post(url, json=_v5_body(firm.prefix, version), headers=operator(world.node)) as resp:
        assert (await resp.json())["status"] == 1
    return Target(firm=firm, data_template=version)


b_data_template, a_data_template, s_data_template = (_of(_data_template, firm) for firm in "bas")


async def submitted(session: aiohttp.ClientSession, world: World, fresh: bool) -> Target:
    """A new application (every cell gets its own: they are cheap)."""
    application_id, _, _ = await apply(session, world.node)
    return Target(application=application_id)


async def under_review(session: aiohttp.ClientSession, world: World, fresh: bool) -> Target:
    target = await submitted(session, world, fresh)
    url = _api(world, f"applications/{target.application}/review")
    async with session.post(url, headers=operator(world.node)) as resp:
        assert resp.status == 200, await resp.text()
    return target


async def approved(session: aiohttp.ClientSession, world: World, fresh: bool) -> Target:
    """An approved application, with its enterprise as the operator's approval left it (the owner
    login then shows a collection that happened: the approval-time secret stops working)."""
    target = await under_review(session, world, fresh)
    url = _api(world, f"applications/{target.application}/approve")
    async with session.post(url, headers=operator(world.node)) as resp:
        assert resp.status == 200, await resp.text()
        admin = (await resp.json())["admin"]
    prefix = admin["username"].removeprefix("300:").removesuffix("/ADMIN")
    firm = Firm(prefix, basic(admin["username"], admin["secret"]))
    return Target(application=target.application, firm=firm)


# -- operations: each sends one request and answers (HTTP status, responseCode) --------------------

Operation = Callable[[aiohttp.ClientSession, World, Target, Credentials | None], Awaitable[tuple[int, int]]]


async def _send(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    auth: Credentials | None,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> tuple[int, int]:
    async with session.request(method, url, headers={**(auth or {}), **(headers or {})}, **kwargs) as resp:
        body = await resp.json()
        return resp.status, body["responseCode"]


def _api(world: World, path: str) -> str:
    return f"{world.node.url}/api/{path}"


async def _put_new(
    session: aiohttp.ClientSession,
    world: World,
    t: Target,
    auth: Credentials | None,
    suffix: str,
    params: dict[str, str],
) -> tuple[int, int]:
    """PUT a new identifier under the target's prefix."""
    assert t.firm is not None
    url = _api(world, f"handles/{t.firm.prefix}/{suffix}")
    values = [{"index": 1, "type": "URL", "data": "https://new.example"}]
    return await _send(session, "PUT", url, auth, json=values, params=params)


async def create(
    session: aiohttp.ClientSession, world: World, t: Target, auth: Credentials | None
) -> tuple[int, int]:
    return await _put_new(session, world, t, auth, f"NEW-{next(_serial)}", {"overwrite": "false"})


async def mint(
    session: aiohttp.ClientSession, world: World, t: Target, auth: Credentials | None
) -> tuple[int, int]:
    return await _put_new(session, world, t, auth, "M-", {"mintNewSuffix": "true"})


async def bulk(
    session: aiohttp.ClientSession, world: World, t: Target, auth: Credentials | None
) -> tuple[int, int]:
    assert t.firm is not None and t.handle is not None
    suffix = t.handle.split("/", 1)[1]
    body = f"suffix,url\n{suffix},https://bulk.example\nBULK-{next(_serial)},https://bulk.example\n"
    return await _send(
        session,
        "POST",
        _api(world, "bulk"),
        auth,
        {"Content-Type": "text/csv"},
        data=body.encode(),
        params={"prefix": t.firm.prefix},
    )


async def replace(
    session: aiohttp.ClientSession, world: World, t: Target, auth: Credentials | None
) -> tuple[int, int]:
    values = [{"index": 1, "type": "URL", "data": "https://replaced.example"}]
    return await _send(session, "PUT", _api(world, f"handles/{t.handle}"), auth, json=values)


async def add_value(
    session: aiohttp.ClientSession, world: World, t: Target, auth: Credentials | None
) -> tuple[int, int]:
    value = {"index": 7, "type": "EMAIL", "data": "attacker@example.com"}
    params = {"index": "7", "overwrite": "false"}
    return await _send(session, "PUT", _api(world, f"handles/{t.handle}"), auth, json=[value], params=params)


async def modify_value(
    session: aiohttp.ClientSession, world: World, t: Target, auth: Credentials | None
) -> tuple[int, int]:
    params = {"index": str(t.index)}
    return await _send(
        session, "PUT", _api(world, f"handles/{t.handle}"), auth, json=[t.value], params=params
    )


async def remove_value(
    session: aiohttp.ClientSession, world: World, t: Target, auth: Credentials | None
) -> tuple[int, int]:
    return await _send(
        session, "DELETE", _api(world, f"handles/{t.handle}"), auth, params={"index": str(t.index)}
    )


async def delete(
    session: aiohttp.ClientSession, world: World, t: Target, auth: Credentials | None
) -> tuple[int, int]:
    return await _send(session, "DELETE", _api(world, f"handles/{t.handle}"), auth)


def _patching(name: str, changes: dict[str, str]) -> Operation:
    """An operation changing the target's enterprise with ``PATCH /api/enterprises/{prefix}``."""

    async def patch(
        session: aiohttp.ClientSession, world: World, t: Target, auth: Credentials | None
    ) -> tuple[int, int]:
        assert t.firm is not None
        return await _send(session, "PATCH", _api(world, f"enterprises/{t.firm.prefix}"), auth, json=changes)

    patch.__name__ = name
    return patch


update = _patching("update", {"contact_name": "Mallory"})
suspend = _patching("suspend", {"status": "suspended"})
activate = _patching("activate", {"status": "active"})


async def reset_secret(
    session: aiohttp.ClientSession, world: World, t: Target, auth: Credentials | None
) -> tuple[int, int]:
    assert t.firm is not None
    return await _send(session, "POST", _api(world, f"enterprises/{t.firm.prefix}/secret"), auth)


async def add_template(
    session: aiohttp.ClientSession, world: World, t: Target, auth: Credentials | None
) -> tuple[int, int]:
    assert t.template is not None
    return await _send(
        session, "POST", _api(world, "templates"), auth, json=new_template(t.template.split("@")[0])
    )


async def delete_template(
    session: aiohttp.ClientSession, world: World, t: Target, auth: Credentials | None
) -> tuple[int, int]:
    assert t.template is not None
    name, version = t.template.split("@")
    return await _send(session, "DELETE", _api(world, f"templates/{name}/{version}"), auth)


async def add_enterprise(
    session: aiohttp.ClientSession, world: World, t: Target, auth: Credentials | None
) -> tuple[int, int]:
    serial = 900_000 + next(_serial)
    body = {
        "name": f"隔离测试{serial}",
        "uscc": make_uscc(serial),
        "district": "盐都区",
        "industry": "通用设备制造业",
    }
    return await _send(session, "POST", _api(world, "enterprises"), auth, json=body)


async def _snms(
    session: aiohttp.ClientSession,
    world: World,
    auth: Credentials | None,
    method: str,
    path: str,
    body: Any,
) -> tuple[int, int]:
    """Log in to the SNMS API with ``auth`` and send one request with the token (none if there is no
    credential or the login fails); answer (HTTP status, SNMS status or a batch's item code)."""
    headers = {}
    if auth is not None:
        login = {"username": auth.username, "password": auth.secret}
        async with session.post(f"{world.node.url}/identity/token", json=login) as resp:
            answer = await resp.json()
        if answer["status"] == 1:
            headers["Authorization"] = f"Bearer {answer['data']['token']}"
    async with session.request(method, f"{world.node.url}{path}", json=body, headers=headers) as resp:
        answer = await resp.json()
        data = answer["data"]
        return resp.status, data[0]["code"] if isinstance(data, list) else answer["status"]


def _snms_record(world: World, handle: str) -> dict[str, Any]:
    value = {"index": 2000, "type": "name", "data": {"format": "string", "value": "SNMS"}}
    return {"handle": handle, "templateVersion": f"{world.snms_template}@1", "value": [value]}


def _new_handle(t: Target) -> str:
    assert t.firm is not None
    return f"{t.firm.prefix}/SN-{next(_serial)}"


async def snms_create(
    session: aiohttp.ClientSession, world: World, t: Target, auth: Credentials | None
) -> tuple[int, int]:
    return await _snms(session, world, auth, "POST", "/identityv2/data", _snms_record(world, _new_handle(t)))


async def snms_update(
    session: aiohttp.ClientSession, world: World, t: Target, auth: Credentials | None
) -> tuple[int, int]:
    assert t.handle is not None
    return await _snms(session, world, auth, "PUT", "/identityv2/data", _snms_record(world, t.handle))


async def snms_delete(
    session: aiohttp.ClientSession, world: World, t: Target, auth: Credentials | None
) -> tuple[int, int]:
    return await _snms(session, world, auth, "DELETE", "/identityv2/data", {"handle": t.handle})


async def snms_batch_create(
    session: aiohttp.ClientSession, world: World, t: Target, auth: Credentials | None
) -> tuple[int, int]:
    body = [_snms_record(world, _new_handle(t))]
    return await _snms(session, world, auth, "POST", "/identityv2/data/batchCreate", body)


async def snms_batch_update(
    session: aiohttp.ClientSession, world: World, t: Target, auth: Credentials | None
) -> tuple[int, int]:
    assert t.handle is not None
    body = [_snms_record(world, t.handle)]
    return await _snms(session, world, auth, "PUT", "/identityv2/data/batchUpdate", body)


async def snms_batch_delete(
    session: aiohttp.ClientSession, world: World, t: Target, auth: Credentials | None
) -> tuple[int, int]:
    return await _snms(session, world, auth, "DELETE", "/identityv2/data/batchDelete", [t.handle])


def _v5_body(prefix: str, version: str, state: int | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"name": "名称", "idType": "name", "idIndex": 2000, "required": False}
    item["metadata"] = {"type": "string", "minLength": 1, "maxLength": 10}
    if state is not None:
        item["state"] = state
    industry = {"industryCategory": "C", "industrySpecific": "34", "industryTrade": "344"}
    return {
        "prefix": prefix,
        "version": version,
        **industry,
        "industrySubclass": "3441",
        "type": 1,
        "items": [item],
    }


async def _v5(
    session: aiohttp.ClientSession, world: World, method: str, auth: Credentials | None, body: Any
) -> tuple[int, int]:
    """Send ``/snms/api/v5/template`` a request with Basic credentials; (HTTP status, SNMS status)."""
    url = f"{world.node.url}/snms/api/v5/template"
    async with session.request(method, url, json=body, headers=auth) as resp:
        return resp.status, (await resp.json())["status"]


async def template_create(
    session: aiohttp.ClientSession, world: World, t: Target, auth: Credentials | None
) -> tuple[int, int]:
    assert t.firm is not None
    return await _v5(session, world, "POST", auth, _v5_body(t.firm.prefix, f"iso-{next(_serial)}"))


async def template_change(
    session: aiohttp.ClientSession, world: World, t: Target, auth: Credentials | None
) -> tuple[int, int]:
    assert t.firm is not None and t.data_template is not None
    return await _v5(session, world, "PUT", auth, _v5_body(t.firm.prefix, t.data_template, state=0))


async def template_delete(
    session: aiohttp.ClientSession, world: World, t: Target, auth: Credentials | None
) -> tuple[int, int]:
    assert t.firm is not None
    return await _v5(session, world, "DELETE", auth, {"prefix": t.firm.prefix, "version": t.data_template})


async def submit_application(
    session: aiohttp.ClientSession, world: World, t: Target, auth: Credentials | None
) -> tuple[int, int]:
    form = application_form(application_fields())
    return await _send(session, "POST", _api(world, "applications"), auth, data=form)


def _acting(action: str, body: dict[str, str] | None = None) -> Operation:
    """An operation taking ``action`` on the target application."""

    async def act(
        session: aiohttp.ClientSession, world: World, t: Target, auth: Credentials | None
    ) -> tuple[int, int]:
        url = _api(world, f"applications/{t.application}/{action}")
        return await _send(session, "POST", url, auth, json=body)

    act.__name__ = f"{action}_application"
    return act


review_application = _acting("review")
approve_application = _acting("approve")
reject_application = _acting("reject", {"reason": "材料不全"})
withdraw_application = _acting("withdraw")  # the applicant's token is not among the credentials here
# The applicant's alone (with its token, tested in test_applications_api.py): no Basic credential may.
collect_credential = _acting("credential")


# -- the table ---------------------------------------------------------------------------------------


ROUTES: dict[Operation, tuple[str, str]] = {
    create: ("PUT", "/api/handles/{handle}"),
    mint: ("PUT", "/api/handles/{handle}"),
    replace: ("PUT", "/api/handles/{handle}"),
    add_value: ("PUT", "/api/handles/{handle}"),
    modify_value: ("PUT", "/api/handles/{handle}"),
    remove_value: ("DELETE", "/api/handles/{handle}"),
    delete: ("DELETE", "/api/handles/{handle}"),
    bulk: ("POST", "/api/bulk"),
    update: ("PATCH", "/api/enterprises/{prefix}"),
    suspend: ("PATCH", "/api/enterprises/{prefix}"),
    activate: ("PATCH", "/api/enterprises/{prefix}"),
    reset_secret: ("POST", "/api/enterprises/{prefix}/secret"),
    add_enterprise: ("POST", "/api/enterprises"),
    add_template: ("POST", "/api/templates"),
    delete_template: ("DELETE", "/api/templates/{name}/{version}"),
    snms_create: ("POST", "/identityv2/data"),
    snms_update: ("PUT", "/identityv2/data"),
    snms_delete: ("DELETE", "/identityv2/data"),
    snms_batch_create: ("POST", "/identityv2/data/batchCreate"),
    snms_batch_update: ("PUT", "/identityv2/data/batchUpdate"),
    snms_batch_delete: ("DELETE", "/identityv2/data/batchDelete"),
    template_create: ("POST", "/snms/api/v5/template"),
    template_change: ("PUT", "/snms/api/v5/template"),
    template_delete: ("DELETE", "/snms/api/v5/template"),
    submit_application: ("POST", "/api/applications"),
    review_application: ("POST", "/api/applications/{id}/{action}"),
    approve_application: ("POST", "/api/applications/{id}/{action}"),
    reject_application: ("POST", "/api/applications/{id}/{action}"),
    withdraw_application: ("POST", "/api/applications/{id}/{action}"),
    collect_credential: ("POST", "/api/applications/{id}/credential"),
}


def row(*cells: tuple[int, int]) -> dict[str, tuple[int, int]]:
    """Expected (status, responseCode) per credential, in the order of CREDENTIALS."""
    return dict(zip(CREDENTIALS, cells, strict=True))


def operator_only(ok: tuple[int, int]) -> dict[str, tuple[int, int]]:
    return row(AUTH, AUTH, DENY, DENY, ok)


ITEM_OPERATIONS: dict[Operation, tuple[int, int]] = {
    create: CREATED,
    mint: CREATED,
    replace: OK,
    add_value: OK,
    modify_value: OK,
    remove_value: OK,
    delete: OK,
    bulk: OK,
}
VALUE_OPERATIONS = (replace, add_value, modify_value, remove_value, delete)
TEMPLATE_OPERATIONS = (template_create, template_change, template_delete)
SNMS_OPERATIONS = {
    snms_create: SNMS_DENY,
    snms_update: SNMS_DENY,
    snms_delete: SNMS_DENY,
    snms_batch_create: SNMS_ITEM_DENY,
    snms_batch_update: SNMS_ITEM_DENY,
    snms_batch_delete: SNMS_ITEM_DENY,
}

TABLE: list[tuple[Operation, TargetMaker, dict[str, tuple[int, int]]]] = [
    *[(op, b_item, operator_only(ok)) for op, ok in ITEM_OPERATIONS.items()],
    *[(op, a_item, row(AUTH, AUTH, ok, DENY, ok)) for op, ok in ITEM_OPERATIONS.items()],
    # A suspended enterprise may not change even its own identifiers; the operator may.
    *[(op, s_item, operator_only(ok)) for op, ok in ITEM_OPERATIONS.items()],
    *[(op, b_admin, operator_only(OK)) for op in VALUE_OPERATIONS],
    *[(op, b_prefix, operator_only(OK)) for op in VALUE_OPERATIONS],
    # The node's own handle (operator credential, signing keys) is nobody's to write, not even the operator's.
    *[(op, node_handle, row(AUTH, AUTH, DENY, DENY, DENY)) for op in VALUE_OPERATIONS],
    (update, b_enterprise, operator_only(OK)),
    (suspend, b_enterprise, operator_only(OK)),
    (reset_secret, b_enterprise, operator_only(OK)),
    (activate, s_enterprise, operator_only(OK)),  # a suspended enterprise cannot lift its suspension
    (add_template, templates, operator_only(CREATED)),
    (delete_template, templates, operator_only(OK)),
    (add_enterprise, enterprises, operator_only(CREATED)),
    # The SNMS API on the same identifiers: only their enterprise (unless suspended) and the operator.
    *[(op, b_item, row(SNMS_AUTH, SNMS_AUTH, deny, deny, SNMS_OK)) for op, deny in SNMS_OPERATIONS.items()],
    *[
        (op, a_item, row(SNMS_AUTH, SNMS_AUTH, SNMS_OK, deny, SNMS_OK))
        for op, deny in SNMS_OPERATIONS.items()
    ],
    *[(op, s_item, row(SNMS_AUTH, SNMS_AUTH, deny, deny, SNMS_OK)) for op, deny in SNMS_OPERATIONS.items()],
    # SNMS data templates: their enterprise (unless suspended) and the operator.
    *[
        (op, b_data_template, row(SNMS_AUTH, SNMS_AUTH, SNMS_DENY, SNMS_DENY, SNMS_OK))
        for op in TEMPLATE_OPERATIONS
    ],
    *[
        (op, a_data_template, row(SNMS_AUTH, SNMS_AUTH, SNMS_OK, SNMS_DENY, SNMS_OK))
        for op in TEMPLATE_OPERATIONS
    ],
    *[
        (op, s_data_template, row(SNMS_AUTH, SNMS_AUTH, SNMS_DENY, SNMS_DENY, SNMS_OK))
        for op in TEMPLATE_OPERATIONS
    ],
    # Anyone may apply, but credentials that are sent must verify.
    (submit_application, enterprises, row(CREATED, AUTH, CREATED, CREATED, CREATED)),
    (review_application, submitted, operator_only(OK)),
    (approve_application, under_review, operator_only(OK)),
    (reject_application, under_review, operator_only(OK)),
    (withdraw_application, submitted, operator_only(OK)),
    (collect_credential, approved, row(AUTH, AUTH, DENY, DENY, DENY)),
]
CELLS = [
    pytest.param(
        op, target, credential, expected[credential], id=f"{op.__name__}-{target.__name__}-{credential}"
    )
    for op, target, expected in TABLE
    for credential in CREDENTIALS
]


def string_template(name: str) -> dict[str, Any]:
    """A template whose one field is a string, at index 2000: records may hold it as a value."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:idnode:template:{name}",
        "title": "隔离测试数据模板",
        "x-title-en": "Isolation test data template",
        "type": "object",
        "properties": {"name": {"title": "名称", "type": "string", "maxLength": 64, "x-id-index": 2000}},
        "additionalProperties": False,
    }


# -- the node and the world --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # Limits far above the matrix's wrong-password cells: this module tests permissions, not throttling.
    node = start_configured(
        tmp_path_factory.mktemp("isolation"),
        login_failures_per_account=100_000,
        login_failures_per_client=100_000,
    )

    async def build() -> World:
        async with aiohttp.ClientSession() as session:
            a, b, s = [Firm(*await onboard(session, node)) for _ in range(3)]
            partial = World(node, a, b, s, f"iso-shared-{next(_serial)}", f"iso-snms-{next(_serial)}")
            await _patch(session, partial, s.prefix, {"status": "suspended"})
            url = f"{node.url}/api/templates"
            for document in (new_template(partial.template), string_template(partial.snms_template)):
                async with session.post(url, json=document, headers=operator(node)) as resp:
                    assert resp.status == 201, await resp.text()
            return partial

    try:
        yield asyncio.run(build())
    finally:
        stop_server(node)


async def _read(session: aiohttp.ClientSession, url: str, auth: Credentials | None = None) -> tuple[int, Any]:
    async with session.get(url, headers=auth) as resp:
        return resp.status, await resp.json()


async def snapshot(session: aiohttp.ClientSession, world: World, t: Target) -> dict[str, Any]:
    """Everything a write to ``t`` could change, read with the operator's credential."""
    op = operator(world.node)
    state: dict[str, Any] = {
        "log size": (await _read(session, _api(world, "log/sth")))[1]["tree_size"],
        "templates": await _read(session, _api(world, "templates")),
        "enterprises": (await _read(session, _api(world, "enterprises?pageSize=0"), op))[1]["totalCount"],
        "applications": (await _read(session, _api(world, "applications?pageSize=0"), op))[1]["totalCount"],
    }
    if t.application:
        state["application"] = await _read(session, _api(world, f"applications/{t.application}"), op)
    if t.handle:
        state["record"] = await _read(session, _api(world, f"handles/{t.handle}"), op)
    if t.firm:
        prefix = t.firm.prefix
        state["listing"] = await _read(session, _api(world, f"handles?prefix={prefix}&pageSize=1000"), op)
        state["enterprise"] = await _read(session, _api(world, f"enterprises/{prefix}"), op)
        state["owner login"] = (await _read(session, _api(world, f"handles/{prefix}/ADMIN"), t.firm.auth))[0]
    return state


# -- the tests ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("operation", "target", "credential", "expected"), CELLS)
async def test_cell(
    world: World,
    session: aiohttp.ClientSession,
    operation: Operation,
    target: TargetMaker,
    credential: str,
    expected: tuple[int, int],
) -> None:
    allowed = expected[1] == 1  # responseCode 1, SNMS status 1
    instance = await target(session, world, allowed)
    before = await snapshot(session, world, instance)
    answer = await operation(session, world, instance, world.credentials(credential))
    after = await snapshot(session, world, instance)
    assert answer == expected
    if allowed:
        assert after != before  # the snapshot sees the write, so it would see a refused one that wrote
    else:
        assert after == before


# Browser pages sign in with a session cookie and send a CSRF token with every form, not Basic
# credentials; their cross-tenant, CSRF and sign-in refusals are tested in test_portal.py,
# test_console.py and test_portal_applications.py.
PAGE_AREAS = ("/portal", "/console")


def test_the_matrix_covers_every_write_route() -> None:
    """A new write route must join the table above (and say who may use it)."""
    app = create_app(load_settings({}, environ={}))
    writes = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.method not in ("GET", "HEAD", "OPTIONS")
        and route.resource is not None
        and not route.resource.canonical.startswith(PAGE_AREAS)
    }
    assert writes - SESSION_ROUTES == set(ROUTES.values())
    assert {op for op, _, _ in TABLE} == set(ROUTES)
