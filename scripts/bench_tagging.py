"""Tagging benchmark: decode-only vs ReelCart tagging vs a dense baseline on a realistic episode.

Builds (once, cached under var/bench/) a 60 s, 1080x1920, 30 fps H.264 episode from real in-store
photographs (GroceryStoreDataset, ../shared/data/grocery-dev): every shot is a different arrangement
of products that the camera pans and zooms across, with a hard cut every 2-5 s. Then, each in its
own process (so peak memory is per phase), it measures:

- decode-only: PyAV, threaded, every frame decoded, nothing else;
- ReelCart's decoding alone: the frames tag_video decodes (its `decode_skip`), on its decoder threads,
  nothing else: the floor under ReelCart's time on this machine (whatever else it does must fit beside);
- ReelCart: `tag_video` with the default settings;
- dense: the same pipeline with the detector on every frame and no frame skipped by the decoder.

Run: .venv/bin/python scripts/bench_tagging.py [--repeat 2] [--json var/bench/result.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tagger.keyframes import interpolate_boxes  # noqa: E402
from tagger.pipeline import tag_video  # noqa: E402
from tagger.settings import TaggerSettings  # noqa: E402
from tagger.video.decode import decode_frames, index_packets  # noqa: E402

WIDTH, HEIGHT, FPS, SECONDS = 1080, 1920, 30, 60
CANVAS_W, CANVAS_H = 1600, 2800


@dataclass(frozen=True)
class Shot:
    frames: int
    canvas: np.ndarray
    start: tuple[float, float, float]  # centre x, centre y, zoom (output px per canvas px)
    end: tuple[float, float, float]


def shared_dir() -> Path:
    configured = os.environ.get("REELCART_SHARED_DIR")
    return Path(configured) if configured else ROOT.parent / "shared"


def photos(grocery: Path) -> list[Path]:
    found = sorted(grocery.glob("val/**/*.jpg"))
    if not found:
        raise SystemExit(f"no photographs under {grocery}/val; set REELCART_SHARED_DIR")
    return found


def read_image(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    if image is None:
        raise SystemExit(f"cannot read {path}")
    return np.asarray(image)


def compose_canvas(rng: np.random.Generator, pool: list[Path]) -> np.ndarray:
    """A shelf-like scene: one photo blurred as the backdrop, 3-6 product photos placed on it."""
    backdrop = read_image(pool[rng.integers(len(pool))])
    canvas = cv2.GaussianBlur(cv2.resize(backdrop, (CANVAS_W, CANVAS_H)), (0, 0), 25)
    canvas = (canvas * 0.6).astype(np.uint8)
    for _ in range(int(rng.integers(3, 7))):
        photo = read_image(pool[rng.integers(len(pool))])
        side = int(rng.integers(420, 900))
        photo = cv2.resize(photo, (side, side), interpolation=cv2.INTER_CUBIC)
        x = int(rng.integers(0, CANVAS_W - side))
        y = int(rng.integers(0, CANVAS_H - side))
        canvas[y : y + side, x : x + side] = photo
    return canvas


def camera(rng: np.random.Generator) -> tuple[float, float, float]:
    zoom = float(rng.uniform(0.75, 1.15))
    half_w, half_h = WIDTH / zoom / 2, HEIGHT / zoom / 2
    # Keep the window inside the canvas where it fits; otherwise centre it.
    cx = float(rng.uniform(half_w, CANVAS_W - half_w)) if 2 * half_w < CANVAS_W else CANVAS_W / 2
    cy = float(rng.uniform(half_h, CANVAS_H - half_h)) if 2 * half_h < CANVAS_H else CANVAS_H / 2
    return cx, cy, zoom


def plan_shots(seed: int, pool: list[Path]) -> list[Shot]:
    rng = np.random.default_rng(seed)
    shots, total = [], FPS * SECONDS
    while total > 0:
        frames = min(total, int(rng.integers(2 * FPS, 5 * FPS + 1)))
        shots.append(Shot(frames, compose_canvas(rng, pool), camera(rng), camera(rng)))
        total -= frames
    return shots


def render(shot: Shot, i: int) -> np.ndarray:
    a = i / max(1, shot.frames - 1)
    a = a * a * (3 - 2 * a)  # ease in and out like a hand-held move
    cx, cy, zoom = (s + (e - s) * a for s, e in zip(shot.start, shot.end, strict=True))
    matrix = np.array([[zoom, 0, WIDTH / 2 - zoom * cx], [0, zoom, HEIGHT / 2 - zoom * cy]], dtype=np.float32)
    return np.asarray(
        cv2.warpAffine(shot.canvas, matrix, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR, borderValue=(40, 40, 40))
    )


def build_episode(path: Path, seed: int) -> dict[str, Any]:
    shots = plan_shots(seed, photos(shared_dir() / "data" / "grocery-dev"))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part.mp4")
    with av.open(str(partial), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        # x264 "veryfast" at CRF 20: B-frames and CABAC like a platform encode, ~3-4 Mbit/s here.
        stream.options = {"preset": "veryfast", "crf": "20"}
        for shot in shots:
            for i in range(shot.frames):
                frame = av.VideoFrame.from_ndarray(render(shot, i), format="bgr24")
                container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    partial.rename(path)
    return {"shots": len(shots), "cuts": len(shots) - 1}


# ---- phases, each run in a fresh process -------------------------------------------------------


def phase_decode(video: Path) -> dict[str, Any]:
    started = time.perf_counter()
    frames = 0
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in container.decode(stream):
            frames += 1
    return {"seconds": time.perf_counter() - started, "frames": frames}


def phase_decode_as_tagged(video: Path, overrides: dict[str, Any]) -> dict[str, Any]:
    """What tag_video's decoding thread must do at the least: decode the frames it decodes (the
    settings' skip mode and thread count) and read nothing from them."""
    settings = TaggerSettings().model_copy(update=overrides)
    started = time.perf_counter()
    packets = index_packets(video)
    frames = sum(
        1
        for _ in decode_frames(
            video, skip=settings.decode_skip, threads=settings.decode_threads, packets=packets
        )
    )
    return {"seconds": time.perf_counter() - started, "frames": frames}


