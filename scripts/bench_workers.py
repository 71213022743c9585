"""Worker scale-out benchmark: N episodes queued at once through the API, run by 1, 2 and 4 Celery worker
processes on this box, with the real pipeline (detector, tracker, linker against the demo's catalog).

Setup (once): a throw-away PostgreSQL database (REELCART_TEST_POSTGRES_URL's server), a private
redis-server on a free port as the broker, the demo's brand and catalog (GroceryStoreDataset's
packaged products when ../shared is there, else the drawn catalog) and the demo's 15 s portrait
episode, registered N times per round (one file, N episodes). Each round starts `reelcart worker
--concurrency W` (prefork: W processes), waits until it is ready, then queues the N tag jobs through the
API at once (`POST /v1/episodes/{id}/tag-jobs`) and waits for all of them. Reported per round:

- throughput: episodes/hour and video-minutes/hour over the round's wall time (first POST → last done);
- queue wait (created → started) and run time (started → finished), mean and max;
- CPU: seconds used by the worker's processes (from /proc) and their share of the box's cores;
- scaling: throughput relative to one process.

Each process loads the models and the catalog index on its first job; that is inside the round, as on
a freshly started node. The detector is var/models/yolox_nano.onnx (`make models`, `reelcart models pull
yolox-nano --from ../shared/models`).

Run: .venv/bin/python scripts/bench_workers.py [--episodes 6] [--workers 1,2,4] \
       [--json var/bench/workers.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlmodel import Session, col, select  # noqa: E402

from api.app import create_app  # noqa: E402
from api.auth import issue_api_key  # noqa: E402
from api.brands.models import ApiKeyScope, Brand  # noqa: E402
from api.catalog.models import ProductImage  # noqa: E402
from api.cli.catalog import import_catalog_file  # noqa: E402
from api.cli.demo import find_shared_dir  # noqa: E402
from api.db import create_db_engine, upgrade_database  # noqa: E402
from api.episodes.models import TagJob  # noqa: E402
from api.episodes.service import register_episode  # noqa: E402
from api.jobs.models import JobState  # noqa: E402
from api.settings import ApiSettings  # noqa: E402
from tagger.demo_media import (  # noqa: E402
    build_demo_episode,
    demo_scenes,
    readable_scenes,
    write_drawn_catalog,
    write_grocery_catalog,
)

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@dataclass
class Round:
    workers: int
    episodes: int
    video_s: float
    wall_s: float
    episodes_per_hour: float
    video_minutes_per_hour: float
    queue_wait_mean_s: float
    queue_wait_max_s: float
    run_mean_s: float
    run_max_s: float
    cpu_s: float
    cpu_share: float  # of all the box's cores over the round
    failed: int
    # Mean wall seconds by phase over the round's jobs (the tag jobs' own `seconds`; decode overlaps
    # detect and track, and `index` is the catalog index each process builds or loads on its first job).
    phase_mean_s: dict[str, float] = field(default_factory=dict)
    scaling: float = 1.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(what: str, condition: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise SystemExit(f"timed out after {timeout_s:g} s waiting for {what}")


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU of every live process in the process group (the worker and its pool)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the command: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def prepare(
    settings: ApiSettings, episodes_per_round: int, rounds: int
) -> tuple[str, list[list[uuid.UUID]], float]:
    """The brand, its catalog and N episodes per round; returns the brand key, the episode ids per
    round and the episode's length in seconds."""
    engine = create_db_engine(settings.database_url)
    upgrade_database(engine)
    shared = find_shared_dir()
    demo_dir = settings.media_dir / "demo"
    with Session(engine, expire_on_commit=False) as session:
        brand = Brand(name="Bench Grocer", slug="bench-grocer")
        session.add(brand)
        session.commit()
        catalog = write_grocery_catalog(shared, demo_dir) if shared else write_drawn_catalog(demo_dir)
        import_catalog_file(session, brand.id, catalog, settings.media_dir)
        session.commit()
        packshots = [
            Path(image.path)
            for image in session.exec(select(ProductImage).where(ProductImage.brand_id == brand.id))
            if image.path
        ]
        video = build_demo_episode(readable_scenes(demo_scenes(shared, packshots)), demo_dir / "episode.mp4")
        ids: list[list[uuid.UUID]] = []
        duration_s = 0.0
        for round_number in range(rounds):
            batch = []
            for number in range(episodes_per_round):
                episode = register_episode(
                    session,
                    settings,
                    brand_id=brand.id,
                    title=f"round {round_number} episode {number}",
                    path=video,
                    source="path",
                )
                batch.append(episode.id)
                duration_s = episode.duration_ms / 1000
            ids.append(batch)
        key = issue_api_key(session, scope=ApiKeyScope.BRAND, brand_id=brand.id, name="bench").secret
        session.commit()
    engine.dispose()
    return key, ids, duration_s


