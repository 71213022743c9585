"""Bodies of the detector routes: train jobs and the brand's trained detectors."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class TrainJobPublic(BaseModel):
    id: uuid.UUID
    state: str
    phase: str = Field(
        description="What the job is doing: queued, synthesise (training images from the packshots), "
        "train, export (ONNX and model card), register, finished"
    )
    progress: float
    message: str | None = Field(description="The trainer's latest word (epoch, loss), or the result")
    error: str | None
    attempts: int
    products: int = Field(description="Products with a stored image the detector is trained on")
    detector_id: uuid.UUID | None = Field(description="The detector registered by this job, once done")
    seconds: float | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class TrainJobPage(BaseModel):
    items: list[TrainJobPublic]
    total: int


class DetectorPublic(BaseModel):
    id: uuid.UUID
    name: str
    sha256: str
    classes: int
    metrics: dict[str, float] = Field(description="On the held-out synthetic split (precision, recall, mAP)")
    stale: bool = Field(
        description="The catalog's products or images changed since it was trained: "
        "train again to include them"
    )
    in_use: bool = Field(description="The newest detector: the one the brand's tag jobs run")
    train_job_id: uuid.UUID | None
    created_at: datetime


class DetectorPage(BaseModel):
    items: list[DetectorPublic]
    total: int
