"""SNMS data templates (``/snms/api/v5/template``) on the node's one template catalog.

A data template is stored as a version of a catalog template (``idnode.templates``), a JSON Schema
document converted from the v5 form (``idnode.model.data_template``): the data template ``version``
of ``prefix`` is the catalog template ``catalog_name(prefix, version)`` (``snms-<slug>-<digest>``),
and its current form is that name's latest version. Creating stores version 1; a change (PUT) stores
the next version; deleting deletes every version, and is refused (nothing deleted) while any record
uses one. Versions never change, so a record keeps the version it was registered with. The enterprise
owning the prefix (its admin credential) and the operator may create, change and delete; anyone may
read, as ``/api/templates`` shows the same documents.

Registration through the SNMS API (``check_values``): a record's ``templateVersion`` names, under the
record's prefix, a data template of that prefix, or a catalog reference ``<name>@<version>`` of a
node-wide template or one of the prefix's own. Its attribute values must be items of the template
(same index and type, format string), and the object they make, ``{idType: value}``, must satisfy the
template's JSON Schema (required items, disabled items, lengths): the same check the write path makes
for every record holding a template's fields as values (``idnode.metadata``), worded in Chinese. The
record then names the exact catalog version in a TEMPLATE value at index 1000, which is how every
later write (through any API) checks it against that version, and how deletion knows it is in use.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from idnode.model.data_template import (
    TEMPLATE_INDEX,
    catalog_name,
    from_document,
    parse_request,
    snms_facts,
    template_key,
)
from idnode.model.enterprise import EnterpriseStatus
from idnode.model.errors import (
    DataTemplateExists,
    DataTemplateNotFound,
    EnterpriseSuspended,
    InsufficientPermissions,
    PrefixNotHere,
    TemplateMismatch,
    TemplateNotFound,
)
from idnode.model.permissions import Principal, require_principal
from idnode.model.template import Template, parse_ref
from idnode.model.template_values import holds_values, metadata_from_values, require_known, schema_problems
from idnode.model.values import TEMPLATE, HandleValue
from idnode.storage.repository import Repository
from idnode.templates import TemplateCatalog

MAX_REPORTED = 5  # problems named in one message


class DataTemplates:
    """The SNMS data templates of every prefix on this node; see the module docstring."""

    def __init__(self, catalog: TemplateCatalog, repository: Repository) -> None:
        self.catalog = catalog
        self.repository = repository

    async def _versions(self, prefix: str, version: str) -> list[Template]:
        """The stored versions of the data template ``version`` of ``prefix``, oldest first."""
        found = await self.catalog.versions(catalog_name(prefix, version))
        return [t for t in found if snms_facts(t.document) == (prefix, version)]

    async def _latest(self, prefix: str, version: str) -> Template:
        """The latest version of the data template ``version`` of ``prefix``, read afresh (one row);
        raise DataTemplateNotFound."""
        try:
            template = await self.catalog.read(catalog_name(prefix, version))
        except TemplateNotFound:
            template = None
        if template is None or snms_facts(template.document) != (prefix, version):
            raise DataTemplateNotFound(f"数据模板不存在：前缀{prefix}没有模板版本{version}")
        return template

    async def lookup(self, prefix: str, template_version: str) -> Template:
        """The catalog template version an SNMS ``templateVersion`` names under ``prefix``: the
        latest version of that data template of the prefix, or the catalog version a reference
        ``<name>@<version>`` names if it is node-wide or the prefix's own. Raise DataTemplateNotFound."""
        prefix = prefix.lower()
        if parse_ref(template_version) is not None:
            try:
                template = await self.catalog.get(template_version)
            except TemplateNotFound:
                pass
            else:
                facts = snms_facts(template.document)
                if facts is None or facts[0] == prefix:
                    return template
        return await self._latest(prefix, template_version)

    async def check_values(
        self, prefix: str, template_version: str, values: Iterable[HandleValue]
    ) -> HandleValue:
        """Check the attribute values of an SNMS registration under ``prefix`` against the template
        ``template_version`` names (see ``lookup``); return the TEMPLATE value (index 1000, naming the
        exact catalog version) to store with them.

        Raises DataTemplateNotFound, or TemplateMismatch (an InvalidValue) with a Chinese message:
        a value at an index that is no item (``非法操作，索引1000在模板中不存在``), of another type or
        not a string, for a disabled item, too short or long, or a required item missing."""
        return check_template(await self.lookup(prefix, template_version), template_version, values)

    async def show(self, query: Mapping[str, Any]) -> dict[str, Any]:
        """The v5 answer for GET ``?prefix=&version=``: the template ``lookup`` finds, in v5 form, with
        the catalog ``ref`` records name it by."""
        prefix, version = template_key(query)
        template = await self.lookup(prefix, version)
        return {**from_document(template.document, template.ref).to_json(), "ref": template.ref}

    async def _require_owner(self, principal: Principal | None, prefix: str) -> Principal:
        """The caller if it may change the data templates of ``prefix``: the operator, or the admin of
        the enterprise holding it (not while suspended). Raise AuthenticationNeeded,
        InsufficientPermissions, PrefixNotHere or EnterpriseSuspended."""
        caller = require_principal(principal)
        if not caller.is_operator and not (caller.is_enterprise_admin and caller.prefix == prefix):
            raise InsufficientPermissions(f"{caller}没有权限管理前缀{prefix}的数据模板")
        enterprise = await self.repository.get_enterprise(prefix)
        if enterprise is None:
            raise PrefixNotHere(f"前缀{prefix}不在本节点")
        if enterprise.status is EnterpriseStatus.SUSPENDED and not caller.is_operator:
            raise EnterpriseSuspended(f"企业{prefix}已停用，数据模板不能修改")
        return caller

    async def create(self, principal: Principal | None, body: Any) -> Template:
        """Store a new data template (POST); raise DataTemplateExists if the prefix has that version."""
        prefix, version = template_key(body)
        caller = await self._require_owner(principal, prefix)
        name = catalog_name(prefix, version)
        if await self.catalog.versions(name):  # this data template, or (never seen) a digest collision
            raise DataTemplateExists(f"数据模板已存在：前缀{prefix}的模板版本{version}")
        return await self.catalog.add_version(caller, parse_request(body).document(), latest=0)

    async def change(self, principal: Principal | None, body: Any) -> Template:
        """Store the changed data template (PUT) as the next catalog version; records keep theirs."""
        prefix, version = template_key(body)
        caller = await self._require_owner(principal, prefix)
        current = await self._latest(prefix, version)
        wanted = parse_request(body, from_document(current.document, current.ref))
        return await self.catalog.add_version(caller, wanted.document(), latest=current.version)

    async def delete(self, principal: Principal | None, body: Any) -> None:
        """Delete every version of a data template, or none while records use any (TemplateInUse)."""
        prefix, version = template_key(body)
        caller = await self._require_owner(principal, prefix)
        versions = await self._versions(prefix, version)
        if not versions:
            raise DataTemplateNotFound(f"数据模板不存在：前缀{prefix}没有模板版本{version}")
        await self.catalog.withdraw(caller, [t.ref for t in versions])


def check_template(template: Template, template_version: str, values: Iterable[HandleValue]) -> HandleValue:
    """``DataTemplates.check_values`` once the template is found: for callers checking many records
    against the templates they looked up once (``template_version`` as the request named it)."""
    values = list(values)
    items = template.items
    if not holds_values(items):
        raise TemplateMismatch(
            f"模板{template_version}含非字符串属性，其元数据只能以METADATA（JSON）登记，不能以标识属性登记"
        )
    require_known(items, values)
    content, problems = metadata_from_values(items, values)
    problems += schema_problems(items, template.validator.iter_errors(content))
    if problems:
        ordered = sorted({p.chinese(): p.item.id_index for p in problems}.items(), key=lambda p: p[1])
        more = len(ordered) - MAX_REPORTED
        tail = f"；另有{more}处" if more > 0 else ""
        raise TemplateMismatch("；".join(text for text, _ in ordered[:MAX_REPORTED]) + tail)
    return HandleValue(index=TEMPLATE_INDEX, type=TEMPLATE, format="string", data=template.ref)
