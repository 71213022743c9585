"""The handler for each kind of job, wired the same way for the API's in-process workers and for
`reelcart worker` (Celery)."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from sqlalchemy import Engine

from api.catalog.job_executors import ImageFetchJobExecutor, SyncJobExecutor
from api.detectors.training import DetectorTrainExecutor
from api.episodes.transcode_job import TranscodeJobExecutor
from api.jobs.queue import JobHandler, JobKind, JobQueue
from api.jobs.tagging import TagFunction, TagJobExecutor
from api.linking.executor import LinkJobExecutor
from api.linking.service import LinkingService
from api.review.follow_job import FollowJobExecutor
from api.settings import ApiSettings
from commerce.settings import CommerceSettings


def default_tag_function(engine: Engine, settings: ApiSettings, linking: LinkingService) -> TagFunction:
    # Imported lazily: the vision stack loads ONNX Runtime, which API-only processes never need.
    from api.detectors.service import BrandDetectorCards  # noqa: PLC0415
    from api.jobs.tagger_adapter import PipelineTagFunction  # noqa: PLC0415

    return PipelineTagFunction(settings, linking=linking, brand_detectors=BrandDetectorCards(engine))


def load_tag_function(reference: str) -> TagFunction:
    """The TagFunction named `module:attribute` (REELCART_TAG_FUNCTION): worker-process tests and queue
    benchmarks run real workers without the detector. Settings refuse it in production."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"REELCART_TAG_FUNCTION must be module:attribute, not {reference!r}")
    function: TagFunction = getattr(importlib.import_module(module_name), attribute)
    return function


def job_handlers(
    engine: Engine,
    settings: ApiSettings,
    linking: LinkingService,
    queue: JobQueue,
    commerce: Callable[[], CommerceSettings],
    tag_function: TagFunction | None = None,
) -> dict[JobKind, JobHandler]:
    """`queue` takes the follow-up jobs some kinds queue (a sync or an image fetch queues the next
    step); `commerce` reads the provider settings a sync needs, when it needs them."""
    return {
        JobKind.TAG: TagJobExecutor(
            engine, settings, tag_function or default_tag_function(engine, settings, linking)
        ),
        JobKind.LINK: LinkJobExecutor(engine, settings, linking),
        JobKind.SYNC: SyncJobExecutor(engine, settings, queue, commerce),
        JobKind.IMAGES: ImageFetchJobExecutor(engine, settings, queue),
        JobKind.TRAIN: DetectorTrainExecutor(engine, settings),
        JobKind.TRANSCODE: TranscodeJobExecutor(engine, settings),
        JobKind.FOLLOW: FollowJobExecutor(engine, settings),
    }