def run_round(
    settings: ApiSettings,
    env: dict[str, str],
    key: str,
    episodes: list[uuid.UUID],
    workers: int,
    video_s: float,
) -> Round:
    log_path = settings.media_dir.parent / f"worker-{workers}.log"
    with log_path.open("wb") as log_file:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from api.cli import app; app()",
                "worker",
                "--concurrency",
                str(workers),
                "--queues",
                "vision,io",
            ],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    engine = create_db_engine(settings.database_url)
    try:
        wait_for("the worker", lambda: b" ready." in log_path.read_bytes(), 120)
        cpu_before = group_cpu_seconds(worker.pid)
        headers = {"Authorization": f"Bearer {key}"}
        with TestClient(create_app(settings, engine=engine)) as api:
            started = time.monotonic()
            jobs = []
            for episode_id in episodes:
                response = api.post(f"/v1/episodes/{episode_id}/tag-jobs", headers=headers)
                assert response.status_code == 202, response.text
                jobs.append(uuid.UUID(response.json()["id"]))

            def all_finished() -> bool:
                with Session(engine) as session:
                    states = session.exec(select(TagJob.state).where(col(TagJob.id).in_(jobs))).all()
                return all(state in (JobState.DONE, JobState.FAILED) for state in states)

            wait_for("the round's jobs", all_finished, 3600)
            wall = time.monotonic() - started
        cpu = group_cpu_seconds(worker.pid) - cpu_before
        with Session(engine) as session:
            rows = session.exec(select(TagJob).where(col(TagJob.id).in_(jobs))).all()
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
        engine.dispose()
    waits = [(row.started_at - row.created_at).total_seconds() for row in rows if row.started_at]
    runs = [
        (row.finished_at - row.started_at).total_seconds()
        for row in rows
        if row.finished_at and row.started_at
    ]
    failed = [row.error for row in rows if row.state == JobState.FAILED]
    for error in failed:
        print(f"  a job failed: {error}", file=sys.stderr)
    count = len(episodes)
    phases = sorted({name for row in rows for name in row.seconds})
    phase_mean = {
        name: round(statistics.mean(row.seconds.get(name, 0.0) for row in rows), 2) for name in phases
    }
    return Round(
        workers=workers,
        episodes=count,
        video_s=round(video_s, 2),
        wall_s=round(wall, 2),
        episodes_per_hour=round(count / wall * 3600, 1),
        video_minutes_per_hour=round(count * video_s / 60 / wall * 3600, 1),
        queue_wait_mean_s=round(statistics.mean(waits), 2),
        queue_wait_max_s=round(max(waits), 2),
        run_mean_s=round(statistics.mean(runs), 2),
        run_max_s=round(max(runs), 2),
        cpu_s=round(cpu, 1),
        cpu_share=round(cpu / (wall * (os.cpu_count() or 1)), 2),
        failed=len(failed),
        phase_mean_s=phase_mean,
    )


def cpu_flags() -> str:
    try:
        words = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return "unknown"
    return (
        " ".join(flag for flag in ("avx2", "avx512f", "avx512_vnni") if flag in words)
        or "none of avx2/avx512"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--episodes", type=int, default=6, help="episodes queued at once per round")
    parser.add_argument("--workers", default="1,2,4", help="worker processes per round, comma-separated")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    counts = [int(value) for value in args.workers.split(",")]
    if shutil.which("redis-server") is None:
        raise SystemExit("the benchmark starts its own broker: redis-server must be on PATH")
    if not (ROOT / "var" / "models" / "yolox_nano.onnx").is_file():
        raise SystemExit("no detector: run `reelcart models pull yolox-nano --from ../shared/models` first")

    work = ROOT / "var" / "bench" / f"workers-{uuid.uuid4().hex[:6]}"
    work.mkdir(parents=True)
    server = os.environ.get("REELCART_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    database = f"reelcart_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{database}"'))
    database_url = server.rsplit("/", 1)[0] + f"/{database}"
    port = free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    settings = ApiSettings(
        database_url=database_url,
        media_dir=work / "media",
        model_dir=ROOT / "var" / "models",
        broker_url=f"redis://127.0.0.1:{port}/0",
        worker_threads=0,
    )
    env = {
        **os.environ,
        "REELCART_DATABASE_URL": database_url,
        "REELCART_MEDIA_DIR": str(settings.media_dir),
        "REELCART_MODEL_DIR": str(settings.model_dir),
        "REELCART_BROKER_URL": settings.broker_url or "",
    }
    try:
        print(f"preparing the catalog and {args.episodes} episodes per round in {work}")
        key, batches, video_s = prepare(settings, args.episodes, len(counts))
        load = os.getloadavg()
        results: list[Round] = []
        for workers, batch in zip(counts, batches, strict=True):
            print(f"round: {workers} worker process(es), {len(batch)} episodes of {video_s:g} s")
            result = run_round(settings, env, key, batch, workers, video_s)
            result.scaling = (
                round(result.episodes_per_hour / results[0].episodes_per_hour, 2) if results else 1.0
            )
            results.append(result)
            print("  " + ", ".join(f"{name} {value}" for name, value in asdict(result).items()))
    finally:
        redis.terminate()
        redis.wait(10)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()
    report = {
        "cpu": platform.processor() or platform.machine(),
        "cpu_flags": cpu_flags(),
        "cores": os.cpu_count(),
        "load_average_before": [round(value, 2) for value in load],
        "episode_seconds": video_s,
        "rounds": [asdict(result) for result in results],
    }
    header = (
        "| worker processes | episodes | wall s | episodes/h | video-min/h | queue wait mean / max s "
        "| run mean / max s | CPU s | CPU share | scaling |"
    )
    print(header)
    print("|" + "---|" * 10)
    for result in results:
        print(
            f"| {result.workers} | {result.episodes} | {result.wall_s} | {result.episodes_per_hour} | "
            f"{result.video_minutes_per_hour} | {result.queue_wait_mean_s} / {result.queue_wait_max_s} | "
            f"{result.run_mean_s} / {result.run_max_s} | {result.cpu_s} | {result.cpu_share:.0%} | "
            f"{result.scaling}x |"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
