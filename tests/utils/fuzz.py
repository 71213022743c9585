"""Schemathesis runs over the whole OpenAPI document, shared by the short run in `make test`
(tests/api/test_fuzz_api.py, the ASGI app) and the longer one against a live server
(scripts/fuzz_api.sh): every phase, a seed, a time budget, and one verdict.

A finding is a failed check or a server error other than a provider 502/503 the route documents.
Three checks stay off, for reasons of the API rather than of the fuzzer: `positive_data_acceptance`
(a schema cannot carry every business rule: a review cursor this API did not issue, a bulk approval
below the brand's link floor, a currency code ISO 4217 does not know are well-formed and still 422),
`unsupported_method` (`GET /v1/episodes/upload` is `GET /v1/episodes/{episode_id}` with a non-UUID
id: a 422, as for any other bad id, not a 405), and `not_a_server_error`, replaced by the rule above.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events, from_schema

PHASES = ("examples", "coverage", "fuzzing", "stateful")
PROVIDER_STATUSES = {502, 503}
CHECKS_OFF = ("positive_data_acceptance", "unsupported_method", "not_a_server_error")


@schemathesis.serializer("video/*")
def _video(ctx: Any, value: Any) -> bytes:
    """The episode upload's raw body: whatever bytes were generated (the probe refuses them)."""
    return value if isinstance(value, bytes) else str(value).encode()


@dataclass
class FuzzResult:
    requests: int = 0
    scenarios: int = 0
    seconds: float = 0.0
    statuses: Counter[str] = field(default_factory=Counter)
    operations: set[str] = field(default_factory=set)
    findings: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "scenarios": self.scenarios,
            "operations": len(self.operations),
            "seconds": round(self.seconds, 1),
            "statuses": dict(sorted(self.statuses.items())),
            "findings": len(set(self.findings)),
        }


def fuzz_config(key: str, *, seed: int, max_time_s: int, max_examples: int) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "seed": seed,
            "max-time": max_time_s,
            "headers": {"Authorization": f"Bearer {key}"},
            "generation": {"max-examples": max_examples, "deterministic": False, "database": "none"},
            "phases": {name: {"enabled": True} for name in PHASES},
            "checks": {"enabled": True, **{name: {"enabled": False} for name in CHECKS_OFF}},
            "continue-on-failure": True,
        }
    )


def run_fuzz(schema: Any) -> FuzzResult:
    """Run every phase of `schema` (a loaded schemathesis schema) and judge every answer."""
    spec = schema.raw_schema
    result = FuzzResult()
    started = time.monotonic()
    for event in from_schema(schema).execute():
        if isinstance(event, events.NonFatalError):
            result.findings.append(f"error: {event.info.format()[:300]}")
        if not isinstance(event, events.ScenarioFinished):
            continue
        result.scenarios += 1
        recorder = event.recorder
        for case_id, interaction in recorder.interactions.items():
            response = interaction.response
            if response is None:
                continue
            case = recorder.cases[case_id].value
            status = response.status_code
            result.requests += 1
            result.statuses[f"{status // 100}xx"] += 1
            result.operations.add(f"{case.method} {case.path}")
            documented = spec["paths"].get(case.path, {}).get(case.method.lower(), {}).get("responses", {})
            if status >= 500 and not (status in PROVIDER_STATUSES and str(status) in documented):
                result.findings.append(f"{status} on {case.method} {case.path}: {response.content[:200]!r}")
        for case_id, checks in recorder.checks.items():
            for check in checks:
                if check.status is Status.FAILURE and check.failure_info is not None:
                    case = recorder.cases[case_id].value
                    failure = check.failure_info.failure
                    result.findings.append(
                        f"{check.name} on {case.method} {case.path}: {failure.title}: {failure.message}"
                    )
    result.seconds = time.monotonic() - started
    return result
