"""Schemathesis over the whole OpenAPI document, against the ASGI app on SQLite with a seeded brand key
(issue #18): the examples, coverage, fuzzing and stateful phases, bounded in time and seeded, find no
server error other than a documented provider 502/503 and no answer the document does not describe
(status, content type, headers, body schema, Allow on 405, auth that is ignored).

Two checks stay off, for reasons of the API rather than of the fuzzer: `positive_data_acceptance`
(a schema cannot carry every business rule: a review cursor this API did not issue, a bulk approval
below the brand's link floor, a currency code ISO 4217 does not know are well-formed and still 422)
and `unsupported_method` (`GET /v1/episodes/upload` is `GET /v1/episodes/{episode_id}` with a
non-UUID id: a 422, as for any other bad id, not a 405). The longer run against a live server is
scripts/fuzz_api.sh (counts in BENCHMARKS.md).
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events, from_schema
from sqlalchemy import Engine

from api.app import create_app
from api.settings import ApiSettings
from tests.utils.api import BrandAccount, RecordingQueue

SEED = 20261218
MAX_TIME_S = 45
MAX_EXAMPLES = 8
PROVIDER_STATUSES = {502, 503}
CHECKS_OFF = ("positive_data_acceptance", "unsupported_method", "not_a_server_error")


@schemathesis.serializer("video/*")
def _video(ctx: Any, value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def fuzz_config(key: str, *, seed: int, max_time_s: int, max_examples: int) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "seed": seed,
            "max-time": max_time_s,
            "headers": {"Authorization": f"Bearer {key}"},
            "generation": {"max-examples": max_examples, "deterministic": False, "database": "none"},
            "phases": {name: {"enabled": True} for name in ("examples", "coverage", "fuzzing", "stateful")},
            "checks": {"enabled": True, **{name: {"enabled": False} for name in CHECKS_OFF}},
            "continue-on-failure": True,
        }
    )


def run_fuzz(schema: Any) -> tuple[Counter[str], list[str]]:
    """Run every phase; return how many requests each status class got and every finding, worded."""
    spec = schema.raw_schema
    statuses: Counter[str] = Counter()
    findings: list[str] = []
    for event in from_schema(schema).execute():
        if isinstance(event, events.NonFatalError):
            findings.append(f"error: {event.info.format()[:300]}")
        if not isinstance(event, events.ScenarioFinished):
            continue
        recorder = event.recorder
        for case_id, interaction in recorder.interactions.items():
            response = interaction.response
            if response is None:
                continue
            case = recorder.cases[case_id].value
            status = response.status_code
            statuses[f"{status // 100}xx"] += 1
            documented = spec["paths"].get(case.path, {}).get(case.method.lower(), {}).get("responses", {})
            if status >= 500 and not (status in PROVIDER_STATUSES and str(status) in documented):
                findings.append(f"{status} on {case.method} {case.path}: {response.content[:200]!r}")
        for case_id, checks in recorder.checks.items():
            for check in checks:
                if check.status is Status.FAILURE and check.failure_info is not None:
                    case = recorder.cases[case_id].value
                    failure = check.failure_info.failure
                    findings.append(
                        f"{check.name} on {case.method} {case.path}: {failure.title}: {failure.message}"
                    )
    return statuses, findings


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_the_api_answers_everything_schemathesis_sends_as_its_document_says(
    settings: ApiSettings, engine: Engine, brand: BrandAccount, tmp_path: Path
) -> None:
    settings.rate_limit_enabled = False  # thousands of requests from one client: not what is tested here
    app = create_app(settings, engine=engine, job_queue=RecordingQueue())
    with TestClient(app):  # runs the lifespan (media dir) once; schemathesis calls the app itself
        config = fuzz_config(brand.key, seed=SEED, max_time_s=MAX_TIME_S, max_examples=MAX_EXAMPLES)
        schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
        started = time.monotonic()
        statuses, findings = run_fuzz(schema)
    assert time.monotonic() - started < MAX_TIME_S + 15
    # It reached the routes, with requests they take and requests they refuse
    assert statuses["2xx"] > 50, statuses
    assert statuses["4xx"] > 200, statuses
    assert "\n".join(sorted(set(findings))) == ""