DENSE_TRACK_HIGH_CONFIDENCE = 0.5


def phase_tag(video: Path, dense: bool, overrides: dict[str, Any]) -> dict[str, Any]:
    settings = TaggerSettings().model_copy(update=overrides)
    if dense:
        # The baseline: the detector on every frame, and the tracker's stock confirmation threshold
        # (0.5, the `trackers` default). ReelCart lowers that threshold because sparse sampling
        # gives a newborn track fewer looks to confirm itself (BENCHMARKS.md).
        settings = settings.model_copy(
            update={
                "sample_fps": 120.0,
                "decode_skip": "none",
                "frames_after_cut": 1,
                "track_high_confidence": DENSE_TRACK_HIGH_CONFIDENCE,
            }
        )
    started = time.perf_counter()
    result = tag_video(video, settings=settings)
    seconds = time.perf_counter() - started
    placements = [
        {
            "label": p.label,
            "start_ms": p.start_ms,
            "end_ms": p.end_ms,
            "keyframes": [(k.t_ms, list(k.box)) for k in p.keyframes],
        }
        for p in result.placements
    ]
    timing = result.timing
    return {
        "seconds": seconds,
        "detected_frames": timing.detected_frames,
        "decode_s": timing.decode_s,
        "detect_s": timing.detect_s,
        "track_s": timing.track_s,
        "placements": placements,
    }


