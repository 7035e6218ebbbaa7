#!/usr/bin/env python3
"""A top-level node simulator: receives secondary nodes' report batches and answers prefix lookups.

For tests and demos. It checks each batch against schema/upstream/report-batch-v1.json and its
``X-JWS-Signature`` (a detached JWS over the body) against the sending node's key: the key pinned with
``--node-key``, else the key the JWS ``kid`` names among those the node publishes at
``GET <url>/api/node`` (fetched again when a new ``kid`` appears, e.g. after a rotation; a real
top-level node would pin or certify the key instead of trusting the node's own page). It keeps each
report once by id, counts the deliveries beyond the first, and acknowledges with
report-ack-v1 (every id of the batch, received before or not).

    .venv/bin/python tools/toplevel_sim.py --port 9000 --node 88.999=http://127.0.0.1:8000 \\
        [--node-key 88.999=node-key.pem] [--store reports.jsonl]
    idnode serve --upstream-url http://127.0.0.1:9000/api/reports

Endpoints:
  POST /api/reports        a batch: 200 with the acknowledgement, 400 (not a batch), 401 (unknown
                           node or bad signature), 503 while failing
  GET  /api/reports        every report kept, in arrival order; duplicate and request counts; batch sizes
  GET  /api/prefixes/P     {"prefix", "node": {"url", "prefix"}} for the longest known prefix equal to
                           or a parent of P (nodes, and the enterprise prefixes their reports
                           onboarded); 404 {"responseCode": 100, "message"} if none
  POST /control            {"mode": "ok" | "fail" | "stall"}: "fail" answers batches 503 without
                           keeping them; "stall" keeps them but holds the answer until the mode
                           changes (the sender times out: the acknowledgement is lost)
  POST /control/nodes      {"prefix", "url"}: register a node, as --node does
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import orjson
from aiohttp import web

from idnode.model.errors import InvalidHandle
from idnode.model.identifier import canonical_prefix
from idnode.signing import (
    PublicKey,
    SignatureInvalid,
    jws_header,
    jws_verify_detached,
    load_public_key,
    public_key_from_jwk,
)

SCHEMA = Path(__file__).resolve().parent.parent / "schema" / "upstream" / "report-batch-v1.json"
SIGNATURE_HEADER = "X-JWS-Signature"
MODES = ("ok", "fail", "stall")


class Refused(Exception):
    """A batch that is not accepted: ``status`` and the message to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Node:
    """A secondary node this top-level node knows: where it lives and the keys it signs with."""

    prefix: str
    url: str
    pinned: PublicKey | None = None
    keys: dict[str, PublicKey] = field(default_factory=dict)  # by reference, from <url>/api/node


class Simulator:
    """The simulator's state and behaviour; the HTTP handlers below only translate."""

    def __init__(self, store: Path | None) -> None:
        self.nodes: dict[str, Node] = {}
        self.reports: dict[str, dict[str, Any]] = {}  # by id, in arrival order
        self.deliveries: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()
        self.batch_sizes: list[int] = []
        self.holders: dict[str, str] = {}  # enterprise prefix -> node prefix, from onboarding reports
        self.mode = "ok"
        self.recovered = asyncio.Event()
        self.recovered.set()
        self.validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
        self.store = store
        if store is not None and store.exists():
            for line in store.read_text().splitlines():
                self._keep(orjson.loads(line))

    def add_node(self, prefix: str, url: str, pinned: PublicKey | None = None) -> Node:
        node = Node(canonical_prefix(prefix), url.rstrip("/"), pinned)
        self.nodes[node.prefix] = node
        return node

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        self.mode = mode
        if mode == "stall":
            self.recovered.clear()
        else:
            self.recovered.set()

    async def _key(self, node: Node, kid: str, session: aiohttp.ClientSession) -> PublicKey:
        if node.pinned is not None:
            return node.pinned
        if kid not in node.keys:  # new to us: (re)read what the node publishes
            async with session.get(f"{node.url}/api/node") as response:
                published = await response.json()
            node.keys = {k["ref"]: public_key_from_jwk(k["jwk"]) for k in published["keys"]}
        if kid not in node.keys:
            raise Refused(401, f"node {node.prefix} publishes no key {kid!r}")
        return node.keys[kid]

    async def receive(self, body: bytes, signature: str, session: aiohttp.ClientSession) -> dict[str, Any]:
        """Check and keep a batch; return the acknowledgement. Raise Refused."""
        try:
            batch = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise Refused(400, "the body is not JSON") from None
        error = jsonschema.exceptions.best_match(self.validator.iter_errors(batch))
        if error is not None:
            raise Refused(400, f"not a report batch: {error.message} at {error.json_path}")
        node = self.nodes.get(batch["node"])
        if node is None:
            raise Refused(401, f"unknown node {batch['node']}")
        try:
            kid = str(jws_header(signature).get("kid"))
            jws_verify_detached(signature, body, await self._key(node, kid, session))
        except SignatureInvalid as exc:
            raise Refused(401, f"bad signature: {exc}") from None
        ids = [report["id"] for report in batch["reports"]]
        duplicates = [i for i in ids if i in self.reports]
        new = [{**r, "node": node.prefix} for r in batch["reports"] if r["id"] not in self.reports]
        for report in new:
            self._keep(report)
        if self.store is not None and new:
            with self.store.open("ab") as out:
                out.write(b"".join(orjson.dumps(report) + b"\n" for report in new))
        self.deliveries.update(ids)
        self.batch_sizes.append(len(ids))
        return {"version": 1, "accepted": ids, "duplicates": duplicates}

    def _keep(self, report: dict[str, Any]) -> None:
        self.reports[report["id"]] = report
        if report["kind"] == "enterprise.create":
            self.holders[report["subject"]] = report["node"]

    def holder(self, prefix: str) -> Node | None:
        """The node holding ``prefix``: the longest known prefix equal to it or a parent of it."""
        while prefix:
            if prefix in self.nodes:
                return self.nodes[prefix]
            if prefix in self.holders and self.holders[prefix] in self.nodes:
                return self.nodes[self.holders[prefix]]
            prefix = prefix.rpartition(".")[0]
        return None

    def summary(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "count": len(self.reports),
            "reports": list(self.reports.values()),
            "duplicates": {i: n - 1 for i, n in self.deliveries.items() if n > 1},
            "requests": dict(self.requests),
            "batches": self.batch_sizes,
        }


