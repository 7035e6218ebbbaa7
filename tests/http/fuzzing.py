"""Fuzzing a running node from its own OpenAPI document (schemathesis), for tests/http/test_fuzz.py.

Every operation is called with generated requests, valid (positive) and invalid (negative), as an
anonymous caller, as the operator, as an enterprise admin (Basic), or with that admin's SNMS bearer
token (from ``POST /identity/token``; renewed when a logout ends it); parameters and body fields
naming a handle or a prefix are sometimes anchored under the enterprises the run onboarded (an SNMS
record body also onto the run's data template, a login body onto the admin's credential), so writes,
deletes, listings and logins succeed as well as fail; an anchored application submission is made
valid (a fresh USCC, a PDF licence) so that it is accepted, and application ids onto the latest the
run submitted; where the document takes an applicant's token, the applicant of the application named
(or of the latest) is a caller too. Every answer must be no 5xx and must match the document: a
documented status, the documented content type and headers, a body valid against the documented
schema. The stateful run follows the document's links (PUT a handle → resolve it → delete it;
onboard an enterprise → read it → change it; add a template → read it → delete it; submit an
application → read it → review it → approve or reject it).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import hypothesis.errors
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.transport.serialization import Binary

from tests.http.helpers import PDF, Credentials, application_fields

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
SCENARIOS_PER_ROUND = 10
BEARER = "writer's bearer token"  # a caller: the writer's SNMS token, sent as Authorization: Bearer
BASIC_SCHEME, BEARER_SCHEME = "handleBasic", "SnmsBearer"  # as the document names them
LOGOUT = ("DELETE", "/identity/token")  # ends the token it is sent
# The run's SNMS data template of the writer's prefix (an optional string item at index 2000), which
# anchored identifier registrations follow.
TEMPLATE_VERSION = "fuzz-1.0"
TEMPLATE_ITEM = {"index": 2000, "type": "name"}
APPLICATIONS = "/api/applications"
APPLICANT_SCHEME = "ApplicantToken"  # as the document names it
APPLICANT = "applicant"  # a caller: the applicant's token of the application a request names


@dataclass
class Target:
    """A running node and the callers a run uses: ``writer`` owns ``writer_prefix`` (handles are
    written under it); ``victim_prefix`` is the enterprise whose details and secret the run changes
    (so the writer's credential keeps working)."""

    url: str
    operator: Credentials
    writer_prefix: str
    writer: Credentials
    victim_prefix: str
    session: requests.Session = field(default_factory=requests.Session)
    requests_made: int = 0
    _token: str | None = None
    tokens: dict[str, str] = field(default_factory=dict)  # the run's applications: token by id

    def __post_init__(self) -> None:
        self.session.hooks["response"].append(self._count)

    def _count(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.requests_made += 1

    def _own(self, handle: Any) -> Any:
        """``handle`` under the writer's prefix (as it is if it is there already, or no string)."""
        own = f"{self.writer_prefix}/"
        return handle if not isinstance(handle, str) or handle.startswith(own) else f"{own}{handle}"

    def anchor(self, case: schemathesis.Case, *, prefixes: bool = True) -> None:
        """Move the case's handle (and, if ``prefixes``, prefix) parameters and body fields onto this
        run's enterprises; a handle already under the writer's prefix (from a link) stays as it is."""
        path, query = case.path_parameters or {}, case.query or {}
        if "handle" in path:
            path["handle"] = self._own(str(path["handle"]))
        if "handle" in query:
            query["handle"] = self._own(query["handle"])
        if "prefix" in query:
            query["prefix"] = self.writer_prefix
            if "version" in query:
                query["version"] = TEMPLATE_VERSION
        if "prefix" in path and prefixes:
            path["prefix"] = self.victim_prefix
        if "id" in path and case.path.startswith(f"{APPLICATIONS}/") and path["id"] not in self.tokens:
            path["id"] = next(reversed(self.tokens))  # the latest the run submitted
        if (case.method.upper(), case.path) == ("POST", APPLICATIONS) and isinstance(case.body, dict):
            case.body = self.valid_application(case.body)
        body = case.body
        for item in body if isinstance(body, list) else [body]:
            self._anchor_object(item)
        if isinstance(body, list):
            case.body = [self._own(item) for item in body]

    def _anchor_object(self, obj: Any) -> None:
        """An SNMS request object: a record onto the writer's prefix and the run's data template, a
        template onto the writer's prefix, a login onto the writer's credential."""
        if not isinstance(obj, dict):
            return
        if "handle" in obj:
            obj["handle"] = self._own(obj["handle"])
        if "templateVersion" in obj:
            obj["templateVersion"] = TEMPLATE_VERSION
            values = obj.get("value")
            attributes = values if isinstance(values, list) else []
            content = next((v.get("data") for v in attributes if isinstance(v, dict)), None)
            text = content.get("value") if isinstance(content, dict) else None
            obj["value"] = [{**TEMPLATE_ITEM, "data": {"format": "string", "value": str(text or "x")[:255]}}]
        if "prefix" in obj:
            obj["prefix"] = self.writer_prefix
        if "username" in obj and "password" in obj:
            obj["username"], obj["password"] = self.writer.username, self.writer.secret

    def add_data_template(self) -> None:
        """Create the run's SNMS data template of the writer's prefix (TEMPLATE_VERSION)."""
        body = {
            "prefix": self.writer_prefix,
            "version": TEMPLATE_VERSION,
            **dict(industryCategory="C", industrySpecific="34", industryTrade="344", industrySubclass="3441"),
            "type": 1,
            "items": [
                {
                    "name": "名称",
                    "idType": TEMPLATE_ITEM["type"],
                    "idIndex": TEMPLATE_ITEM["index"],
                    "metadata": {"type": "string", "minLength": 0, "maxLength": 255},
                }
            ],
        }
        answer = self.session.post(f"{self.url}/snms/api/v5/template", json=body, headers=self.writer)
        assert answer.json()["status"] == 1, answer.text

    @staticmethod
    def valid_application(body: dict[str, Any]) -> dict[str, Any]:
        """An accepted submission in place of a generated one: valid fields with a new USCC, and the
        generated licence bytes made a PDF file."""
        licence = body.get("licence")
        data = licence.data if isinstance(licence, Binary) else b""
        return {**application_fields(), "licence": Binary(PDF + data)}

    def add_application(self) -> None:
        """Submit the run's first application (so that anchored application ids have one)."""
        licence = {"licence": ("licence.pdf", PDF, "application/pdf")}
        answer = self.session.post(f"{self.url}{APPLICATIONS}", data=application_fields(), files=licence)
        assert answer.status_code == 201, answer.text
        self._note_application(answer.json())

    def _note_application(self, answer: dict[str, Any]) -> None:
        self.tokens[answer["application"]["id"]] = answer["token"]

    def headers(self, case: schemathesis.Case, caller: Credentials | str | None) -> dict[str, str] | None:
        """The Authorization header of a caller for ``case``. BEARER: the writer's live token, logging
        in for one when the run has none (a scenario following links from an enterprise listing may
        reset the writer's secret: then the login fails and the writer's Basic credential goes instead,
        and is refused like any credential that no longer works). APPLICANT: the token of the
        application the case names, if the run submitted it, else of the latest."""
        if caller == APPLICANT:
            named = (case.path_parameters or {}).get("id")
            token = self.tokens.get(named) if isinstance(named, str) else None
            return {"Authorization": f"Bearer {token or next(reversed(self.tokens.values()))}"}
        if caller != BEARER:
            return caller  # type: ignore[return-value]
        if self._token is None:
            login = {"username": self.writer.username, "password": self.writer.secret}
            answer = self.session.post(f"{self.url}/identity/token", json=login)
            if answer.status_code != 200:
                return self.writer
            self._token = answer.json()["data"]["token"]
        return {"Authorization": f"Bearer {self._token}"}

    def called(self, case: schemathesis.Case, response: schemathesis.Response) -> None:
        """Note what a call did: a successful logout ended the run's token; an accepted application
        submission gave an applicant's token."""
        if (case.method.upper(), case.path) == LOGOUT and response.status_code == 200:
            self._token = None
        if (case.method.upper(), case.path) == ("POST", APPLICATIONS) and response.status_code == 201:
            self._note_application(response.json())


def load_schema(url: str) -> schemathesis.BaseSchema:
    """The document as the node serves it (so serving it is exercised too)."""
    return schemathesis.openapi.from_url(f"{url}/api/openapi.json")


def _settings(examples: int, *, derandomize: bool) -> hypothesis.settings:
    return hypothesis.settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=derandomize,
        phases=[Phase.explicit, Phase.generate],  # report what failed; shrinking costs minutes
        suppress_health_check=list(HealthCheck),
    )


def _callers(
    schema: schemathesis.BaseSchema, operation: schemathesis.APIOperation, target: Target
) -> list[Credentials | str | None]:
    """Who calls ``operation``: anonymous, and the holders of the credentials its documented security
    names (Basic: the operator and the writer; the bearer scheme: the writer's token, put first, as
    the caller Hypothesis draws most, since anonymous calls there often carry a forged token anyway;
    the applicant's token: APPLICANT)."""
    security = operation.definition.raw.get("security", schema.raw_schema.get("security", []))
    schemes = {name for option in security for name in option}
    callers: list[Credentials | str | None] = [BEARER] if BEARER_SCHEME in schemes else []
    callers.append(None)
    if BASIC_SCHEME in schemes:
        callers += [target.operator, target.writer]
    if APPLICANT_SCHEME in schemes:
        callers.append(APPLICANT)
    return callers


def fuzz_operations(
    schema: schemathesis.BaseSchema, target: Target, examples: int, *, derandomize: bool = True
) -> list[str]:
    """Call every operation ``examples`` times per generation mode; return one line per failing
    operation and mode (empty when every answer conformed)."""
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        callers = st.sampled_from(_callers(schema, operation, target))
        for mode in MODES:

            @hypothesis.given(
                case=operation.as_strategy(generation_mode=mode), auth=callers, anchored=st.booleans()
            )
            @_settings(examples, derandomize=derandomize)
            def run(case: schemathesis.Case, auth: Credentials | str | None, anchored: bool) -> None:
                if anchored:
                    target.anchor(case)
                headers = target.headers(case, auth)
                response = case.call(base_url=target.url, session=target.session, headers=headers, timeout=30)
                target.called(case, response)
                case.validate_response(response, checks=CHECKS, headers=headers)

            try:
                run()
            except hypothesis.errors.Unsatisfiable:  # no parameter to make invalid: nothing to negate
                continue
            except (Exception, BaseExceptionGroup) as exc:  # failed checks (a FailureGroup) or a crash
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    return failures


def fuzz_stateful(
    schema: schemathesis.BaseSchema, target: Target, scenarios: int, *, derandomize: bool = True
) -> list[str]:
    """Run ``scenarios`` link-following scenarios; return one line per distinct failure (operation and
    failed checks)."""
    found: dict[tuple[str, frozenset[str]], str] = {}

    class Machine(schema.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: schemathesis.Case) -> None:
            target.anchor(case, prefixes=False)  # a prefix comes from a link or is generated

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            writes_handles = case.path.startswith(("/api/handles", "/api/bulk"))
            snms = case.path.startswith(("/identity", "/snms/"))
            auth = (
                target.headers(case, BEARER) if snms else target.writer if writes_handles else target.operator
            )
            # The applicant reads its licence and withdraws with its token; the operator does the rest.
            path = case.path_parameters or {}
            if path.get("id") in target.tokens and (
                case.path.endswith("/licence") or path.get("action") == "withdraw"
            ):
                auth = target.headers(case, APPLICANT)
            return {"base_url": target.url, "session": target.session, "headers": auth, "timeout": 30}

        def after_call(self, response: schemathesis.Response, case: schemathesis.Case) -> None:
            target.called(case, response)

        def validate_response(
            self, response: schemathesis.Response, case: schemathesis.Case, **kwargs: Any
        ) -> None:
            # Failures are collected, not raised: Hypothesis would replay the scenario to report it,
            # and a replay against a node whose data has moved on does not draw the same steps.
            try:
                case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)
            except (Exception, BaseExceptionGroup) as exc:
                checks = frozenset(str(getattr(e, "title", e)) for e in getattr(exc, "exceptions", [exc]))
                found.setdefault((case.operation.label, checks), f"stateful {case.operation.label}: {exc}")

    # In rounds: a link's parameters come from the node's answers, which change as the run writes, so
    # Hypothesis may find that replaying a scenario draws differently and stop the round (a
    # FlakyStrategyDefinition, not a finding about the node); the next round goes on.
    for start in range(0, scenarios, SCENARIOS_PER_ROUND):
        examples = min(SCENARIOS_PER_ROUND, scenarios - start)
        options = _settings(examples, derandomize=derandomize)
        with contextlib.suppress(hypothesis.errors.FlakyStrategyDefinition):
            Machine.run(settings=hypothesis.settings(options, stateful_step_count=6))
    return list(found.values())
