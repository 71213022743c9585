"""The handler for each kind of job, wired the same way for the API's in-process workers and for
`reelcart worker`."""

from __future__ import annotations

from sqlalchemy import Engine

from api.detectors.training import DetectorTrainExecutor
from api.jobs.queue import JobHandler, JobKind
from api.jobs.tagging import TagFunction, TagJobExecutor
from api.linking.executor import LinkJobExecutor
from api.linking.service import LinkingService
from api.settings import ApiSettings


def default_tag_function(engine: Engine, settings: ApiSettings, linking: LinkingService) -> TagFunction:
    # Imported lazily: the vision stack loads ONNX Runtime, which API-only processes never need.
    from api.detectors.service import BrandDetectorCards  # noqa: PLC0415
    from api.jobs.tagger_adapter import PipelineTagFunction  # noqa: PLC0415

    return PipelineTagFunction(settings, linking=linking, brand_detectors=BrandDetectorCards(engine))


def job_handlers(
    engine: Engine, settings: ApiSettings, linking: LinkingService, tag_function: TagFunction | None = None
) -> dict[JobKind, JobHandler]:
    return {
        JobKind.TAG: TagJobExecutor(
            engine, settings, tag_function or default_tag_function(engine, settings, linking)
        ),
        JobKind.LINK: LinkJobExecutor(engine, settings, linking),
        JobKind.TRAIN: DetectorTrainExecutor(engine, settings),
    }
