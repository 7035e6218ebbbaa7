"""Notifications about applications, queued durably and delivered through a pluggable notifier.

Every application transition queues its notification on the ``notify`` channel of the outbox in the
transaction of the transition itself (``Transaction.add_reports(..., NOTIFY)``), so a notification
exists exactly when its transition committed and survives restarts until it is delivered. One
process sends them (lock ``notification-sender``, idnode/delivery.py), oldest first, one at a time,
through the configured notifier:

- ``log``: writes one log line per notification (the default; nothing leaves the machine);
- ``webhook``: POSTs the notification as JSON to ``notify_webhook_url``; any 2xx answer delivers it.
  The body is ``{"id", "event", "at", "to", "application"}``; ``id`` (``<node prefix>:n``, also in the
  ``X-Idnode-Notification`` header) is the same on every attempt, for the receiver to deduplicate;
- ``smtp``: mails the applicant (and, for new applications, ``notify_operator_email``) through
  ``smtp_host``:``smtp_port`` from ``smtp_from``, with the standard library's smtplib in a thread.

A failure keeps the notification queued and retries it with backoff (at most
``notify_max_backoff_seconds`` apart). Notifications never carry secrets: the applicant's token and
the new enterprise's credential are shown once, to whoever made the request that created them.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.message import EmailMessage
from typing import Any, Protocol

import aiohttp
import orjson

from idnode.background import running
from idnode.config import Settings
from idnode.delivery import DeliveryFailed, deliver_forever
from idnode.model.application import Application
from idnode.model.values import iso_timestamp
from idnode.storage.repository import NOTIFY, Report, Repository, StoredReport

log = logging.getLogger(__name__)
LOCK_NAME = "notification-sender"
ID_HEADER = "X-Idnode-Notification"
BATCH = 50

# event -> (subject, first line of the mail), in Chinese and English.
EVENT_TEXT: dict[str, tuple[str, str]] = {
    "application.submitted": (
        "入网申请已提交 / Application submitted",
        "已收到您的申请。We received your application.",
    ),
    "application.under_review": (
        "入网申请审核中 / Application under review",
        "您的申请正在审核。It is being reviewed.",
    ),
    "application.approved": ("入网申请已通过 / Application approved", "您的申请已通过。It was approved."),
    "application.rejected": ("入网申请未通过 / Application rejected", "您的申请未通过。It was rejected."),
    "application.withdrawn": ("入网申请已撤回 / Application withdrawn", "您的申请已撤回。It was withdrawn."),
}


def application_notice(application: Application, operator_email: str) -> Report:
    """The notification of ``application`` having reached its current state."""
    recipients = [application.draft.contact_email]
    if application.state.value == "submitted" and operator_email:
        recipients.append(operator_email)
    summary = application.to_json()
    payload = {
        "to": recipients,
        "application": {
            k: summary[k]
            for k in ("id", "state", "name", "uscc", "district", "industry", "reason", "enterprise_prefix")
        },
    }
    return f"application.{application.state.value}", application.id, payload


def message(node_prefix: str, notice: StoredReport) -> dict[str, Any]:
    """The JSON a notifier delivers for a queued notification."""
    payload = orjson.loads(notice.payload)
    return {
        "id": f"{node_prefix}:{notice.seq}",
        "event": notice.kind,
        "at": iso_timestamp(int(notice.created_at.timestamp())),
        **payload,
    }


class Notifier(Protocol):
    """Delivers one notification; raises (anything) when it could not, so it is retried later."""

    async def send(self, notification: dict[str, Any]) -> None: ...


class LogNotifier:
    async def send(self, notification: dict[str, Any]) -> None:
        log.info("notification %s", orjson.dumps(notification).decode())


class WebhookNotifier:
    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url

    async def send(self, notification: dict[str, Any]) -> None:
        headers = {"Content-Type": "application/json", ID_HEADER: notification["id"]}
        async with self.session.post(self.url, data=orjson.dumps(notification), headers=headers) as response:
            if not 200 <= response.status < 300:
                answer = await response.read()
                raise DeliveryFailed(f"{self.url} answered {response.status}: {answer[:200]!r}")


class SmtpNotifier:
    def __init__(self, host: str, port: int, sender: str, timeout: float) -> None:
        self.host, self.port, self.sender, self.timeout = host, port, sender, timeout

    def mail(self, notification: dict[str, Any]) -> EmailMessage:
        subject, opening = EVENT_TEXT[notification["event"]]
        application = notification["application"]
        lines = [
            opening,
            "",
            f"申请编号 / Application: {application['id']}",
            f"企业名称 / Name: {application['name']}",
            f"统一社会信用代码 / USCC: {application['uscc']}",
            f"状态 / State: {application['state']}",
        ]
        if application.get("reason"):
            lines.append(f"理由 / Reason: {application['reason']}")
        if application.get("enterprise_prefix"):
            lines.append(f"企业前缀 / Enterprise prefix: {application['enterprise_prefix']}")
        mail = EmailMessage()
        mail["Subject"], mail["From"], mail["To"] = subject, self.sender, ", ".join(notification["to"])
        mail["Message-ID"] = f"<{notification['id']}@idnode>"
        mail.set_content("\n".join(lines))
        return mail

    def _deliver(self, mail: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            smtp.send_message(mail)

    async def send(self, notification: dict[str, Any]) -> None:
        await asyncio.to_thread(self._deliver, self.mail(notification))


class NotificationSender:
    """Delivers the ``notify`` channel of the outbox through a notifier; see the module docstring."""

    def __init__(
        self, repository: Repository, notifier: Notifier, node_prefix: str, max_backoff: float
    ) -> None:
        self.repository = repository
        self.notifier = notifier
        self.node_prefix = node_prefix
        self.max_backoff = max_backoff

    async def deliver_batch(self) -> int:
        """Send the oldest queued notifications, one by one; return how many were sent. On the first
        failure raise DeliveryFailed (those sent before it stay delivered)."""
        pending = await self.repository.pending_reports(BATCH, NOTIFY)
        for notice in pending:
            try:
                await self.notifier.send(message(self.node_prefix, notice))
            except Exception as exc:
                await self.repository.record_attempt([notice.seq], delivered=False)
                raise DeliveryFailed(f"notification {notice.seq}: {exc or type(exc).__name__}") from exc
            await self.repository.record_attempt([notice.seq], delivered=True)
        return len(pending)

    async def run(self) -> None:
        await deliver_forever(
            self.repository, LOCK_NAME, self.deliver_batch, BATCH, self.max_backoff, "notification"
        )


@asynccontextmanager
async def notifier_for(settings: Settings) -> AsyncIterator[Notifier]:
    """The notifier ``settings.notifier`` names, open for the duration of the block."""
    if settings.notifier == "webhook":
        timeout = aiohttp.ClientTimeout(total=settings.notify_timeout_seconds)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            yield WebhookNotifier(session, settings.notify_webhook_url)
    elif settings.notifier == "smtp":
        yield SmtpNotifier(
            settings.smtp_host, settings.smtp_port, settings.smtp_from, settings.notify_timeout_seconds
        )
    else:
        yield LogNotifier()


@asynccontextmanager
async def sending_notifications(
    repository: Repository, settings: Settings
) -> AsyncIterator[NotificationSender]:
    """Run a NotificationSender with the configured notifier for the duration of the block."""
    async with notifier_for(settings) as notifier:
        sender = NotificationSender(
            repository, notifier, settings.node_prefix_canonical, settings.notify_max_backoff_seconds
        )
        async with running(sender.run(), "idnode-notifications"):
            yield sender
