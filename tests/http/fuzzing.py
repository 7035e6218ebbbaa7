"""Fuzzing a running node from its own OpenAPI document (schemathesis), for tests/http/test_fuzz.py.

Every operation is called with generated requests, valid (positive) and invalid (negative), as an
anonymous caller, as the operator, or as an enterprise admin; path and query parameters naming a
handle or a prefix are sometimes anchored under the enterprises the run onboarded, so writes,
deletes and listings succeed as well as fail; an anchored application submission is made valid (a
fresh USCC, a PDF licence) so that it is accepted, and application ids onto the latest the run
submitted; where the document takes an applicant's token, the applicant of the application named (or
of the latest) is a caller too. Every answer must be no 5xx and must
match the document: a documented status, the documented content type and headers, a body valid
against the documented schema. The stateful run follows the document's links (PUT a handle →
resolve it → delete it; onboard an enterprise → read it → change it; add a template → read it →
delete it; submit an application → read it → review it → approve or reject it).
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
    tokens: dict[str, str] = field(default_factory=dict)  # the run's applications: token by id

    def __post_init__(self) -> None:
        self.session.hooks["response"].append(self._count)

    def _count(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.requests_made += 1

    def anchor(self, case: schemathesis.Case, *, prefixes: bool = True) -> None:
        """Move the case's handle (and, if ``prefixes``, prefix) parameters onto this run's
        enterprises and its application, and make an application submission valid; a handle already
        under the writer's prefix or an application the run submitted (from a link) stays as it is."""
        path, query = case.path_parameters or {}, case.query or {}
        own = f"{self.writer_prefix}/"
        if "handle" in path and not str(path["handle"]).startswith(own):
            path["handle"] = f"{own}{path['handle']}"
        if "prefix" in query:
            query["prefix"] = self.writer_prefix
        if "prefix" in path and prefixes:
            path["prefix"] = self.victim_prefix
        if "id" in path and case.path.startswith(f"{APPLICATIONS}/") and path["id"] not in self.tokens:
            path["id"] = next(reversed(self.tokens))  # the latest the run submitted
        if (case.method.upper(), case.path) == ("POST", APPLICATIONS) and isinstance(case.body, dict):
            case.body = self.valid_application(case.body)

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

    def called(self, case: schemathesis.Case, response: schemathesis.Response) -> None:
        """Note the applicant's token of an accepted submission."""
        if (case.method.upper(), case.path) == ("POST", APPLICATIONS) and response.status_code == 201:
            self._note_application(response.json())

    def callers(self, operation: schemathesis.APIOperation) -> list[Credentials | str | None]:
        """Who calls ``operation``: anonymous, the operator, the writer, and APPLICANT where the
        document takes an applicant's token."""
        security = operation.definition.raw.get("security", [])
        applicant = [APPLICANT] if any(APPLICANT_SCHEME in option for option in security) else []
        return [None, self.operator, self.writer, *applicant]

    def headers(self, case: schemathesis.Case, caller: Credentials | str | None) -> dict[str, str] | None:
        """The Authorization header of a caller for ``case`` (APPLICANT: the token of the application
        it names, if the run submitted it, else of the latest)."""
        if caller != APPLICANT:
            return caller  # type: ignore[return-value]
        named = (case.path_parameters or {}).get("id")
        token = self.tokens.get(named) if isinstance(named, str) else None
        return {"Authorization": f"Bearer {token or next(reversed(self.tokens.values()))}"}


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


def fuzz_operations(
    schema: schemathesis.BaseSchema, target: Target, examples: int, *, derandomize: bool = True
) -> list[str]:
    """Call every operation ``examples`` times per generation mode; return one line per failing
    operation and mode (empty when every answer conformed)."""
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        callers = st.sampled_from(target.callers(operation))
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
            auth = target.writer if writes_handles else target.operator
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
