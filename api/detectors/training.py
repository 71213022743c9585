"""Executing a train job: the trainer runs in the `train` virtualenv as a subprocess (torch and
ultralytics never enter the API or worker processes); its progress lines move the job's progress,
and the detector it writes is registered only after it loads and matches its card's sha256.

Nothing is half-registered: a run that fails, or whose model is refused, leaves no card and no
model behind, and the brand's previous detector stays the one its tag jobs use.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from sqlalchemy import Engine, func
from sqlmodel import Session, select

from api.brands.models import Brand
from api.columns import utcnow
from api.db import session_scope
from api.detectors.exceptions import NoPackshots
from api.detectors.models import BrandDetector, DetectorTrainJob
from api.detectors.service import train_request
from api.jobs.lease import LeaseLostError, held_lease, require_lease
from api.jobs.models import JobPhase, JobState
from api.jobs.progress import JobProgress
from api.jobs.runner import JobRunner
from api.settings import ApiSettings
from tagger.detection.factory import load_detector_card
from tagger.exceptions import ModelError
from tagger.models.cards import load_card
from tagger.training.errors import TrainingError
from tagger.training.request import TrainEvent, TrainRequest, parse_event
from tagger.training.synthetic import ProductShots

log = logging.getLogger("reelcart.jobs")

# The trainer's phases, as the job shows them.
_PHASES = {"synthesise": JobPhase.SYNTHESISE, "train": JobPhase.TRAIN, "export": JobPhase.EXPORT}
# Lines of the trainer's own output kept to explain a crash that printed no error event.
_TAIL_LINES = 12
MESSAGE_EVERY_S = 5.0
# A trainer is stopped at 1.5x its time budget plus this (loading torch, synthesis, export, a slow disk).
LIMIT_SLACK_S = 1800.0

TrainerCommand = Callable[[Path], list[str]]
EventSink = Callable[[TrainEvent], None]


def trainer_command(settings: ApiSettings) -> TrainerCommand:
    """`<train python> -m tagger.training.run REQUEST.json`; the train venv has ReelCart installed."""

    def command(request_path: Path) -> list[str]:
        python = settings.train_python
        if not python.is_file():
            raise TrainingError(
                f"training is not installed here: no python at {python} "
                "(run `make train-venv`, or set REELCART_TRAIN_PYTHON to the train virtualenv's python)"
            )
        return [str(python), "-m", "tagger.training.run", str(request_path)]

    return command


@dataclass(frozen=True, slots=True)
class TrainScope:
    brand_id: uuid.UUID
    slug: str
    name: str
    attempt: int


def _absolute(request: TrainRequest) -> TrainRequest:
    """Paths as the subprocess must see them, whatever its working folder."""
    return replace(
        request,
        out_dir=request.out_dir.resolve(),
        backgrounds=tuple(path.resolve() for path in request.backgrounds),
        products=tuple(
            ProductShots(p.name, tuple(path.resolve() for path in p.packshots)) for p in request.products
        ),
    )


class DetectorTrainExecutor:
    """Handles one train job id end to end; `on_event` sees every trainer event (the CLI's bar)."""

    def __init__(
        self,
        engine: Engine,
        settings: ApiSettings,
        *,
        command: TrainerCommand | None = None,
        on_event: EventSink | None = None,
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._command = command or trainer_command(settings)
        self._on_event = on_event
        self._runner = JobRunner(engine, settings, DetectorTrainJob, "train job")

    def __call__(self, job_id: uuid.UUID) -> None:
        scope = self._runner.claim(job_id, self._prepare)
        if scope is None:
            return
        self._runner.run(
            job_id,
            scope.attempt,
            lambda: self._run(job_id, scope),
            reasons={
                TrainingError: str,
                NoPackshots: str,
                ModelError: lambda error: f"the trained model was refused: {error}",
                LeaseLostError: str,
            },
            fail=partial(self._fail, job_id, scope.attempt),
        )

    @staticmethod
    def _prepare(session: Session, job: DetectorTrainJob) -> TrainScope | None:
        brand = session.get(Brand, job.brand_id)
        if brand is None:
            return None
        count = session.exec(
            select(func.count()).select_from(BrandDetector).where(BrandDetector.brand_id == brand.id)
        ).one()
        return TrainScope(brand.id, brand.slug, f"brand-{brand.slug}-{count + 1}", job.attempts)

    def _run(self, job_id: uuid.UUID, scope: TrainScope) -> None:
        started = time.monotonic()
        with session_scope(self._engine) as session:
            request, data = train_request(session, self._settings, scope.brand_id, scope.slug, scope.name)
        # This attempt's own folder: an attempt superseded while it still trains (its lease lost in a
        # network partition) writes, and cleans up, only there, never over the next attempt's files or
        # the detector that attempt registered under the same name.
        request = _absolute(replace(request, out_dir=request.out_dir / f"{job_id.hex}-{scope.attempt}"))
        request.out_dir.mkdir(parents=True, exist_ok=True)
        card_path = request.out_dir / f"{request.name}.toml"
        request_path = request.out_dir / f".{request.name}.request.json"
        request_path.write_text(request.to_json(), encoding="utf-8")
        progress = JobProgress(self._engine, DetectorTrainJob, job_id, scope.attempt)
        try:
            self._train(job_id, scope, request, request_path, progress)
            progress.report(0.99, JobPhase.REGISTER)
            # Loaded as a tag job will load it: the card parses, the file matches its sha256, ONNX
            # Runtime accepts the graph and its output has the card's classes.
            detector = load_detector_card(card_path)
            card = load_card(card_path)
            metrics = _card_metrics(card_path)
            with session_scope(self._engine) as session:
                job = require_lease(session, DetectorTrainJob, job_id, scope.attempt, writing="results")
                row = BrandDetector(
                    brand_id=scope.brand_id,
                    name=card.name,
                    card_path=str(card_path),
                    sha256=detector.sha256,
                    classes=len(detector.spec.class_names),
                    catalog_fingerprint=data.fingerprint,
                    metrics=metrics,
                    train_job_id=job_id,
                )
                session.add(row)
                session.flush()
                job.state, job.progress, job.phase = JobState.DONE, 1.0, JobPhase.FINISHED
                job.finished_at, job.error, job.detector_id = utcnow(), None, row.id
                job.seconds = round(time.monotonic() - started, 1)
                classes = len(detector.spec.class_names)
                job.message = (
                    f"{card.name}: {len(data.products)} products, {classes} "
                    f"{'class' if classes == 1 else 'classes'}, "
                    + ", ".join(f"{key} {value:.3f}" for key, value in sorted(metrics.items()))
                )
        except BaseException:
            # Not registered: no card may stay behind to be mistaken for a usable detector, and a
            # killed trainer's scratch folder (its synthetic images) is not kept either; the folder is
            # this attempt's alone.
            shutil.rmtree(request.out_dir, ignore_errors=True)
            raise
        finally:
            request_path.unlink(missing_ok=True)

    def _train(
        self,
        job_id: uuid.UUID,
        scope: TrainScope,
        request: TrainRequest,
        request_path: Path,
        progress: JobProgress,
    ) -> None:
        command = self._command(request_path)
        # Not the worker's metrics directory (api.observability.worker_metrics): the trainer counts nothing.
        environment = {
            **{name: value for name, value in os.environ.items() if name != "PROMETHEUS_MULTIPROC_DIR"},
            "YOLO_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
        }
        limit_s = (request.options.time_hours or 24.0) * 3600 * 1.5 + LIMIT_SLACK_S
        tail: deque[str] = deque(maxlen=_TAIL_LINES)
        outcome: TrainEvent | None = None
        last_message = 0.0
        with subprocess.Popen(  # noqa: S603 - our own module, run by the configured python
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=environment,
        ) as process:
            assert process.stdout is not None
            # A trainer that hangs without a word is killed too: the timer does not wait for a line.
            fired = threading.Event()

            def stop() -> None:
                fired.set()
                process.kill()

            watchdog = threading.Timer(limit_s, stop)
            watchdog.start()
            try:
                for line in process.stdout:
                    event = parse_event(line.rstrip("\n"))
                    if event is None:
                        if line.strip():
                            tail.append(line.strip()[-300:])
                        continue
                    if self._on_event is not None:
                        self._on_event(event)
                    if event.phase in ("done", "error"):
                        outcome = event
                        continue
                    progress.report(event.fraction * 0.98, _PHASES.get(event.phase))
                    if time.monotonic() - last_message >= MESSAGE_EVERY_S:
                        last_message = time.monotonic()
                        self._message(job_id, scope.attempt, event.message)
                status = process.wait()
            finally:
                watchdog.cancel()
                if process.poll() is None:
                    process.kill()
        if fired.is_set():
            raise TrainingError(f"training ran past its limit of {limit_s / 3600:.1f} h and was stopped")
        if outcome is not None and outcome.phase == "error":
            raise TrainingError(f"training failed: {outcome.message}")
        if status != 0 or outcome is None:
            said = " | ".join(list(tail)[-3:]) or "no output"
            raise TrainingError(f"the trainer exited with status {status}: {said}")

    def _message(self, job_id: uuid.UUID, attempt: int, message: str) -> None:
        """The trainer's latest line on the job; `LeaseLostError` (which stops the trainer) when another
        attempt has taken the job over: two trainers would spend the hour on one detector."""
        with session_scope(self._engine) as session:
            job = require_lease(session, DetectorTrainJob, job_id, attempt, writing="progress message")
            job.message = message[:300]

    def _fail(self, job_id: uuid.UUID, attempt: int, reason: str) -> None:
        with session_scope(self._engine) as session:
            job = held_lease(session, DetectorTrainJob, job_id, attempt, writing="failure")
            if isinstance(job, DetectorTrainJob):
                job.state, job.error, job.finished_at = JobState.FAILED, reason, utcnow()


def _card_metrics(card_path: Path) -> dict[str, float]:
    import tomllib  # noqa: PLC0415 - only here

    table = tomllib.loads(card_path.read_text(encoding="utf-8")).get("metrics", {})
    return {str(k): float(v) for k, v in table.items() if isinstance(v, int | float)}
