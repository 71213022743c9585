"""API test helpers: brand accounts with a key, a recording job queue, tiny real videos."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from api.auth import issue_api_key
from api.brands.models import ApiKeyScope, Brand
from api.jobs.queue import JobRef

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


class RecordingQueue:
    """A queue that only remembers what was enqueued: jobs stay `queued` until a test runs them."""

    def __init__(self) -> None:
        self.enqueued: list[JobRef] = []

    def enqueue(self, job: JobRef) -> None:
        self.enqueued.append(job)

    def start(self) -> None:
        return None

    def stop(self, timeout_s: float = 10.0) -> None:
        return None


@dataclass(frozen=True)
class BrandAccount:
    brand: Brand
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def make_brand(engine: Engine, slug: str) -> BrandAccount:
    with Session(engine, expire_on_commit=False) as session:
        brand = Brand(name=slug.replace("-", " ").title(), slug=slug)
        session.add(brand)
        session.flush()
        issued = issue_api_key(session, scope=ApiKeyScope.BRAND, brand_id=brand.id, name=f"{slug}-key")
        session.commit()
        return BrandAccount(brand=brand, key=issued.secret)


def make_video(path: Path, *, seconds: float = 1.0, fps: int = 10, size: tuple[int, int] = (64, 48)) -> Path:
    """A real, tiny H.264 file made with PyAV (frames carry a moving bright square)."""
    import av  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    width, height = size
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(int(seconds * fps)):
            frame = np.zeros((height, width, 3), dtype=np.uint8)
            x = (index * 3) % max(width - 8, 1)
            frame[10:18, x : x + 8] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def upload_episode(
    client: TestClient,
    brand: BrandAccount,
    data: bytes,
    *,
    title: str,
    filename: str | None = None,
    key: str | None = None,
) -> httpx.Response:
    """`POST /v1/episodes/upload` as a brand's client sends it: the raw bytes, and an `Idempotency-Key`
    if given."""
    headers = {**brand.headers, "Content-Type": "video/mp4"}
    if key is not None:
        headers["Idempotency-Key"] = key
    params = {"title": title, **({"filename": filename} if filename is not None else {})}
    response: httpx.Response = client.post(
        "/v1/episodes/upload", params=params, content=data, headers=headers
    )
    return response
