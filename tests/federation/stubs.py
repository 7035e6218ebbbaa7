"""Stand-ins for the outside world a federated node talks to, each on a free port in a thread:
an authoritative DNS server (dnspython) and a node that forges the records it passes on."""

from __future__ import annotations

import json
import socketserver
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

# (owner name, record type) -> record texts, e.g. ("_handle._tcp.888.88.idis.test.", "TXT") -> ['"url=…"']
Zone = dict[tuple[str, str], list[str]]


@contextmanager
def dns_server(zone: Zone) -> Iterator[str]:
    """Answer queries from ``zone`` (NXDOMAIN for names it lacks) on UDP; yield ``127.0.0.1:<port>``."""
    names = {dns.name.from_text(name) for name, _ in zone}

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data, sock = self.request
            query = dns.message.from_wire(data)
            response = dns.message.make_response(query)
            response.flags |= dns.flags.AA
            question = query.question[0]
            texts = zone.get((question.name.to_text(), dns.rdatatype.to_text(question.rdtype)))
            if texts:
                response.answer.append(
                    dns.rrset.from_text_list(question.name, 60, "IN", question.rdtype, texts)
                )
            elif question.name not in names:
                response.set_rcode(dns.rcode.NXDOMAIN)
            sock.sendto(response.to_wire(), self.client_address)

    with _serving(socketserver.ThreadingUDPServer(("127.0.0.1", 0), Handler)) as port:
        yield f"127.0.0.1:{port}"


@contextmanager
def forging_node(upstream: str, node_prefix: str, forge: Callable[[dict[str, Any]], None]) -> Iterator[str]:
    """A node claiming every prefix (``/api/prefixes/…`` names itself, with ``node_prefix``) whose
    records are ``upstream``'s passed through ``forge`` (which changes them in place); yield its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/api/prefixes/"):
                prefix = self.path.removeprefix("/api/prefixes/")
                node = {"url": f"http://127.0.0.1:{self.server.server_address[1]}", "prefix": node_prefix}
                return self._send(200, {"prefix": prefix, "node": node})
            try:
                with urllib.request.urlopen(upstream + self.path, timeout=5) as answer:
                    record = json.load(answer)
            except urllib.error.HTTPError as exc:
                return self._send(exc.code, json.load(exc))
            if self.path.startswith("/api/handles/") and not self.path.startswith("/api/handles/0.NA/"):
                forge(record)
            return self._send(200, record)

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    with _serving(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as port:
        yield f"http://127.0.0.1:{port}"


@contextmanager
def _serving(server: socketserver.BaseServer) -> Iterator[int]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
