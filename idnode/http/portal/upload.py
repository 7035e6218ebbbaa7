"""Bulk import from the portal: a CSV or JSON Lines file imported through the same path as
``POST /api/bulk`` and ``idnode import`` (``Importer.run``), with progress and an error report.

The answer page is streamed while the import runs: after each committed batch the server sends a new
progress bar (CSS shows only the last), so the progress is live in any browser, without JavaScript,
and the page ends with the counts, the first failures and a link to the full error report. The report
is a file in ``<data_dir>/portal-reports/<prefix>/`` named by a random token, kept for a day; the
uploaded file's own name is only looked at for its extension and never used as a path.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any, BinaryIO

import aiohttp_jinja2
from aiohttp import BodyPartReader, web

from idnode.bulk import BulkResult
from idnode.http.keys import IMPORTER, SESSIONS, SETTINGS, TEMPLATES
from idnode.http.limits import takes_body
from idnode.http.multipart import chunks, well_framed
from idnode.http.portal.messages import translator
from idnode.http.portal.pages import (
    SECURITY_HEADERS,
    CsrfRefused,
    language,
    page_context,
    render,
    require_session,
)
from idnode.importfile import FORMATS, ImportFile
from idnode.importing import ErrorReport, summary
from idnode.model.errors import IdnodeError
from idnode.sessions import WebSession

BATCH = 200  # rows per transaction here: small enough for the bar to move on a file of a few thousand
SHOWN_FAILURES = 20
REPORT_DAYS = 1
_TOKEN = re.compile(r"[A-Za-z0-9_-]{22}")


def _limit_text(limit: int) -> str:
    return f"{limit / 2**20:.0f} MiB" if limit >= 2**20 else f"{limit // 1024} KiB"


def reports_dir(request: web.Request, session: WebSession) -> Path:
    """The signed-in enterprise's folder of error reports (prefixes are dot-separated ASCII names)."""
    return request.app[SETTINGS].data_dir / "portal-reports" / session.principal.prefix


async def upload_form(request: web.Request) -> web.Response:
    await require_session(request)
    context = {
        "templates": await request.app[TEMPLATES].listing(),
        "limit": _limit_text(request.app[SETTINGS].portal_upload_bytes),
        "message": "",
    }
    return await render(request, "upload.html", context)


async def _refuse(request: web.Request, key: str, status: int) -> web.Response:
    t = translator(language(request))
    limit = _limit_text(request.app[SETTINGS].portal_upload_bytes)
    context = {
        "templates": await request.app[TEMPLATES].listing(),
        "limit": limit,
        "message": t(key, limit=limit),
    }
    return await render(request, "upload.html", context, status=status)


async def _spool(part: BodyPartReader, spool: BinaryIO, limit: int) -> bool:
    """Copy the file part to ``spool``; False (and stop reading) once it passes ``limit`` bytes."""
    size = 0
    async for chunk in chunks(part):
        size += len(chunk)
        if size > limit:
            return False
        spool.write(chunk)
    return True


# The form's other fields and the multipart framing, so a file at the limit gets the page's own refusal.
FORM_ALLOWANCE_BYTES = 64 * 1024


@takes_body(lambda settings: settings.portal_upload_bytes + FORM_ALLOWANCE_BYTES)
async def upload_submit(request: web.Request) -> web.StreamResponse:
    """Read the multipart form (the CSRF token must come before the file), then import the file."""
    session = await require_session(request)
    fields: dict[str, str] = {}
    with well_framed():
        reader = await request.multipart()
    with tempfile.TemporaryFile() as spool:
        fmt = None
        with well_framed():
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader):
                    continue
                if part.name != "file":
                    fields[part.name or ""] = (await part.text())[:200]
                    continue
                if not request.app[SESSIONS].csrf_ok(session, fields.get("csrf")):
                    raise CsrfRefused(text="csrf_failed")
                fmt = FORMATS.get(Path(part.filename or "").suffix.lower())
                if not part.filename:
                    return await _refuse(request, "no_file", 400)
                if fmt is None:
                    return await _refuse(request, "bad_file_type", 415)
                if not await _spool(part, spool, request.app[SETTINGS].portal_upload_bytes):
                    return await _refuse(request, "file_too_large", 413)
        if not request.app[SESSIONS].csrf_ok(session, fields.get("csrf")):
            raise CsrfRefused(text="csrf_failed")
        if fmt is None:
            return await _refuse(request, "no_file", 400)
        source = await asyncio.to_thread(ImportFile.open, spool, fmt)
        return await _run(request, session, source, fields.get("template") or None, "dry_run" in fields)


def _old_reports_removed(folder: Path) -> None:
    cutoff = time.time() - REPORT_DAYS * 86400
    for old in folder.glob("*.csv"):
        if old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)


async def _run(
    request: web.Request, session: WebSession, source: ImportFile, template: str | None, dry_run: bool
) -> web.StreamResponse:
    """Stream the progress page while the file is imported; see the module docstring."""
    folder = reports_dir(request, session)
    folder.mkdir(parents=True, exist_ok=True)
    _old_reports_removed(folder)
    token = secrets.token_urlsafe(16)
    base = {**await page_context(request), "total": source.rows}
    response = web.StreamResponse(headers={**SECURITY_HEADERS, "Content-Type": "text/html; charset=utf-8"})
    await response.prepare(request)
    env = aiohttp_jinja2.get_env(request.app)
    await response.write(env.get_template("upload_run.html").render(**base).encode())
    done: asyncio.Queue[int] = asyncio.Queue()

    def progress(result: BulkResult) -> None:
        done.put_nowait(result.processed)

    with ErrorReport(folder / f"{token}.csv") as report:
        task = asyncio.ensure_future(
            request.app[IMPORTER].run(
                session.principal,
                source,
                prefix=session.principal.prefix,
                template=template,
                dry_run=dry_run,
                batch_size=BATCH,
                report=report,
                progress=progress,
            )
        )
        tick = env.get_template("upload_tick.html")
        while not task.done() or not done.empty():
            waiter = asyncio.ensure_future(done.get())
            await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
            if waiter.done():
                await response.write(tick.render(**base, done=waiter.result()).encode())
            else:
                waiter.cancel()
        outcome: dict[str, Any]
        try:
            outcome = {"summary": summary(task.result()), "error": ""}
        except IdnodeError as exc:
            outcome = {"summary": None, "error": exc.message}
        failed_rows = report.rows
    outcome["failures"] = (outcome["summary"] or {}).get("failures", [])[:SHOWN_FAILURES]
    outcome["report_url"] = f"/portal/upload/report?id={token}" if failed_rows else ""
    outcome["dry_run"] = dry_run
    await response.write(env.get_template("upload_result.html").render(**base, **outcome).encode())
    await response.write_eof()
    return response


async def error_report(request: web.Request) -> web.StreamResponse:
    """The error report of one of the signed-in enterprise's uploads (404 for anyone else's)."""
    session = await require_session(request)
    token = request.query.get("id", "")
    if not _TOKEN.fullmatch(token):
        raise web.HTTPNotFound()
    path = reports_dir(request, session) / f"{token}.csv"
    if not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(
        path,
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": 'attachment; filename="import-errors.csv"',
        },
    )


routes = [
    web.get("/portal/upload", upload_form),
    web.post("/portal/upload", upload_submit),
    web.get("/portal/upload/report", error_report),
]
