"""The ``idnode`` command: init, serve, enterprise, applications, templates, import, resolve, dns-name,
stats, demo, reindex, keys, verify.

Commands that change the node run on the node's own machine against its data directory (or ``--db``)
and act as the operator, through the same registry as the HTTP API.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import dns.name
import orjson
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from idnode import cli_applications, cli_import, cli_keys
from idnode.config import Settings, load_settings
from idnode.core import Core, open_core
from idnode.csvout import flattened, to_csv
from idnode.dns import names as dns_names
from idnode.model.enterprise import EnterpriseDraft
from idnode.model.errors import IdnodeError
from idnode.model.identifier import Identifier
from idnode.model.values import HandleValue
from idnode.reindex import reindex
from idnode.sample import DEMO_ENTERPRISES, make_uscc

console = Console()
err_console = Console(stderr=True)


def _emit_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


def _settings(args: argparse.Namespace) -> Settings:
    names = (
        "data_dir",
        "db",
        "node_prefix",
        "host",
        "port",
        "workers",
        "redis",
        "dns",
        "dns_zone",
        "upstream_url",
        "mirror_of",
        "upper_node",
        "resolution_mode",
    )
    flags = {name: getattr(args, name, None) for name in names}
    flags["config"] = getattr(args, "config", None)
    flags["http"] = False if getattr(args, "no_http", False) else None
    return load_settings(flags)


def _print_operator(core: Core) -> None:
    if core.operator_secret is not None:
        console.print("[bold]Operator credential (shown once, keep it safe):[/bold]")
        console.print(f"  username: {core.registry.operator_username}")
        console.print(f"  secret:   {core.operator_secret}")


async def cmd_init(args: argparse.Namespace) -> int:
    settings = _settings(args)
    async with open_core(settings) as core:
        created = core.operator_secret is not None
        if args.json:
            _emit_json(
                {
                    "nodePrefix": settings.node_prefix_canonical,
                    "db": settings.db_url,
                    "created": created,
                    "operator": {"username": core.registry.operator_username, "secret": core.operator_secret},
                }
            )
        elif settings.mirror_of:
            console.print(
                f"Mirror of {settings.mirror_of} ready at {settings.db_url}: no credential of its own; "
                "it fills from its primary once served."
            )
        elif created:
            console.print(f"Initialised node {settings.node_prefix_canonical} at {settings.db_url}.")
            _print_operator(core)
        else:
            console.print(
                f"Node {settings.node_prefix_canonical} is already initialised at {settings.db_url}."
            )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from idnode.http import server

    settings = _settings(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server.run(settings, announce=console.print)
    return 0


def _enterprise_table(rows: list[dict[str, Any]]) -> Table:
    table = Table("prefix", "name", "uscc", "district", "industry", "status", "registered_on")
    for row in rows:
        table.add_row(
            *(
                str(row[c])
                for c in ("prefix", "name", "uscc", "district", "industry", "status", "registered_on")
            )
        )
    return table


async def cmd_enterprise(args: argparse.Namespace) -> int:
    async with open_core(_settings(args)) as core:
        operator = core.local_operator
        if args.action == "add":
            draft = EnterpriseDraft.from_json(
                {
                    "name": args.name,
                    "uscc": args.uscc,
                    "district": args.district,
                    "industry": args.industry,
                    "contact_name": args.contact_name,
                    "contact_phone": args.contact_phone,
                    "contact_email": args.contact_email,
                },
                core.settings.districts,
            )
            enterprise, secret = await core.registry.add_enterprise(operator, draft)
            result = {
                "enterprise": enterprise.to_json(),
                "admin": {"username": f"300:{enterprise.prefix}/ADMIN", "secret": secret},
            }
            if args.json:
                _emit_json(result)
            else:
                console.print(f"Onboarded {enterprise.name}: prefix [bold]{enterprise.prefix}[/bold]")
                console.print(f"  username: {result['admin']['username']}\n  secret:   {secret} (shown once)")
        elif args.action == "list":
            _, found = await core.repository.list_enterprises()
            rows = [e.to_json() for e in found]
            _emit_json(rows) if args.json else console.print(_enterprise_table(rows))
        elif args.action in ("show", "suspend", "activate"):
            prefix = args.prefix
            if args.action == "show":
                enterprise = await core.repository.get_enterprise(prefix)
                if enterprise is None:
                    raise IdnodeError(f"No enterprise with prefix {prefix}.")
            else:
                status = "suspended" if args.action == "suspend" else "active"
                enterprise = await core.registry.update_enterprise(operator, prefix, {"status": status})
            row = enterprise.to_json()
            _emit_json(row) if args.json else console.print(_enterprise_table([row]))
        elif args.action == "reset-secret":
            secret = await core.registry.reset_enterprise_secret(operator, args.prefix)
            _emit_json(
                {"username": f"300:{args.prefix}/ADMIN", "secret": secret}
            ) if args.json else console.print(
                f"New secret for 300:{args.prefix}/ADMIN: {secret} (shown once)"
            )
    return 0


def _template_ref(text: str) -> tuple[str, int | None]:
    """(name, version or None) from ``NAME`` or ``NAME@VERSION``."""
    name, at, version = text.partition("@")
    if at and not version.isdigit():
        raise ValueError(f"{text!r}: give a template as NAME or NAME@VERSION, e.g. solar-module@1.")
    return name, int(version) if at else None


async def cmd_templates(args: argparse.Namespace) -> int:
    async with open_core(_settings(args)) as core:
        catalog = core.templates
        if args.action == "list":
            listing = await catalog.listing()
            if args.json:
                _emit_json(listing)
            else:
                table = Table("name", "latest", "versions", "title", "title (en)")
                for row in listing:
                    versions = ", ".join(map(str, row["versions"]))
                    table.add_row(row["name"], str(row["version"]), versions, row["title"], row["titleEn"])
                console.print(table)
        elif args.action == "show":
            _emit_json((await catalog.read(*_template_ref(args.template))).to_json())
        elif args.action == "add":
            document = orjson.loads(Path(args.file).read_bytes())
            template = await catalog.add(core.local_operator, document)
            _emit_json(template.summary()) if args.json else console.print(f"Added template {template.ref}.")
        elif args.action == "delete":
            await catalog.delete(core.local_operator, args.template)
            console.print(f"Deleted template {args.template}.")
    return 0


async def cmd_resolve(args: argparse.Namespace) -> int:
    if args.server:
        import aiohttp

        url = f"{args.server.rstrip('/')}/api/handles/{args.handle}"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            body = await response.json(content_type=None)
    else:
        async with open_core(_settings(args)) as core:
            try:
                resolution = await core.resolver.resolve(Identifier.parse(args.handle), asked_as=args.handle)
                body = resolution.to_json()
            except IdnodeError as exc:
                body = {"responseCode": exc.response_code, "message": exc.message}
    if args.json or body.get("responseCode") != 1:
        _emit_json(body)
    else:
        table = Table("index", "type", "data", "ttl", "timestamp", title=body["handle"])
        for value in body["values"]:
            data = value["data"]["value"]
            table.add_row(
                str(value["index"]),
                value["type"],
                data if isinstance(data, str) else orjson.dumps(data).decode(),
                str(value["ttl"]),
                value["timestamp"],
            )
        console.print(table)
    return 0 if body.get("responseCode") == 1 else 1


def cmd_dns_name(args: argparse.Namespace) -> int:
    """Print the name under which DNS answers for an identifier (``idnode.dns.names``)."""
    zone = dns.name.from_text(_settings(args).dns_zone)
    try:
        name = dns.name.Name(dns_names.encode(Identifier.parse(args.handle))).derelativize(zone)
    except dns.name.NameTooLong:
        raise ValueError(f"{args.handle} has no DNS name under {zone}: it would be over 255 octets") from None
    print(name)
    return 0


async def cmd_stats(args: argparse.Namespace) -> int:
    async with open_core(_settings(args)) as core:
        summary = await core.stats.summary()
        progress = await core.stats.target_progress()
    if args.json:
        _emit_json({**summary, "target_progress": progress})
        return 0
    if args.csv:
        sys.stdout.write(to_csv(flattened({**summary, "target_progress": progress})))
        return 0
    table = Table("figure", "value", title="idnode statistics")
    table.add_row("enterprises (total)", str(summary["enterprises"]["total"]))
    table.add_row(
        "  active / suspended", f"{summary['enterprises']['active']} / {summary['enterprises']['suspended']}"
    )
    table.add_row("identifiers", str(summary["identifiers"]))
    target = summary["target"]
    table.add_row("target", f"{target['registered']} / {target['enterprises']} ({target['progress']:.1%})")
    for window, figures in progress["windows"].items():
        for method in ("linear", "trend"):
            forecast = figures[method]
            reached = forecast["reaches_target_on"] or "not at this rate"
            table.add_row(f"  {method}, last {window} days", f"{forecast['per_month']}/month → {reached}")
    if progress["deadline_passed"]:
        table.add_row("  deadline", f"{progress['deadline']}: passed, target not reached")
    elif progress["deadline"]:
        table.add_row("  deadline", f"{progress['deadline']}: needs {progress['needed_per_month']}/month")
    console.print(table)
    return 0


async def _seed_demo(core: Core) -> list[tuple[str, str, str]]:
    """Onboard the demo enterprises and register a few identifiers; return (prefix, username, secret)."""
    credentials = []
    for serial, sample in enumerate(DEMO_ENTERPRISES, start=1):
        draft = EnterpriseDraft.from_json({**sample, "uscc": make_uscc(serial)}, core.settings.districts)
        enterprise, secret = await core.registry.add_enterprise(core.local_operator, draft)
        credentials.append((enterprise.prefix, f"300:{enterprise.prefix}/ADMIN", secret))
        for n in range(1, 4):
            suffix = f"PUMP-2026-{n:06d}"
            values = [
                HandleValue.from_json(
                    {"index": 1, "type": "URL", "data": f"https://example.com/products/{suffix}"}
                ),
                HandleValue.from_json({"index": 2, "type": "NAME", "data": f"{sample['name']} {suffix}"}),
            ]
            await core.registry.put_record(
                core.local_operator, Identifier.parse(f"{enterprise.prefix}/{suffix}"), values
            )
    return credentials


def cmd_demo(args: argparse.Namespace) -> int:
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="idnode-demo-"))
    args.data_dir, args.db = data_dir, None

    async def seed() -> list[tuple[str, str, str]]:
        async with open_core(_settings(args)) as core:
            _print_operator(core)
            return await _seed_demo(core)

    credentials = asyncio.run(seed())
    base = f"http://{args.host or '127.0.0.1'}:{args.port or 8000}"
    prefix, username, secret = credentials[0]
    user = username.replace(":", "%3A", 1)  # Handle clients percent-encode the username's colon
    body = '[{"index":1,"type":"URL","data":"https://example.com/new"}]'
    print(f"Demo data in {data_dir}. Try:")
    print(f"  curl {base}/api/handles/{prefix}/PUMP-2026-000001")
    print(
        f"  curl -u '{user}:{secret}' -X PUT -H 'Content-Type: application/json' -d '{body}' "
        f"'{base}/api/handles/{prefix}/NEW-1?overwrite=false'"
    )
    print(f"  curl -u '{user}:{secret}' '{base}/api/handles?prefix={prefix}'", flush=True)
    return cmd_serve(args)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", type=Path, help="data directory (SQLite file, config); default ./data")
    common.add_argument("--db", help="database URL, e.g. postgresql+asyncpg://user@host/db (default: SQLite)")
    common.add_argument("--node-prefix", help="this node's prefix (default 88.999)")
    common.add_argument("--config", type=Path, help="TOML settings file (default <data-dir>/idnode.toml)")
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument("--json", action="store_true", help="machine-readable output")

    parser = argparse.ArgumentParser(prog="idnode", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("init", parents=[common, output], help="create the database and the operator credential")
    for name, helptext in (("serve", "run the node"), ("demo", "serve a throwaway node with sample data")):
        serve = sub.add_parser(name, parents=[common], help=helptext)
        serve.add_argument("--host", help="listen address (default 127.0.0.1)")
        serve.add_argument("--port", type=int, help="listen port (default 8000)")
        serve.add_argument("--workers", type=int, help="worker processes sharing the port (default 1)")
        serve.add_argument(
            "--redis", help="redis://host:port/db carrying cache invalidations between processes"
        )
        serve.add_argument("--dns", metavar="HOST:PORT", help="also answer DNS here, UDP and TCP")
        serve.add_argument("--dns-zone", help="the DNS zone of the identifiers (default idnode.test.)")
        serve.add_argument("--no-http", action="store_true", help="serve only DNS (with --dns)")
        serve.add_argument(
            "--upstream-url", help="the top-level node's report endpoint (reports are sent there)"
        )
        serve.add_argument("--mirror-of", help="primary node URL: serve its records read-only, following it")
        serve.add_argument("--upper-node", help="URL of the node that knows where other prefixes live")
        serve.add_argument(
            "--resolution-mode",
            choices=("referral", "recursive"),
            help="for prefixes not held here: refer (302, default) or resolve and verify",
        )

    enterprise = sub.add_parser("enterprise", help="onboard and manage enterprises")
    actions = enterprise.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", parents=[common, output], help="onboard an enterprise")
    add.add_argument("--name", required=True)
    add.add_argument("--uscc", required=True, help="统一社会信用代码")
    add.add_argument("--district", required=True)
    add.add_argument("--industry", required=True)
    add.add_argument("--contact-name", default="")
    add.add_argument("--contact-phone", default="")
    add.add_argument("--contact-email", default="")
    actions.add_parser("list", parents=[common, output], help="list enterprises")
    for action in ("show", "suspend", "activate", "reset-secret"):
        actions.add_parser(action, parents=[common, output]).add_argument("prefix")

    templates = sub.add_parser("templates", help="metadata templates (JSON Schema) records may name")
    template_actions = templates.add_subparsers(dest="action", required=True)
    template_actions.add_parser("list", parents=[common, output], help="each template's latest version")
    template_actions.add_parser("show", parents=[common], help="a template as JSON").add_argument(
        "template", metavar="NAME[@VERSION]", help="the latest version unless one is given"
    )
    template_actions.add_parser("add", parents=[common, output], help="store the next version").add_argument(
        "file", type=Path, help="the JSON Schema document; its $id names the template"
    )
    template_actions.add_parser(
        "delete", parents=[common], help="delete a version no record uses"
    ).add_argument("template", metavar="NAME@VERSION")

    resolve = sub.add_parser("resolve", parents=[common, output], help="resolve an identifier")
    resolve.add_argument("handle")
    resolve.add_argument("--server", help="resolve through this node URL instead of the local store")
    dns_name = sub.add_parser("dns-name", parents=[common], help="the DNS name of an identifier")
    dns_name.add_argument("handle")
    dns_name.add_argument("--dns-zone", help="the DNS zone of the identifiers (default idnode.test.)")
    stats = sub.add_parser("stats", parents=[common, output], help="registration statistics")
    stats.add_argument("--csv", action="store_true", help="CSV for spreadsheets")
    sub.add_parser(
        "reindex", parents=[common, output], help="rebuild the search entries and GS1 keys of every record"
    )
    cli_applications.add_parser(sub, common, output)
    cli_import.add_parser(sub, common, output)
    cli_keys.add_parsers(sub, common, output)
    return parser


async def cmd_reindex(args: argparse.Namespace) -> int:
    async with open_core(_settings(args)) as core:
        with Progress(console=err_console) as progress:
            task = progress.add_task("rebuilding search entries and GS1 keys", total=None)
            conflicts = await reindex(
                core.repository,
                core.registry.committer,
                lambda done, total: progress.update(task, completed=done, total=total),
            )
    if args.json:
        _emit_json({"gs1_conflicts": conflicts})
    for handle in conflicts:
        err_console.print(f"[yellow]{handle}: its GS1 key belongs to an earlier record; not mapped[/yellow]")
    return 0


async def cmd_keys(args: argparse.Namespace) -> int:
    settings = _settings(args) if args.action != "generate" else None
    result = await cli_keys.cmd_keys(args, settings)
    _emit_json(result) if args.json else cli_keys.print_keys(result)
    return 0


async def cmd_verify(args: argparse.Namespace) -> int:
    reports = await cli_keys.cmd_verify(args)
    _emit_json([r.to_json() for r in reports]) if args.json else cli_keys.print_reports(reports)
    return 0 if all(r.ok for r in reports) else 1


async def cmd_applications(args: argparse.Namespace) -> int:
    result = await cli_applications.cmd_applications(args, _settings(args))
    _emit_json(result) if args.json else cli_applications.print_result(result)
    return 0


async def cmd_import(args: argparse.Namespace) -> int:
    result = await cli_import.cmd_import(args, _settings(args))
    _emit_json(result) if args.json else cli_import.print_summary(result)
    return 1 if result["failed"] else 0


COMMANDS: dict[str, Callable[[argparse.Namespace], Awaitable[int]]] = {
    "init": cmd_init,
    "enterprise": cmd_enterprise,
    "applications": cmd_applications,
    "templates": cmd_templates,
    "import": cmd_import,
    "resolve": cmd_resolve,
    "stats": cmd_stats,
    "keys": cmd_keys,
    "reindex": cmd_reindex,
    "verify": cmd_verify,
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return cmd_serve(args)
        if args.command == "demo":
            return cmd_demo(args)
        if args.command == "dns-name":
            return cmd_dns_name(args)
        return asyncio.run(COMMANDS[args.command](args))
    except (IdnodeError, ValueError, OSError) as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
