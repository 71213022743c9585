"""Upload benchmark: what a brand's HTTP client waits for when it uploads an episode browsers cannot
play, and when that episode is ready to tag and to play.

A phone records HEVC, which most browsers do not play; ReelCart keeps an H.264 transcode of such an
upload. The source here is a 1080x1920 episode of the episode evaluation (`var/eval/episodes/`,
`scripts/build_episode_eval.py`), cut to `--seconds` and re-encoded as HEVC once (cached under
var/bench/). It is uploaded through the real app (`POST /v1/episodes/upload`, in-process, SQLite in a
throw-away folder, the API's own worker thread running jobs), then the episode is read every 0.2 s
until it is `registered` (or `unplayable`). Reported: the upload request's wall time (what a proxy's
timeout applies to), the time until the episode is ready, the transcode job's own seconds when there
is one, and the CPU flags (`avx2 avx512f avx512_vnni`).

Run: .venv/bin/python scripts/bench_upload.py [--seconds 90] [--json var/bench/upload.json]
The same script runs against an older checkout (`git worktree add /tmp/old REV`, copy this file there,
run it with this venv) to compare.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import av  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from sqlmodel import Session  # noqa: E402

from api.app import create_app  # noqa: E402
from api.auth import issue_api_key  # noqa: E402
from api.brands.models import ApiKeyScope, Brand  # noqa: E402
from api.db import create_db_engine, upgrade_database  # noqa: E402
from api.settings import ApiSettings  # noqa: E402

SOURCE = ROOT / "var" / "eval" / "episodes" / "episode-0.mp4"


def cpu_flags() -> str:
    words = set(Path("/proc/cpuinfo").read_text().split())
    return " ".join(flag for flag in ("avx2", "avx512f", "avx512_vnni") if flag in words) or "none"


def hevc_source(seconds: float, cache: Path) -> Path:
    """The evaluation episode's first `seconds` as HEVC (libx265, ultrafast), made once."""
    target = cache / f"upload-hevc-{seconds:g}s.mp4"
    if target.exists():
        return target
    if not SOURCE.exists():
        sys.exit(f"{SOURCE} is missing: run scripts/build_episode_eval.py --seeds 0 first")
    cache.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    with av.open(str(SOURCE)) as source, av.open(str(partial), mode="w", format="mp4") as sink:
        video_in = source.streams.video[0]
        rate = video_in.average_rate or Fraction(30)
        video_out = sink.add_stream("libx265", rate=rate, options={"preset": "ultrafast", "crf": "26"})
        video_out.width, video_out.height, video_out.pix_fmt = (
            video_in.codec_context.width,
            video_in.codec_context.height,
            "yuv420p",
        )
        for frame in source.decode(video_in):
            if frame.time is not None and frame.time >= seconds:
                break
            frame.pict_type = av.video.frame.PictureType.NONE
            for packet in video_out.encode(frame):
                sink.mux(packet)
        for packet in video_out.encode(None):
            sink.mux(packet)
    partial.replace(target)
    return target


def measure(source: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="reelcart-upload-") as folder:
        work = Path(folder)
        settings = ApiSettings(
            database_url=f"sqlite:///{work / 'bench.db'}",
            media_dir=work / "media",
            model_dir=ROOT / "var" / "models",
            environment="development",
            worker_threads=1,
        )
        engine = create_db_engine(settings.database_url)
        upgrade_database(engine)
        with Session(engine) as session:
            brand = Brand(name="Bench", slug="bench")
            session.add(brand)
            session.flush()
            key = issue_api_key(session, scope=ApiKeyScope.BRAND, brand_id=brand.id, name="bench").secret
            session.commit()
        headers = {"Authorization": f"Bearer {key}"}
        body = source.read_bytes()
        with TestClient(create_app(settings, engine=engine)) as client:
            started = time.perf_counter()
            answer = client.post(
                "/v1/episodes/upload?title=Bench&filename=phone.mp4",
                content=body,
                headers={**headers, "Content-Type": "video/mp4"},
            )
            request_s = time.perf_counter() - started
            if answer.status_code != 201:
                sys.exit(f"upload answered {answer.status_code}: {answer.text}")
            episode = answer.json()
            answered_status = episode["status"]
            while episode["status"] == "processing":
                time.sleep(0.2)
                episode = client.get(f"/v1/episodes/{episode['id']}", headers=headers).json()
            ready_s = time.perf_counter() - started
            job_seconds: dict[str, float] = {}
            if answered_status == "processing":
                jobs = client.get(f"/v1/transcode-jobs?episode_id={episode['id']}", headers=headers).json()
                job_seconds = jobs["items"][0]["seconds"]
        engine.dispose()
    return {
        "source_bytes": len(body),
        "request_s": round(request_s, 2),
        "answered_status": answered_status,
        "ready_s": round(ready_s, 2),
        "final_status": episode["status"],
        "codec": episode["codec"],
        "duration_ms": episode["duration_ms"],
        "transcode_job_seconds": job_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=90.0, help="length of the HEVC source")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    source = hevc_source(args.seconds, ROOT / "var" / "bench")
    result = {"cpu": cpu_flags(), "source": source.name, **measure(source)}
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
