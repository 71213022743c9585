"""A trained detector's best score on the middle frame of every labelled shot (a diagnostic for
BENCHMARKS.md, End to end): does it separate product shots from product-free ones on real frames?

    .venv/bin/python scripts/probe_brand_detector.py CARD.toml EPISODE.mp4 TRUTH.json [--bar 0.05]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import av
import cv2
import numpy as np

from tagger.arrays import Image
from tagger.detection.factory import load_detector_card
from tagger.settings import TaggerSettings

WORK_SIDE = 960  # the tagger's working size (TaggerSettings.work_max_side)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("card", type=Path)
    parser.add_argument("video", type=Path)
    parser.add_argument("truth", type=Path)
    parser.add_argument("--bar", type=float, default=0.05)
    args = parser.parse_args()
    detector = load_detector_card(args.card, TaggerSettings(brand_confidence_threshold=args.bar))
    shots = {(s["start_ms"] + s["end_ms"]) // 2: s for s in json.loads(args.truth.read_text())}
    pending = sorted(shots)
    frames: dict[int, Image] = {}
    with av.open(str(args.video)) as container:
        for frame in container.decode(container.streams.video[0]):
            t_ms = int((frame.time or 0.0) * 1000)
            while pending and t_ms >= pending[0]:
                frames[pending.pop(0)] = np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)
            if not pending:
                break
    for t_ms, shot in sorted(shots.items()):
        image = frames[t_ms]
        scale = WORK_SIDE / max(image.shape[:2])
        size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
        found = detector.detect([np.asarray(cv2.resize(image, size), dtype=np.uint8)])[0]
        best = float(found.confidence.max()) if len(found) else 0.0
        print(f"{shot['sku'] or 'product-free':14s} boxes {len(found):3d}  best score {best:.2f}")


if __name__ == "__main__":
    main()
