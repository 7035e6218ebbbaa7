"""The node's catalog of metadata templates: stored versions, a cache of them, and the operator's changes.

Template versions are stored in the ``templates`` table and never change; a deleted version keeps its
row (emptied), so its number is never given again. A reference ``name@version`` therefore always means
the same document, and every process may cache what it has read for as long as it runs: a cached
version stays right even after another process stores new versions. Only deletion is not seen through
the cache, so whatever must not act on a deleted version asks the database: writes lock the versions
they use (``hold``), and the HTTP reads (``versions``, ``read``) read afresh.

The templates shipped with idnode (``schema/templates/*.json`` in the source tree, installed as
``idnode/schema/templates``) are added by ``seed`` at every start when the node lacks them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from importlib import resources
from typing import Any

import orjson

from idnode.derived import TEMPLATE_KEY
from idnode.model.errors import InvalidTemplate, TemplateExists, TemplateInUse, TemplateNotFound
from idnode.model.permissions import Principal, require_operator
from idnode.model.template import Template, check_document, document_identity, parse_ref, stamped
from idnode.storage.repository import DuplicateKey, Repository, StoredTemplate, Transaction

__all__ = ["SHIPPED_BY", "Template", "TemplateCatalog", "shipped_documents"]

SHIPPED_BY = "idnode"  # created_by of the shipped templates (added by the node, not audited)


def shipped_documents() -> list[dict[str, Any]]:
    """The template documents shipped with idnode, by file name."""
    folder = resources.files("idnode") / "schema" / "templates"
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".json")), key=lambda f: f.name)
    return [orjson.loads(f.read_bytes()) for f in files]


def _target(ref: str) -> str:
    """The audit target of a template version."""
    return f"template:{ref}"


class TemplateCatalog:
    """Template versions by reference (``solar-module@1``), cached; see the module docstring."""

    def __init__(self, repository: Repository) -> None:
        self.repository = repository
        self._cache: dict[str, Template] = {}

    def _known(self, rows: Iterable[StoredTemplate]) -> list[Template]:
        """Templates for stored rows, cached (a cached version is reused: it cannot have changed)."""
        found = []
        for row in rows:
            ref = f"{row.name}@{row.version}"
            if ref not in self._cache:
                self._cache[ref] = Template(row.name, row.version, orjson.loads(row.document), row.created_at)
            found.append(self._cache[ref])
        return found

    async def get(self, ref: str, tx: Transaction | None = None) -> Template:
        """The template version ``ref`` names; raise TemplateNotFound. Reads through ``tx`` if given.

        A version another process deleted after this one cached it is still returned; writes check
        existence with ``hold``."""
        found = (await self.get_many([ref], tx)).get(ref)
        if found is None:
            raise TemplateNotFound(f"No template {ref} on this node.")
        return found

    async def get_many(self, refs: Iterable[str], tx: Transaction | None = None) -> dict[str, Template]:
        """The template versions these references name, those not cached read in one query (through
        ``tx`` if given); references to no stored version are left out."""
        refs = set(refs)
        keys = {key for ref in refs if ref not in self._cache and (key := parse_ref(ref)) is not None}
        if keys:
            self._known(await (tx.templates(keys) if tx else self.repository.templates(keys)))
        return {ref: self._cache[ref] for ref in refs if ref in self._cache}

    async def hold(self, tx: Transaction, refs: Collection[str]) -> dict[str, Template]:
        """The template versions ``refs`` name that exist, locked against deletion until ``tx`` ends
        (one query); references to no stored version are left out."""
        keys = {key for ref in refs if (key := parse_ref(ref)) is not None}
        return {t.ref: t for t in self._known(await tx.templates(keys, lock="share"))}

    async def versions(self, name: str | None = None) -> list[Template]:
        """Every stored version (of ``name``, or of all templates), by name and version, read afresh."""
        return self._known(await self.repository.templates(name=name))

    async def listing(self) -> list[dict[str, Any]]:
        """Each template's latest version (name, version, titles) and all its ``versions``, by name."""
        by_name: dict[str, list[Template]] = {}
        for template in await self.versions():
            by_name.setdefault(template.name, []).append(template)
        return [{**found[-1].summary(), "versions": [t.version for t in found]} for found in by_name.values()]

    async def read(self, name: str, version: int | None = None) -> Template:
        """Version ``version`` of ``name`` (default: the latest), read afresh; raise TemplateNotFound."""
        if version is None:
            latest = await self.repository.latest_template(name)
            versions = self._known([latest] if latest else [])
        else:
            key = parse_ref(f"{name}@{version}")  # a name no template can have is looked up nowhere
            versions = self._known(await self.repository.templates([key])) if key else []
        if not versions:
            raise TemplateNotFound(
                f"No template {name}{'' if version is None else f'@{version}'} on this node."
            )
        return versions[-1]

    async def add(self, principal: Principal | None, document: Any) -> Template:
        """Store ``document`` as the next version of the template its ``$id`` names. Operator only.

        The node numbers versions 1, 2, ... per name and writes ``$id`` and ``x-version`` into the
        stored document; a document that states a version (in ``$id`` or ``x-version``) must state the
        one it gets, so the same document sent twice is refused (TemplateExists) rather than stored
        twice. Raises InvalidTemplate for a document that is not a good template (see
        ``model.template.check_document``).
        """
        actor = require_operator(principal)
        name, stated = document_identity(document)
        check_document(document)
        return await self._store(actor, name, document, stated=stated)

    async def add_version(self, actor: Principal, document: Any, latest: int) -> Template:
        """Store ``document`` as the next version of the template its ``$id`` names, provided its
        latest version not deleted is ``latest`` (0: it has none), so that of two changes made at once
        only one succeeds (the other raises TemplateExists). The caller has decided ``actor`` may.

        Raises InvalidTemplate as ``add`` does."""
        name, stated = document_identity(document)
        check_document(document)
        return await self._store(actor, name, document, stated=stated, latest=latest)

    async def _store(
        self,
        actor: Principal,
        name: str,
        document: dict[str, Any],
        *,
        stated: int | None,
        latest: int | None = None,
    ) -> Template:
        async with self.repository.transaction() as tx:
            if latest is not None and await tx.latest_live_template_version(name) != latest:
                raise TemplateExists(f"Template {name} was changed meanwhile; read it again.")
            version = await tx.highest_template_version(name) + 1
            if stated is not None and stated < version:
                raise TemplateExists(
                    f"Template {name}@{stated} exists (or existed); the next version is {version}."
                )
            if stated is not None and stated > version:
                raise InvalidTemplate(
                    f"Template {name} has no version {stated - 1} yet; the next is {version}."
                )
            prepared = stamped(document, name, version)
            try:
                await tx.insert_template(name, version, orjson.dumps(prepared).decode(), str(actor))
            except DuplicateKey:
                raise TemplateExists(f"Template {name}@{version} was added meanwhile; try again.") from None
            await tx.add_audit(str(actor), "template-add", _target(f"{name}@{version}"), None, prepared)
            template = Template(name, version, prepared, tx.now)
        self._cache[template.ref] = template
        return template

    async def delete(self, principal: Principal | None, ref: str) -> None:
        """Delete a template version no stored record uses; its number is not given again. Operator only.

        Raises TemplateNotFound, or TemplateInUse while any record names it.
        """
        await self.withdraw(require_operator(principal), [ref])

    async def withdraw(self, actor: Principal, refs: Collection[str]) -> None:
        """Delete the template versions ``refs`` name, all or none; their numbers are not given again.
        The caller has decided ``actor`` may.

        Raises TemplateNotFound, or TemplateInUse while any record names one of them (found through
        the derived ``template`` search entries, an index lookup).
        """
        async with self.repository.transaction() as tx:
            for ref in refs:
                key = parse_ref(ref)
                stored = await tx.templates([key], lock="update") if key else []
                if not stored:
                    raise TemplateNotFound(f"No template {ref} on this node.")
                if await tx.search_entry_exists(TEMPLATE_KEY, ref):
                    raise TemplateInUse(f"Template {ref} is used by stored records; it cannot be deleted.")
                await tx.withdraw_template(stored[0].name, stored[0].version)
                await tx.add_audit(
                    str(actor), "template-delete", _target(ref), orjson.loads(stored[0].document), None
                )
        for ref in refs:
            self._cache.pop(ref, None)

    async def seed(self) -> list[str]:
        """Add each shipped document whose version is the next one of its name here; return their refs.

        So a new node gets every shipped template, an upgraded node the new shipped versions, and a
        node whose operator has added or deleted versions of a name keeps them as they are.
        """
        highest = await self.repository.highest_template_versions()
        due: list[tuple[str, int, dict[str, Any]]] = []
        for document in shipped_documents():
            name, version = document_identity(document)
            if version == highest.get(name, 0) + 1:
                check_document(document)
                due.append((name, version, stamped(document, name, version)))
                highest[name] = version
        added = []
        if due:
            async with self.repository.transaction() as tx:
                for name, version, prepared in due:
                    try:
                        await tx.insert_template(name, version, orjson.dumps(prepared).decode(), SHIPPED_BY)
                    except DuplicateKey:
                        continue  # another process started at the same moment and added it
                    added.append(f"{name}@{version}")
        return added
