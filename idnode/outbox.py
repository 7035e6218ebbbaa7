"""Reports for the upstream (top-level) node: what is reported, and the messages that carry them.

Every write that onboards or changes an enterprise, or registers, changes or deletes an identifier,
queues one report in the outbox in its own transaction (``Transaction.add_reports``), so a report
exists exactly when its change committed. ``idnode.upstream`` delivers them. Kinds and payloads:

- ``enterprise.create`` / ``enterprise.update``, subject the enterprise prefix: the enterprise's
  prefix, name, USCC, district, industry, status and registration date (not its contacts: personal
  data the upper node does not need).
- ``identifier.create`` / ``identifier.modify`` / ``identifier.delete``, subject the handle:
  ``{"handle", "record", "log"}``, where ``record`` is the content digest the transparency log keeps
  (null after a deletion) and ``log`` the log entry's sequence number, so the upper node can check
  the record (resolve it; ``GET /api/log/proof``) without the report copying its values.

Not reported: prefix handles ``0.NA/...`` and ``<prefix>/ADMIN`` handles (the enterprise itself is
reported; admin handles hold credentials), the node's own record (its keys are at ``GET /api/node``)
and re-signing (no content changes). A batch is ``{"version": 1, "node", "reports": [...]}`` and its
acknowledgement ``{"version": 1, "accepted": [ids]}``; see schema/upstream/.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from idnode.model.enterprise import Enterprise
from idnode.model.values import iso_timestamp
from idnode.storage.repository import Report, StoredReport

VERSION = 1
ENTERPRISE_CREATE, ENTERPRISE_UPDATE = "enterprise.create", "enterprise.update"
IDENTIFIER_KIND = {
    "create": "identifier.create",
    "modify": "identifier.modify",
    "delete": "identifier.delete",
}
ENTERPRISE_FIELDS = ("prefix", "name", "uscc", "district", "industry", "status", "registered_on")


class BadAcknowledgement(Exception):
    """The upstream's answer is not an acknowledgement."""


def enterprise_report(kind: str, enterprise: Enterprise) -> Report:
    details = enterprise.to_json()
    return kind, enterprise.prefix, {name: details[name] for name in ENTERPRISE_FIELDS}


def identifier_report(handle: str, log_action: str, content: str | None, log_seq: int) -> Report:
    """The report of a change the transparency log recorded as ``log_action`` at ``log_seq``."""
    return IDENTIFIER_KIND[log_action], handle, {"handle": handle, "record": content, "log": log_seq}


def report_id(node_prefix: str, seq: int) -> str:
    """A report's idempotency key: the same for every delivery attempt, unique across nodes."""
    return f"{node_prefix}:{seq}"


def batch_message(node_prefix: str, reports: Sequence[StoredReport]) -> dict[str, Any]:
    """The message delivering ``reports`` (in the given order)."""
    return {
        "version": VERSION,
        "node": node_prefix,
        "reports": [
            {
                "id": report_id(node_prefix, r.seq),
                "seq": r.seq,
                "kind": r.kind,
                "subject": r.subject,
                "at": iso_timestamp(int(r.created_at.timestamp())),
                "payload": orjson.loads(r.payload),
            }
            for r in reports
        ],
    }


def accepted_ids(body: bytes) -> set[str]:
    """The ids an acknowledgement lists as accepted; raise BadAcknowledgement."""
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadAcknowledgement(f"not JSON: {body[:200]!r}") from None
    accepted = answer.get("accepted") if isinstance(answer, dict) else None
    if not isinstance(accepted, list) or not all(isinstance(i, str) for i in accepted):
        raise BadAcknowledgement(f"no list of accepted ids: {body[:200]!r}")
    return set(accepted)
