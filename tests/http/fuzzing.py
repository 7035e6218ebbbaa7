"""Fuzzing a running node from its own OpenAPI document (schemathesis), for tests/http/test_fuzz.py.

Every operation is called with generated requests, valid (positive) and invalid (negative), as an
anonymous caller, as the operator, or as an enterprise admin; path and query parameters naming a
handle or a prefix are sometimes anchored under the enterprises the run onboarded, so writes,
deletes and listings succeed as well as fail. Every answer must be no 5xx and must match the
document: a documented status, the documented content type and headers, a body valid against the
documented schema. The stateful run follows the document's links (PUT a handle → resolve it →
delete it; onboard an enterprise → read it → change it; add a template → read it → delete it).
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

from tests.http.helpers import Credentials

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
SCENARIOS_PER_ROUND = 10


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

    def __post_init__(self) -> None:
        self.session.hooks["response"].append(self._count)

    def _count(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.requests_made += 1

    def anchor(self, case: schemathesis.Case, *, prefixes: bool = True) -> None:
        """Move the case's handle (and, if ``prefixes``, prefix) parameters onto this run's
        enterprises; a handle already under the writer's prefix (from a link) stays as it is."""
        path, query = case.path_parameters or {}, case.query or {}
        own = f"{self.writer_prefix}/"
        if "handle" in path and not str(path["handle"]).startswith(own):
            path["handle"] = f"{own}{path['handle']}"
        if "prefix" in query:
            query["prefix"] = self.writer_prefix
        if "prefix" in path and prefixes:
            path["prefix"] = self.victim_prefix


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
    callers = st.sampled_from([None, target.operator, target.writer])
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in MODES:

            @hypothesis.given(
                case=operation.as_strategy(generation_mode=mode), auth=callers, anchored=st.booleans()
            )
            @_settings(examples, derandomize=derandomize)
            def run(case: schemathesis.Case, auth: Credentials | None, anchored: bool) -> None:
                if anchored:
                    target.anchor(case)
                case.call_and_validate(
                    base_url=target.url, session=target.session, headers=auth, checks=CHECKS, timeout=30
                )

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
            return {"base_url": target.url, "session": target.session, "headers": auth, "timeout": 30}

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
