"""Every kind of job and the table its state lives in: what the runner, the fencing checks, recovery,
metrics and the job routes share."""

from __future__ import annotations

from typing import TypeVar

from api.catalog.models import ImageFetchJob, SyncJob
from api.detectors.models import DetectorTrainJob
from api.episodes.models import TagJob, TranscodeJob
from api.jobs.queue import JobKind
from api.linking.models import LinkJob
from api.review.models import FollowJob

JobRow = TagJob | LinkJob | SyncJob | ImageFetchJob | DetectorTrainJob | TranscodeJob | FollowJob
JobTable = (
    type[TagJob]
    | type[LinkJob]
    | type[SyncJob]
    | type[ImageFetchJob]
    | type[DetectorTrainJob]
    | type[TranscodeJob]
    | type[FollowJob]
)
Job = TypeVar("Job", TagJob, LinkJob, SyncJob, ImageFetchJob, DetectorTrainJob, TranscodeJob, FollowJob)

# The kinds whose row says which phase the job is in (tag: index, detect, link…; train: synthesise,
# train, export…): progress writes it, and a job queued again goes back to the `queued` phase.
PHASED_TABLES: tuple[type[TagJob], type[DetectorTrainJob]] = (TagJob, DetectorTrainJob)

JOB_TABLES: tuple[tuple[JobKind, JobTable], ...] = (
    (JobKind.TAG, TagJob),
    (JobKind.LINK, LinkJob),
    (JobKind.SYNC, SyncJob),
    (JobKind.IMAGES, ImageFetchJob),
    (JobKind.TRAIN, DetectorTrainJob),
    (JobKind.TRANSCODE, TranscodeJob),
    (JobKind.FOLLOW, FollowJob),
)


def table_of(kind: JobKind) -> JobTable:
    return dict(JOB_TABLES)[kind]


def kind_of(table: JobTable) -> JobKind:
    return next(kind for kind, kind_table in JOB_TABLES if kind_table is table)