def peak_rss_mib() -> float:
    """This process's resident-memory high-water mark (VmHWM), which starts afresh at exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_phase(name: str, video: Path, overrides: list[str]) -> dict[str, Any]:
    """Run one phase in a child process; add its CPU seconds (its own peak memory it reports)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    completed = subprocess.run(
        [
            sys.executable,
            __file__,
            "--phase",
            name,
            "--video",
            str(video),
            *(f"--set={o}" for o in overrides),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result: dict[str, Any] = json.loads(completed.stdout)
    result["cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result


# ---- recall: dense placements matched by time overlap and box IoU ------------------------------


def _boxes_at(placement: dict[str, Any], times: list[int]) -> np.ndarray:
    keys = [t for t, _ in placement["keyframes"]]
    boxes = np.array([b for _, b in placement["keyframes"]], dtype=np.float64)
    return interpolate_boxes(keys, boxes, times)


def _mean_iou(a: np.ndarray, b: np.ndarray) -> float:
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax2, bx2) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(ay2, by2) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    return float(np.mean(np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)))


def match(dense: list[dict[str, Any]], ours: list[dict[str, Any]], min_iou: float = 0.3) -> dict[str, Any]:
    """Greedy one-to-one matching: overlapping in time, mean IoU over the overlap >= `min_iou`."""
    pairs = []
    for i, d in enumerate(dense):
        for j, o in enumerate(ours):
            start, end = max(d["start_ms"], o["start_ms"]), min(d["end_ms"], o["end_ms"])
            if end < start:
                continue
            times = list(range(start, end + 1, 50)) or [start]
            iou = _mean_iou(_boxes_at(d, times), _boxes_at(o, times))
            if iou >= min_iou:
                pairs.append((iou, i, j))
    used_d, used_o, matched = set(), set(), []
    for iou, i, j in sorted(pairs, reverse=True):
        if i not in used_d and j not in used_o:
            used_d.add(i)
            used_o.add(j)
            matched.append((i, j, iou))
    same_label = sum(1 for i, j, _ in matched if dense[i]["label"] == ours[j]["label"])
    # Looser view, reported beside it: a dense placement is "covered" when any of ours matches it
    # (two dense fragments of one object can both be covered by one of our merged placements).
    covered = len({i for _, i, _ in pairs})
    return {
        "dense": len(dense),
        "ours": len(ours),
        "matched": len(matched),
        "recall": round(len(matched) / len(dense), 3) if dense else 1.0,
        "covered": covered,
        "ours_matched_share": round(len(used_o) / len(ours), 3) if ours else 1.0,
        "same_label": same_label,
    }


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """`--set sample_fps=2` pairs, values read as JSON where they parse (numbers, true/false)."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, _, raw = pair.partition("=")
        try:
            overrides[key] = json.loads(raw)
        except json.JSONDecodeError:
            overrides[key] = raw
    TaggerSettings.model_validate(TaggerSettings().model_dump() | overrides)
    return overrides


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--video", type=Path, default=ROOT / "var" / "bench" / "episode-60s-1080x1920.mp4")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=2, help="decode-only and ReelCart runs, interleaved")
    parser.add_argument("--no-dense", action="store_true", help="skip the (slow) dense baseline")
    parser.add_argument("--json", type=Path, help="also write every measurement here")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a TaggerSettings field for ReelCart",
    )
    parser.add_argument("--dense-from", type=Path, help="reuse the dense baseline of an earlier --json file")
    parser.add_argument(
        "--phase", choices=["decode", "decode-as-tagged", "tag", "dense"], help=argparse.SUPPRESS
    )
    args = parser.parse_args()

    if args.phase:
        if args.phase == "decode":
            out = phase_decode(args.video)
        elif args.phase == "decode-as-tagged":
            out = phase_decode_as_tagged(args.video, parse_overrides(args.set))
        else:
            overrides = {} if args.phase == "dense" else parse_overrides(args.set)
            out = phase_tag(args.video, dense=args.phase == "dense", overrides=overrides)
        out["peak_rss_mib"] = peak_rss_mib()
        print(json.dumps(out))
        return

    if not args.video.is_file():
        print(f"building {args.video} ...", file=sys.stderr)
        started = time.perf_counter()
        built = build_episode(args.video, args.seed)
        print(f"built in {time.perf_counter() - started:.0f} s: {built}", file=sys.stderr)

    decodes, floors, tags = [], [], []
    for _ in range(args.repeat):
        decodes.append(run_phase("decode", args.video, []))
        floors.append(run_phase("decode-as-tagged", args.video, args.set))
        tags.append(run_phase("tag", args.video, args.set))
    if args.dense_from is not None:
        dense = json.loads(args.dense_from.read_text())["dense"]
    else:
        dense = None if args.no_dense else run_phase("dense", args.video, [])

    video_s = SECONDS
    decode_s = min(d["seconds"] for d in decodes)
    best = min(tags, key=lambda t: t["seconds"])
    tag_s = best["seconds"]
    report: dict[str, Any] = {
        "video": str(args.video),
        "settings": TaggerSettings()
        .model_copy(update=parse_overrides(args.set))
        .model_dump(mode="json", exclude={"model_dir", "model_cards_dir"}),
        "video_s": video_s,
        "decode_only_s": [round(d["seconds"], 2) for d in decodes],
        "decode_only_cpu_s": [round(d["cpu_s"], 2) for d in decodes],
        "decode_as_tagged_s": [round(f["seconds"], 2) for f in floors],
        "decode_as_tagged_cpu_s": [round(f["cpu_s"], 2) for f in floors],
        "decode_as_tagged_frames": floors[0]["frames"],
        # The fastest tagging could be here: its decoder alone, as a real-time factor.
        "decode_as_tagged_realtime_factor": round(video_s / min(f["seconds"] for f in floors), 2),
        "reelcart_s": [round(t["seconds"], 2) for t in tags],
        "reelcart_cpu_s": [round(t["cpu_s"], 2) for t in tags],
        "reelcart_stages": {k: round(best[k], 2) for k in ("decode_s", "detect_s", "track_s")},
        "reelcart_detected_frames": best["detected_frames"],
        "realtime_factor": round(video_s / tag_s, 2),
        "tag_over_decode": round(tag_s / decode_s, 2),
        # CPU seconds are what a loaded machine disturbs least: the ratio of the means, one run.
        "tag_over_decode_cpu": round(
            sum(t["cpu_s"] for t in tags) / max(1e-9, sum(d["cpu_s"] for d in decodes)), 2
        ),
        "tag_over_decode_paired": [
            round(t["seconds"] / d["seconds"], 2) for d, t in zip(decodes, tags, strict=True)
        ],
        "peak_rss_mib": {
            "decode": round(decodes[0]["peak_rss_mib"]),
            "reelcart": round(best["peak_rss_mib"]),
        },
    }
    if dense is not None:
        report["dense_s"] = round(dense["seconds"], 2)
        report["dense_cpu_s"] = round(dense["cpu_s"], 2)
        report["dense_detected_frames"] = dense["detected_frames"]
        report["dense_over_reelcart"] = round(dense["seconds"] / tag_s, 2)
        report["peak_rss_mib"]["dense"] = round(dense["peak_rss_mib"])
        report["recall_vs_dense"] = match(dense["placements"], best["placements"])
        if args.dense_from is not None:
            report["dense_reused_from"] = str(args.dense_from)
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"report": report, "tags": tags, "dense": dense}, indent=1))


if __name__ == "__main__":
    main()
