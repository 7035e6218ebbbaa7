"""The OpenAPI document (schema/openapi.yaml) against the app: valid OpenAPI 3.1, served as JSON, and
one path block for every route the app has (and none it has not)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import schemathesis
import yaml

from idnode.config import load_settings
from idnode.http.app import create_app

SCHEMA = Path(__file__).resolve().parents[2] / "schema"
METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")
# aiohttp answers HEAD on every GET route; the document says so once (info.description).
IMPLICIT = {"HEAD"}
# Server-rendered pages for people in a browser (forms posting back to themselves), not an API a
# program calls: left out of the document. /dashboard is in it, as the stats API's page.
PAGES = ("/portal", "/console")


def documented_operations(document: dict) -> set[tuple[str, str]]:
    """(METHOD, path) of every operation the document describes, following path-item $refs."""
    operations = set()
    for path, item in document["paths"].items():
        if "$ref" in item:
            item = document["components"]["pathItems"][item["$ref"].rsplit("/", 1)[1]]
        operations |= {(method.upper(), path) for method in item if method in METHODS}
    return operations


def app_operations(tmp_path: Path) -> set[tuple[str, str]]:
    """(METHOD, path template) of every route of the app, as the document spells paths."""
    app = create_app(load_settings({"data_dir": tmp_path}, environ={}))
    return {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None
        and route.method not in IMPLICIT
        and not route.resource.canonical.startswith(PAGES)
    }


@pytest.fixture(scope="module")
def document() -> dict:
    return yaml.safe_load((SCHEMA / "openapi.yaml").read_text(encoding="utf-8"))


def test_document_is_valid_openapi_3_1(document: dict) -> None:
    assert document["openapi"].startswith("3.1")
    schemathesis.openapi.from_dict(document).validate()  # against the OpenAPI 3.1 meta-schema


def test_every_route_is_documented_and_every_documented_path_exists(document: dict, tmp_path: Path) -> None:
    in_app, in_document = app_operations(tmp_path), documented_operations(document)
    missing = sorted(in_app - in_document)
    stale = sorted(in_document - in_app)
    problems = [
        *(f"  {method} {path}: a route of the app, not in the document" for method, path in missing),
        *(f"  {method} {path}: in the document, not a route of the app" for method, path in stale),
    ]
    assert not problems, (
        "schema/openapi.yaml is out of step with idnode/http/app.py:\n"
        + "\n".join(problems)
        + "\nAdd (or remove) one path block per endpoint, then run tools/openapi_json.py."
    )


def test_served_json_is_the_yaml_document(document: dict) -> None:
    served = json.loads((SCHEMA / "openapi.json").read_text(encoding="utf-8"))
    assert served == document, "schema/openapi.json is stale: run tools/openapi_json.py"


def test_operation_ids_are_unique(document: dict) -> None:
    ids = [
        operation["operationId"]
        for item in document["paths"].values()
        for method, operation in item.items()
        if method in METHODS and "operationId" in operation
    ]
    assert len(ids) == len(set(ids))
