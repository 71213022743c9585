"""`reelcart detector train --brand SLUG`: train the brand's own detector from its packshots.

The command runs the same train job the API queues (`POST /v1/detectors/train`), in this process, and
blocks until the detector is registered or the job has failed; the trainer's progress is shown as it
comes. If a `reelcart worker` claims the job first, the command follows it in the database instead.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from sqlalchemy import Engine
from sqlmodel import Session

from api.cli._common import console, fail, find_brand, load_settings, open_database
from api.detectors import service
from api.detectors.models import BrandDetector, DetectorTrainJob
from api.detectors.training import DetectorTrainExecutor
from api.errors import ApiError
from api.jobs.models import JobState
from api.jobs.queue import run_to_end
from tagger.training.request import TrainEvent

POLL_S = 2.0


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="A brand's own detector, trained from its catalog's packshots.", no_args_is_help=True
    )

    @group.command("train")
    def train(brand: Annotated[str, typer.Option(help="Brand slug or id")]) -> None:
        """Train, export and register the brand's detector (blocks; needs the train virtualenv)."""
        settings = load_settings()
        engine = open_database(settings)
        with Session(engine, expire_on_commit=False) as session:
            brand_row = find_brand(session, brand)
            try:
                # Left queued in the database: this process claims it below (or a worker does first).
                job = service.queue_train_job(session, None, brand_row.id)
            except ApiError as problem:
                fail(problem.detail)
            job_id, products = job.id, job.products
        console.print(f"training a detector for {brand_row.slug}: {products} products (train job {job_id})")
        columns = (
            SpinnerColumn(),
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[message]}"),
        )
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("queued", total=1.0, message="")

            def on_event(event: TrainEvent) -> None:
                bar.update(task, completed=event.fraction, description=event.phase, message=event.message)

            run_to_end(DetectorTrainExecutor(engine, settings, on_event=on_event), job_id)
            done = _follow(
                engine, job_id, lambda job: bar.update(task, completed=job.progress, description=job.phase)
            )
        if done.state != JobState.DONE:
            fail(done.error or f"train job {job_id} ended {done.state}")
        with Session(engine) as session:
            detector = session.get(BrandDetector, done.detector_id) if done.detector_id else None
        if detector is None:
            fail(f"train job {job_id} finished without a detector")
        console.print(
            f"registered detector {detector.name} ({detector.classes} classes, "
            f"sha256 {detector.sha256[:12]}…) "
            f"in {done.seconds or 0:.0f} s; {done.message or ''}",
            highlight=False,
        )

    app.add_typer(group, name="detector")


def _follow(
    engine: Engine, job_id: uuid.UUID, show: Callable[[DetectorTrainJob], object]
) -> DetectorTrainJob:
    """The job once finished; while another process runs it, its progress is shown from the database."""
    while True:
        with Session(engine) as session:
            job = session.get(DetectorTrainJob, job_id)
            if job is None:
                fail(f"train job {job_id} vanished")
            if job.state in (JobState.DONE, JobState.FAILED):
                return job
            show(job)
        time.sleep(POLL_S)
