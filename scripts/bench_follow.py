"""How well a box drawn once is followed through its span (`tagger.follow`), against a box left where it
was drawn: what a brand's hand-drawn hotspot does on screen.

There are no hand-labelled boxes for the benchmark episodes, so the tagger's own placements stand in: for
each one `reelcart tag` found (two keyframes or more), a box is "drawn" at its middle (the tagger's box
there), followed through the placement's span, and compared every 100 ms with the tagger's box (IoU).
The tagger finds these products by the same kind of keypoints, so this measures following where the print
can be matched; a product the tagger missed may be harder. Reported: the mean IoU, the share of moments
whose IoU is at least 0.5 (the hotspot sits on the product), the worst moment, and the seconds a follow job
spends (decoding from the episode's start to the span's end, then matching).

    .venv/bin/reelcart tag var/eval/episodes/episode-enter-0.mp4 \\
        --catalog var/eval/episodes/CATALOG-OWN-PRINT.csv --out var/eval/tag-enter-0.json
    .venv/bin/python scripts/bench_follow.py var/eval/tag-enter-0.json \\
        var/eval/episodes/episode-enter-0.mp4 [--json var/eval/follow-enter-0.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from tagger.follow import Box, follow_box
from tagger.keyframes import interpolate_boxes
from tagger.placements import normalized_iou

STEP_MS = 100


def boxes_at(keyframes: list[tuple[int, Box]], times: list[int]) -> list[Box]:
    keys = [t for t, _ in keyframes]
    values = np.asarray([box for _, box in keyframes], dtype=np.float64)
    return [
        (float(r[0]), float(r[1]), float(r[2]), float(r[3])) for r in interpolate_boxes(keys, values, times)
    ]


def measure(placement: dict[str, Any], video: Path) -> dict[str, Any] | None:
    keyframes = [(int(k["t_ms"]), tuple(float(v) for v in k["box"])) for k in placement["keyframes"]]
    if len(keyframes) < 2:
        return None
    start, end = int(placement["start_ms"]), int(placement["end_ms"])
    middle = (start + end) // 2
    [drawn] = boxes_at(keyframes, [middle])  # type: ignore[arg-type]
    started = time.perf_counter()
    followed = follow_box(video, box=drawn, at_ms=middle, start_ms=start, end_ms=end)
    seconds = time.perf_counter() - started
    times = list(range(start, end + 1, STEP_MS))
    truth = boxes_at(keyframes, times)  # type: ignore[arg-type]
    moving = boxes_at(list(followed.keyframes), times)
    follow_iou = [normalized_iou(a, b) for a, b in zip(moving, truth, strict=True)]
    static_iou = [normalized_iou(drawn, b) for b in truth]
    return {
        "start_ms": start,
        "end_ms": end,
        "looks": followed.looks,
        "found": followed.found,
        "keyframes": len(followed.keyframes),
        "reason": followed.reason,
        "seconds": round(seconds, 2),
        "follow": {
            "mean": statistics.fmean(follow_iou),
            "on": sum(v >= 0.5 for v in follow_iou),
            "worst": min(follow_iou),
        },
        "static": {
            "mean": statistics.fmean(static_iou),
            "on": sum(v >= 0.5 for v in static_iou),
            "worst": min(static_iou),
        },
        "moments": len(times),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("tagged", type=Path, help="`reelcart tag --out` JSON of the episode")
    parser.add_argument("video", type=Path, help="the episode it tagged")
    parser.add_argument("--json", type=Path, help="write every placement's figures here")
    args = parser.parse_args()
    placements = json.loads(args.tagged.read_text())["placements"]
    rows = [row for row in (measure(p, args.video) for p in placements) if row is not None]
    for row in rows:
        follow, static = row["follow"], row["static"]
        print(
            f"{row['start_ms']:>6}-{row['end_ms']:<6} found {row['found']}/{row['looks']} "
            f"keyframes {row['keyframes']}  IoU follow {follow['mean']:.2f} (worst {follow['worst']:.2f})"
            f"  static {static['mean']:.2f} (worst {static['worst']:.2f})  {row['seconds']:.1f} s"
        )
    moments = sum(row["moments"] for row in rows)
    summary = {
        "placements": len(rows),
        "moments": moments,
        **{
            way: {
                "mean_iou": round(statistics.fmean(row[way]["mean"] for row in rows), 3),
                "on_product": round(sum(row[way]["on"] for row in rows) / moments, 3),
                "worst": round(min(row[way]["worst"] for row in rows), 3),
            }
            for way in ("follow", "static")
        },
        "seconds_median": statistics.median(row["seconds"] for row in rows),
        "seconds_max": max(row["seconds"] for row in rows),
    }
    print(json.dumps(summary, indent=2))
    if args.json is not None:
        args.json.write_text(json.dumps({"summary": summary, "placements": rows}, indent=2))


if __name__ == "__main__":
    main()
