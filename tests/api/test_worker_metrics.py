"""A worker's metrics server: the jobs counted by the processes forked from it, summed, to the token only.

Multiprocess mode changes process-wide state of the metrics library, so each case runs in a fresh
Python process (`_run`): it switches the mode, forks processes that count jobs as pool processes do,
serves, and reports what a scraper got. The real `reelcart worker` (Celery's prefork pool) is scraped
in tests/api/test_celery_workers.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, os, socket, sys, uuid, urllib.error, urllib.request
from pydantic import SecretStr
from api.db import create_db_engine, upgrade_database
from api.observability.worker_metrics import count_in_every_process, serve_worker_metrics, worker_registry

from api.observability.metrics import observe_job

directory = count_in_every_process()

engine = create_db_engine(sys.argv[1])
upgrade_database(engine)
registry = worker_registry(directory, engine)
# Two pool processes: one runs two tag jobs, the other one link job that fails, then both exit.
for kinds in (["tag", "tag"], ["link"]):
    pid = os.fork()
    if pid == 0:
        for kind in kinds:
            try:
                with observe_job(kind, uuid.uuid4()) as seen:
                    if kind == "link":
                        seen.outcome = "failed"
            except Exception:
                os._exit(1)
        os._exit(0)
    os.waitpid(pid, 0)
with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
server = serve_worker_metrics(registry, SecretStr("scrape-token-1234"), "127.0.0.1", port)

def get(path, token=None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()

answers = {
    "right": get("/metrics", "scrape-token-1234"),
    "wrong": get("/metrics", "not-the-token"),
    "none": get("/metrics"),
    "elsewhere": get("/", "scrape-token-1234"),
}
server.shutdown()
print(json.dumps(answers))
"""


def _run(tmp_path: Path) -> dict[str, Any]:
    finished = subprocess.run(
        [sys.executable, "-c", SCRIPT, f"sqlite:///{tmp_path / 'metrics.db'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    answers: dict[str, Any] = json.loads(finished.stdout.strip().splitlines()[-1])
    return answers


def test_the_worker_serves_the_jobs_its_forked_processes_counted_to_the_token_only(tmp_path: Path) -> None:
    answers = _run(tmp_path)

    status, body = answers["right"]
    assert status == 200
    lines = body.splitlines()
    # Summed over the processes that counted them, though both have exited
    assert 'reelcart_jobs_total{kind="tag",outcome="done"} 2.0' in lines
    assert 'reelcart_jobs_total{kind="link",outcome="failed"} 1.0' in lines
    assert 'reelcart_job_duration_seconds_count{kind="tag",outcome="done"} 2.0' in lines
    # And the cluster's queue, counted in the database at scrape time
    assert "reelcart_database_up 1.0" in lines
    assert 'reelcart_jobs_queued{kind="tag"} 0.0' in lines
    for refused in ("wrong", "none"):
        assert answers[refused][0] == 401
        assert "Authorization: Bearer <REELCART_METRICS_TOKEN>" in answers[refused][1]
    assert answers["elsewhere"][0] == 404


RESTART = """
import json, os, sys
from api.observability.worker_metrics import count_in_every_process

directory = count_in_every_process()
print(json.dumps({"new": directory, "old_gone": not os.path.exists(sys.argv[1])}))
"""


def test_a_worker_restarted_in_place_removes_the_directory_its_predecessor_left(tmp_path: Path) -> None:
    # Given the directory of a worker that Celery restarted on SIGHUP (it exec's itself: no exit hook
    # ran), named in the environment the new process inherits, and an unrelated directory named there
    left = tmp_path / "reelcart-worker-metrics-abc123"
    left.mkdir()
    (left / "counter_4242.db").write_bytes(b"\0" * 16)
    unrelated = tmp_path / "someone-elses"
    unrelated.mkdir()
    answers = []
    for inherited in (left, unrelated):
        finished = subprocess.run(
            [sys.executable, "-c", RESTART, str(inherited)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(inherited)},
        )
        assert finished.returncode == 0, finished.stderr
        answers.append(json.loads(finished.stdout.strip().splitlines()[-1]))
    # Then the new worker removes its predecessor's directory and counts in a fresh one (itself removed
    # at exit), and leaves a directory that is not a worker's alone
    assert answers[0]["old_gone"] is True
    assert answers[1]["old_gone"] is False
    assert all(not os.path.exists(answer["new"]) for answer in answers)
