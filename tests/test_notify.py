"""Application notifications (idnode.notify): queued with each transition, delivered to a real local
webhook (retried while it fails, kept across a restart), to a local SMTP sink, or to the log."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from idnode.core import Core
from idnode.delivery import DeliveryFailed
from idnode.notify import (
    ID_HEADER,
    LogNotifier,
    NotificationSender,
    SmtpNotifier,
    WebhookNotifier,
    sending_notifications,
)
from idnode.storage.repository import NOTIFY
from tests.conftest import free_port, start_server, stop_server
from tests.http.helpers import apply
from tests.test_applications import submit
from tests.upstream.test_delivery import wait_until


@dataclass
class Receiver:
    """A webhook endpoint that records what it is sent and fails while ``failures`` is positive."""

    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    failures: int = 0


@asynccontextmanager
async def receiving(port: int | None = None) -> AsyncIterator[Receiver]:
    """A real aiohttp server on 127.0.0.1 answering POST /hook."""
    port = port or free_port()
    receiver = Receiver(f"http://127.0.0.1:{port}/hook")

    async def hook(request: web.Request) -> web.Response:
        if receiver.failures > 0:
            receiver.failures -= 1
            return web.Response(status=503, text="busy")
        receiver.received.append(await request.json())
        receiver.ids.append(request.headers[ID_HEADER])
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield receiver
    finally:
        await runner.cleanup()


async def test_webhook_delivery_and_retry(core: Core) -> None:
    application, _ = await submit(core)
    await core.applications.review(core.local_operator, application.id)
    async with receiving() as receiver, aiohttp.ClientSession() as session:
        sender = NotificationSender(core.repository, WebhookNotifier(session, receiver.url), "88.999", 1.0)
        receiver.failures = 1
        with pytest.raises(DeliveryFailed, match="503"):
            await sender.deliver_batch()
        assert len(await core.repository.pending_reports(10, NOTIFY)) == 2  # nothing lost
        assert await sender.deliver_batch() == 2
        assert await sender.deliver_batch() == 0
    assert [m["event"] for m in receiver.received] == ["application.submitted", "application.under_review"]
    first = receiver.received[0]
    assert first["id"] == receiver.ids[0] and first["id"].startswith("88.999:")
    assert first["to"] == [application.draft.contact_email]
    assert first["application"]["id"] == application.id and first["application"]["state"] == "submitted"
    assert "token" not in str(receiver.received)  # notifications carry no secrets
    assert await core.repository.report_backlog(NOTIFY) == (0, None)


async def test_the_background_sender_retries_with_backoff(core: Core) -> None:
    async with receiving() as receiver:
        receiver.failures = 2
        settings = replace(
            core.settings, notifier="webhook", notify_webhook_url=receiver.url, notify_max_backoff_seconds=0.2
        )
        async with sending_notifications(core.repository, settings):
            application, _ = await submit(core)
            await wait_until(lambda: asyncio.sleep(0, receiver.received))
    assert receiver.failures == 0
    assert [m["application"]["id"] for m in receiver.received] == [application.id]


async def test_notifications_survive_a_restart_while_queued(tmp_path: Path) -> None:
    port = free_port()
    data_dir = tmp_path / "node"
    data_dir.mkdir()
    (data_dir / "idnode.toml").write_text(
        f'notifier = "webhook"\nnotify_webhook_url = "http://127.0.0.1:{port}/hook"\n'
        "notify_max_backoff_seconds = 0.5\n"
    )
    node = start_server(data_dir)  # the webhook is down: nothing listens on its port yet
    try:
        async with aiohttp.ClientSession() as session:
            app_id, _, _ = await apply(session, node)
        await asyncio.sleep(1.0)  # a few failed attempts
    finally:
        stop_server(node)
    async with receiving(port) as receiver:
        node = start_server(data_dir)
        try:
            await wait_until(lambda: asyncio.sleep(0, receiver.received))
        finally:
            stop_server(node)
    assert [(m["event"], m["application"]["id"]) for m in receiver.received] == [
        ("application.submitted", app_id)
    ]


class SmtpSink:
    """Just enough of an SMTP server (RFC 5321) for smtplib to hand it a message."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        recipients: list[str] = []
        writer.write(b"220 sink ESMTP\r\n")
        while line := await reader.readline():
            command = line.decode().strip().upper()
            if command.startswith("RCPT TO:"):
                recipients.append(line.decode().strip()[8:].strip("<> "))
            if command == "DATA":
                writer.write(b"354 go ahead\r\n")
                data = b""
                while (chunk := await reader.readline()) != b".\r\n":
                    data += chunk
                self.messages.append((recipients, data))
                writer.write(b"250 queued\r\n")
            elif command == "QUIT":
                writer.write(b"221 bye\r\n")
                break
            else:
                writer.write(b"250 ok\r\n")
            await writer.drain()
        await writer.drain()
        writer.close()


async def test_smtp_mails_the_applicant_and_the_operator(core: Core) -> None:
    sink = SmtpSink()
    server = await asyncio.start_server(sink.session, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    core.settings = replace(core.settings, notify_operator_email="operator@example.org")
    core.applications.settings = core.settings
    try:
        application, _ = await submit(core)
        await core.applications.review(core.local_operator, application.id)
        await core.applications.reject(core.local_operator, application.id, "营业执照不清晰")
        notifier = SmtpNotifier("127.0.0.1", port, "idnode@example.org", 5.0)
        sender = NotificationSender(core.repository, notifier, "88.999", 1.0)
        assert await sender.deliver_batch() == 3
    finally:
        server.close()
        await server.wait_closed()
    applicant = application.draft.contact_email
    assert [to for to, _ in sink.messages] == [[applicant, "operator@example.org"], [applicant], [applicant]]
    mails = [message_from_bytes(data, policy=policy.default) for _, data in sink.messages]
    assert mails[0]["Subject"] == "入网申请已提交 / Application submitted"
    assert mails[2]["From"] == "idnode@example.org"
    assert "营业执照不清晰" in mails[2].get_content() and application.id in mails[2].get_content()


async def test_log_notifier(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="idnode.notify"):
        await LogNotifier().send({"id": "88.999:1", "event": "application.approved"})
    assert "application.approved" in caplog.text
