"""``idnode keys …`` and ``idnode verify``: signing keys, certificates, offline verification."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from idnode.config import Settings
from idnode.core import open_core
from idnode.signing import ALGORITHMS, KeyFile, load_public_key
from idnode.verify import Fetch, Report, verify_inclusion, verify_record

console = Console()
progress_console = Console(stderr=True)  # progress stays off stdout, which may carry --json


async def cmd_keys(args: argparse.Namespace, settings: Settings | None) -> dict[str, Any]:
    """Run a ``keys`` action (``generate`` needs no node, so no settings); returns what to print."""
    if args.action == "generate":
        key = KeyFile.generate(ALGORITHMS[args.algorithm])
        key.save(args.out)
        public = args.out.with_suffix(".pub.pem")
        public.write_text(key.public_pem())
        return {
            "private_key": str(args.out),
            "public_key": str(public),
            "kid": key.kid,
            "jwk": key.public_jwk,
        }
    assert settings is not None
    async with open_core(settings) as core:
        if args.action == "rotate":
            new = await core.keyring.rotate(ALGORITHMS[args.algorithm or settings.key_algorithm])
            progress_console.print(f"New active key {new.ref}; re-signing every record …")
            with Progress(console=progress_console) as progress:
                task = progress.add_task("re-signing", total=None)
                resigned = await core.keyring.resign_all(
                    lambda done, total: progress.update(task, completed=done, total=total)
                )
            return {"active": new.ref, "kid": new.key.kid, "resigned": resigned}
        if args.action == "certify":
            token = await core.keyring.certify(KeyFile.load(args.root_key), args.days)
            return {"certificate": token, **await core.keyring.describe()}
        return await core.keyring.describe()


def print_keys(result: dict[str, Any]) -> None:
    if "keys" not in result:
        for name, value in result.items():
            console.print(f"{name}: {value}")
        return
    table = Table("ref", "kid", "alg", "status", "created", "expires", "certified", title=result["handle"])
    for key in result["keys"]:
        table.add_row(
            key["ref"],
            key["kid"],
            key["alg"],
            key["status"],
            key["created"],
            key["expires"] or "",
            "yes" if key["certificate"] else "no",
        )
    console.print(table)


def _fetcher(session: aiohttp.ClientSession, server: str) -> Fetch:
    cache: dict[str, dict[str, Any] | None] = {}

    async def fetch(handle: str) -> dict[str, Any] | None:
        """The node's authoritative answer (``auth=true``: from its store, not from a cache)."""
        if handle not in cache:
            url = f"{server}/api/handles/{quote(handle, safe='/')}?auth=true"
            async with session.get(url) as response:
                cache[handle] = await response.json(content_type=None) if response.status == 200 else None
        return cache[handle]

    return fetch


async def cmd_verify(args: argparse.Namespace) -> list[Report]:
    """Fetch a record (and with ``--log`` its inclusion proof) and verify it; one report per check."""
    anchor = load_public_key(args.trust_anchor) if args.trust_anchor else None
    server = args.server.rstrip("/")
    async with aiohttp.ClientSession() as session:
        fetch = _fetcher(session, server)
        record = await fetch(args.handle)
        if record is None:
            report = Report(args.handle)
            report.add(False, "record", f"{args.handle} does not resolve at {server}")
            return [report]
        reports = [await verify_record(record, fetch, trust_anchor=anchor)]
        if args.log:
            async with session.get(f"{server}/api/log/proof", params={"handle": args.handle}) as response:
                proof = await response.json(content_type=None)
            reports.append(await verify_inclusion(record, proof, fetch, trust_anchor=anchor))
    return reports


def print_reports(reports: list[Report]) -> None:
    for report in reports:
        table = Table("", "check", "detail", title=report.handle)
        for finding in report.findings:
            table.add_row(
                "[green]ok[/green]" if finding.ok else "[red]FAIL[/red]", finding.subject, finding.detail
            )
        console.print(table)
    verdict = all(r.ok for r in reports)
    console.print("[bold green]verified[/bold green]" if verdict else "[bold red]NOT verified[/bold red]")


def add_parsers(sub: Any, common: argparse.ArgumentParser, output: argparse.ArgumentParser) -> None:
    keys = sub.add_parser("keys", help="signing keys: show, rotate, certify, generate a root key")
    actions = keys.add_subparsers(dest="action", required=True)
    actions.add_parser("show", parents=[common, output], help="the node's published keys")
    rotate = actions.add_parser(
        "rotate", parents=[common, output], help="new active key; re-sign all records"
    )
    rotate.add_argument("--algorithm", choices=sorted(ALGORITHMS), help="default: the configured one")
    certify = actions.add_parser("certify", parents=[common, output], help="certify the active key (HS_CERT)")
    certify.add_argument("--root-key", type=Path, required=True, help="the issuer's private key (PEM)")
    certify.add_argument("--days", type=int, default=365)
    generate = actions.add_parser(
        "generate", parents=[output], help="create a stand-alone key pair (e.g. a root)"
    )
    generate.add_argument(
        "--out", type=Path, required=True, help="private key file; the public key goes beside it"
    )
    generate.add_argument("--algorithm", choices=sorted(ALGORITHMS), default="ed25519")

    verify = sub.add_parser(
        "verify", parents=[output], help="verify a record's signature (and log inclusion)"
    )
    verify.add_argument("handle")
    verify.add_argument(
        "--server", required=True, help="the node to resolve through, e.g. http://127.0.0.1:8000"
    )
    verify.add_argument(
        "--trust-anchor", type=Path, help="root public key (PEM or JWK) the node key must chain to"
    )
    verify.add_argument("--log", action="store_true", help="also check inclusion in the signed tree head")
