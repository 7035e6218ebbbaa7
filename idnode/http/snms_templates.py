"""SNMS data templates over HTTP (thin): ``GET|POST|PUT|DELETE /snms/api/v5/template``.

GET ``?prefix=&version=`` answers the template in v5 form (anyone may read, as ``/api/templates``
shows the same documents); POST creates, PUT stores a changed version, DELETE (body ``{prefix,
version}``) deletes, each answering ``true``, for the enterprise owning the prefix (Basic credential
or SNMS bearer token) or the operator. See idnode/data_templates.py; answers are SNMS envelopes
(idnode/http/snms_errors.py).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from idnode.http.auth import principal_of
from idnode.http.keys import DATA_TEMPLATES
from idnode.http.snms import json_body_of
from idnode.http.snms_errors import snms_endpoint

PATH = "/snms/api/v5/template"


@snms_endpoint
async def show(request: web.Request) -> Any:
    return await request.app[DATA_TEMPLATES].show(request.query)


@snms_endpoint
async def create(request: web.Request) -> Any:
    await request.app[DATA_TEMPLATES].create(await principal_of(request), await json_body_of(request))
    return True


@snms_endpoint
async def change(request: web.Request) -> Any:
    await request.app[DATA_TEMPLATES].change(await principal_of(request), await json_body_of(request))
    return True


@snms_endpoint
async def delete(request: web.Request) -> Any:
    await request.app[DATA_TEMPLATES].delete(await principal_of(request), await json_body_of(request))
    return True


routes = [
    web.get(PATH, show),
    web.post(PATH, create),
    web.put(PATH, change),
    web.delete(PATH, delete),
]