SIMULATOR = web.AppKey("simulator", Simulator)
SESSION = web.AppKey("session", aiohttp.ClientSession)


def answer(status: int, body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=status, dumps=lambda o: orjson.dumps(o).decode())


async def post_reports(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    if sim.mode == "fail":
        sim.requests["failed"] += 1
        return answer(503, {"responseCode": 3, "message": "the top-level node is failing (simulated)"})
    try:
        ack = await sim.receive(
            await request.read(), request.headers.get(SIGNATURE_HEADER, ""), request.app[SESSION]
        )
    except Refused as exc:
        sim.requests["refused"] += 1
        return answer(exc.status, {"responseCode": 4 if exc.status == 400 else 402, "message": str(exc)})
    if sim.mode == "stall":
        sim.requests["stalled"] += 1
        await sim.recovered.wait()  # the reports are kept; the acknowledgement comes too late
    else:
        sim.requests["acknowledged"] += 1
    return answer(200, ack)


async def get_reports(request: web.Request) -> web.Response:
    return answer(200, request.app[SIMULATOR].summary())


async def get_prefix(request: web.Request) -> web.Response:
    try:
        prefix = canonical_prefix(request.match_info["prefix"])
    except InvalidHandle as exc:
        return answer(400, {"responseCode": 102, "message": exc.message})
    node = request.app[SIMULATOR].holder(prefix)
    if node is None:
        return answer(404, {"responseCode": 100, "message": f"Prefix {prefix} is not registered here."})
    return answer(200, {"prefix": prefix, "node": {"url": node.url, "prefix": node.prefix}})


async def post_control(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    try:
        sim.set_mode((await request.json())["mode"])
    except (ValueError, KeyError, TypeError) as exc:
        return answer(400, {"responseCode": 4, "message": f'send {{"mode": one of {MODES}}}: {exc}'})
    return answer(200, {"mode": sim.mode})


async def post_node(request: web.Request) -> web.Response:
    try:
        body = await request.json()
        node = request.app[SIMULATOR].add_node(body["prefix"], body["url"])
    except (ValueError, KeyError, TypeError, InvalidHandle) as exc:
        return answer(400, {"responseCode": 4, "message": f'send {{"prefix", "url"}}: {exc}'})
    return answer(200, {"prefix": node.prefix, "url": node.url})


def create_app(simulator: Simulator) -> web.Application:
    app = web.Application()
    app[SIMULATOR] = simulator

    async def client(app: web.Application) -> Any:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            app[SESSION] = session
            yield
        simulator.recovered.set()  # let held answers finish

    app.cleanup_ctx.append(client)
    app.add_routes(
        [
            web.post("/api/reports", post_reports),
            web.get("/api/reports", get_reports),
            web.get("/api/prefixes/{prefix}", get_prefix),
            web.post("/control", post_control),
            web.post("/control/nodes", post_node),
        ]
    )
    return app


def _pairs(items: list[str], what: str) -> dict[str, str]:
    pairs = dict(item.split("=", 1) for item in items if "=" in item)
    if len(pairs) != len(items):
        raise SystemExit(f"{what} takes PREFIX=VALUE")
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--node", action="append", default=[], metavar="PREFIX=URL", help="a node it serves")
    parser.add_argument(
        "--node-key", action="append", default=[], metavar="PREFIX=FILE", help="pin a node's key (PEM or JWK)"
    )
    parser.add_argument("--store", type=Path, help="keep reports in this JSON Lines file too")
    args = parser.parse_args()
    simulator = Simulator(args.store)
    keys = _pairs(args.node_key, "--node-key")
    for prefix, url in _pairs(args.node, "--node").items():
        pinned = load_public_key(Path(keys[prefix])) if prefix in keys else None
        simulator.add_node(prefix, url, pinned)
    print(f"top-level node simulator on http://{args.host}:{args.port}", flush=True)
    web.run_app(create_app(simulator), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
