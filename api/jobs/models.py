"""Job states, shared by every job table."""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    """Where a background job (tagging, re-linking) stands; the same four states for every kind."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class JobPhase(StrEnum):
    """What a running job is doing now, so its progress can be read phase by phase. Tag jobs go index
    (the brand's catalog), detect (decode, detect, track), link (when the catalog has images), store.
    Train jobs go synthesise (the training images), train, export (ONNX and card), register."""

    QUEUED = "queued"
    DETECT = "detect"
    INDEX = "index"
    LINK = "link"
    STORE = "store"
    SYNTHESISE = "synthesise"
    TRAIN = "train"
    EXPORT = "export"
    REGISTER = "register"
    FINISHED = "finished"
