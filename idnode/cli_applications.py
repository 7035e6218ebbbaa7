"""``idnode applications``: the operator's side of the application workflow on the node's own machine
(list, show, review, approve, reject, withdraw), through ``idnode.applications`` as the HTTP API.

Notifications these actions queue are sent by the serving node (the outbox is in the database)."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.table import Table

from idnode.config import Settings
from idnode.core import open_core
from idnode.model.application import Action, State
from idnode.registry import SECKEY_INDEX

console = Console()
COLUMNS = ("id", "state", "name", "uscc", "district", "industry", "created_at")


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    output: argparse.ArgumentParser,
) -> None:
    command = sub.add_parser("applications", help="review enterprises' applications to join the node")
    actions = command.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", parents=[common, output], help="applications, oldest first")
    listing.add_argument("--state", choices=[s.value for s in State], help="only those in this state")
    listing.add_argument("--limit", type=int, default=1000)
    actions.add_parser("show", parents=[common, output], help="one application and its history").add_argument(
        "id"
    )
    for action, text in (
        ("review", "take a submitted application under review"),
        ("approve", "approve: onboard the enterprise and show its credential once"),
        ("withdraw", "withdraw an application on the applicant's behalf"),
    ):
        parser = actions.add_parser(action, parents=[common, output], help=text)
        parser.add_argument("id")
        if action == "withdraw":
            parser.add_argument("--reason")
    reject = actions.add_parser("reject", parents=[common, output], help="reject, with the reason")
    reject.add_argument("id")
    reject.add_argument("--reason", required=True)


async def cmd_applications(args: argparse.Namespace, settings: Settings) -> Any:
    """Run one action; return its result as JSON-ready data."""
    async with open_core(settings) as core:
        applications, operator = core.applications, core.local_operator
        if args.action == "list":
            state = State(args.state) if args.state else None
            total, found = await applications.list_applications(state, 0, args.limit)
            return {"totalCount": total, "applications": [a.to_json() for a in found]}
        if args.action == "show":
            application = await applications.get(args.id)
            trail = await applications.trail(args.id)
            return {"application": application.to_json(), "transitions": [t.to_json() for t in trail]}
        if args.action == "approve":
            approved, enterprise, secret = await applications.approve(operator, args.id)
            return {
                "application": approved.to_json(),
                "enterprise": enterprise.to_json(),
                "admin": {"username": f"{SECKEY_INDEX}:{enterprise.prefix}/ADMIN", "secret": secret},
            }
        reason = getattr(args, "reason", None)
        moved = await applications.move(operator, None, args.id, Action(args.action), reason)
        return {"application": moved.to_json()}


def print_result(result: dict[str, Any]) -> None:
    rows = result.get("applications") or [result["application"]]
    table = Table(*COLUMNS)
    for row in rows:
        table.add_row(*(str(row["industry"]["code"] if c == "industry" else row[c]) for c in COLUMNS))
    console.print(table)
    if "totalCount" in result:
        console.print(f"{result['totalCount']} application(s)")
    for step in result.get("transitions", []):
        reason = f" ({step['reason']})" if step["reason"] else ""
        console.print(f"{step['at']}  {step['actor']}: {step['from'] or '-'} → {step['to']}{reason}")
    if "admin" in result:
        admin = result["admin"]
        console.print(
            f"Onboarded {result['enterprise']['name']}: prefix [bold]{result['enterprise']['prefix']}[/bold]"
        )
        console.print(f"  username: {admin['username']}\n  secret:   {admin['secret']} (shown once)")
