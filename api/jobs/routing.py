"""Which broker queue each kind of job goes to, so a node can take only the work it is built for: a
GPU node `vision` (detection, linking) and `train`, a small node `io` (provider syncs, downloads).
Adding a kind of job is one line here (and a handler in `api.jobs.handlers`)."""

from __future__ import annotations

from types import MappingProxyType

from api.jobs.queue import JobKind

QUEUE_BY_KIND = MappingProxyType(
    {
        JobKind.TAG: "vision",
        # Re-linking runs the image embedder over every placement's crops: vision work.
        JobKind.LINK: "vision",
        JobKind.SYNC: "io",
        JobKind.IMAGES: "io",
        # Training runs torch in the train venv: a node built for it (a GPU, the train extra) takes it.
        JobKind.TRAIN: "train",
        # Decoding and encoding a whole episode: CPU-heavy work, for the nodes built for video.
        JobKind.TRANSCODE: "vision",
        # Decoding the episode up to the end of the placement's span: video work.
        JobKind.FOLLOW: "vision",
    }
)
QUEUES: tuple[str, ...] = tuple(sorted(set(QUEUE_BY_KIND.values())))


def queue_for(kind: JobKind) -> str:
    return QUEUE_BY_KIND[kind]
