r"""Record an episode's placements once, then link them again under other rules or catalogs, in seconds.

    .venv/bin/python scripts/relink_episode.py record --catalog CATALOG.csv --video EPISODE.mp4 \
        --truth TRUTH.json --out var/eval/relink/episode-0 [--leave-out GS-30,GS-58]
    .venv/bin/python scripts/relink_episode.py link --catalog CATALOG.csv var/eval/relink/episode-* \
        [--leave-out GS-30,GS-58] [--unknown-shift -0.5] [--auto-approve 0.8] [--json]

A linking experiment (a new approval rule, a recalibrated fusion model, a smaller catalog) should not
pay for decoding, detecting and locating again: `record` runs the tag job's pipeline with the catalog
linked in memory (as `reelcart tag --catalog` does) and keeps every placement the brand would get, its
best crops (`crops.npz`) and the labelled shot it belongs to (`placements.json`). `link` links those
crops again against the catalog given (minus `--leave-out` SKUs), with the fusion model's unknown bias
shifted by `--unknown-shift` log-odds, and counts per shot what a brand would see: right and wrong
approvals, approvals of products left out of the catalog, links within 0.05 of the approval level.

A record made with all products in the catalog and linked again without some of them gives crops the
real leave-out run would not have taken (the locator looked for the left-out packshots too): its
confidences differ from `reelcart eval episode --leave-out` by a few hundredths (BENCHMARKS.md, End to
end). Record with `--leave-out` for figures to quote; link across catalogs to explore. A catalog is a
CSV or the import JSON (`CATALOG-SCENES.json`: record with `CATALOG.csv`, link with the scenes).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from api.catalog.importing import CatalogImportError, parse_catalog
from tagger.episode_eval import NEAR_THRESHOLD, on_the_edge, read_truth, shot_index
from tagger.linking import FusionModel, Linker, LinkThresholds, build_catalog_index, load_extractor
from tagger.linking.catalog import CatalogItem
from tagger.linking.dataset import read_catalog_csv
from tagger.linking.decision import Decision
from tagger.linking.linker import LinkResult
from tagger.pipeline import tag_video
from tagger.settings import TaggerSettings

PLACEMENTS_FILE = "placements.json"
CROPS_FILE = "crops.npz"


@dataclass(frozen=True, slots=True)
class RecordedPlacement:
    start_ms: int
    end_ms: int
    label: str
    shot_start_ms: int | None  # the labelled shot it overlaps most; None outside every shot
    shot_sku: str | None
    crops: int
    # The products brought into the shot later (the truth's `also`): approving one of them is right too.
    shot_also: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Relinked:
    record: str  # the recording (episode) it came from: shots are per episode
    placement: RecordedPlacement
    result: LinkResult
    left_out: bool  # the shot's product is not in the catalog linked against


def catalog_without(items: Sequence[CatalogItem], left_out: frozenset[str]) -> list[CatalogItem]:
    unknown = left_out - {item.sku for item in items}
    if unknown:
        raise SystemExit(f"error: --leave-out names SKUs the catalog lacks: {', '.join(sorted(unknown))}")
    return [item for item in items if item.sku not in left_out]


def read_catalog(path: Path) -> list[CatalogItem]:
    """A catalog file as `reelcart catalog import` takes it: CSV, or the import JSON, where each variant
    of a product is a SKU with the product's local images (paths relative to the file), as
    `build_episode_eval.py`'s `CATALOG-SCENES.json` is written."""
    if path.suffix.lower() != ".json":
        return read_catalog_csv(path)
    try:
        items = parse_catalog(path.read_text(encoding="utf-8"), fmt="json")
    except OSError as error:
        raise SystemExit(f"error: cannot read {path}: {error}") from error
    except CatalogImportError as error:
        shown = "; ".join(f"{problem.line}: {problem.message}" for problem in error.errors[:3])
        raise SystemExit(f"error: {path} is not an import catalog: {shown}") from error
    catalog = []
    for item in items:
        local = tuple(
            path.parent / ref for _, ref in item.local_images if not ref.startswith(("http:", "https:"))
        )
        product = item.product
        catalog += [
            CatalogItem(
                variant.sku,
                product.title,
                product.vendor,
                product.description,
                local,
                tuple(product.own_print),
            )
            for variant in product.variants
        ]
    return catalog


def linker_for(catalog: Path, left_out: frozenset[str], settings: TaggerSettings) -> Linker:
    extractor = load_extractor(settings.model_dir)
    index = build_catalog_index(catalog_without(read_catalog(catalog), left_out), extractor)
    return Linker(index, extractor, FusionModel.load())


def record(catalog: Path, video: Path, truth_path: Path, out: Path, left_out: frozenset[str]) -> int:
    settings = TaggerSettings()
    truth = read_truth(truth_path)
    linker = linker_for(catalog, left_out, settings)
    result = tag_video(video, settings=settings, linker=linker, thresholds=LinkThresholds())
    out.mkdir(parents=True, exist_ok=True)
    crops: dict[str, np.ndarray] = {}
    rows = []
    for number, placement in enumerate(result.placements):
        index = shot_index(placement.start_ms, placement.end_ms, truth)
        shot = truth[index] if index is not None else None
        for position, crop in enumerate(placement.crops):
            crops[f"p{number}_c{position}"] = crop.image
        rows.append(
            RecordedPlacement(
                start_ms=placement.start_ms,
                end_ms=placement.end_ms,
                label=placement.label,
                shot_start_ms=shot.start_ms if shot is not None else None,
                shot_sku=shot.sku if shot is not None else None,
                crops=len(placement.crops),
                shot_also=tuple(later.sku for later in shot.also) if shot is not None else (),
            )
        )
    # (np.savez's stubs type its keyword arrays as its `allow_pickle` flag.)
    np.savez_compressed(out / CROPS_FILE, **crops)  # type: ignore[arg-type]
    document = {
        "video": str(video),
        "catalog": str(catalog),
        "left_out": sorted(left_out),
        "placements": [asdict(row) for row in rows],
    }
    (out / PLACEMENTS_FILE).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"{len(rows)} placements of {video.name} recorded in {out}")
    return 0


def read_record(folder: Path) -> list[tuple[RecordedPlacement, list[np.ndarray]]]:
    try:
        document = json.loads((folder / PLACEMENTS_FILE).read_text(encoding="utf-8"))
        with np.load(folder / CROPS_FILE) as arrays:
            out = []
            for number, row in enumerate(document["placements"]):
                # (Records made before `shot_also` have none; JSON gives a list.)
                placement = RecordedPlacement(**{**row, "shot_also": tuple(row.get("shot_also", ()))})
                crops = [arrays[f"p{number}_c{position}"] for position in range(placement.crops)]
                out.append((placement, crops))
    except (OSError, ValueError, KeyError, TypeError) as error:
        problem = f"{folder} is not a record of `relink_episode.py record`: {error!r}"
        raise SystemExit(f"error: {problem}") from error
    return out


Recording = tuple[str, list[tuple[RecordedPlacement, list[np.ndarray]]]]


def relink(
    recordings: Sequence[Recording], linker: Linker, left_out: frozenset[str], thresholds: LinkThresholds
) -> list[Relinked]:
    linked = []
    for name, placements in recordings:
        for placement, crops in placements:
            result = linker.link_track(crops, thresholds)
            linked.append(Relinked(name, placement, result, placement.shot_sku in left_out))
    return linked


@dataclass(frozen=True, slots=True)
class Summary:
    product_shots_approved_right: int
    product_shots_approved_wrong: int
    left_out_shots_approved: int
    near_threshold: int


def summarize(linked: Sequence[Relinked], auto_approve: float) -> Summary:
    """Per shot, as `reelcart eval episode` counts: a shot is approved right when a placement in it is
    approved as its product or one brought into it later, wrong when one is approved as another (or on
    a product-free shot); a left-out shot counts apart. Links within NEAR_THRESHOLD of the level each
    needed (`approval_level`; `auto_approve` when it has none) are counted per link."""
    right: set[tuple[str, int | None]] = set()
    wrong: set[tuple[str, int | None]] = set()
    left: set[tuple[str, int | None]] = set()
    near = 0
    for item in linked:
        result, placement = item.result, item.placement
        key = (item.record, placement.shot_start_ms)
        level = auto_approve if result.approval_level is None else result.approval_level
        if result.candidates and on_the_edge(result.confidence, result.contradicted, level):
            near += 1
        if result.decision is not Decision.APPROVED or placement.shot_start_ms is None:
            continue
        if result.sku is not None and result.sku in {placement.shot_sku, *placement.shot_also}:
            right.add(key)
        elif item.left_out:
            left.add(key)
        else:
            wrong.add(key)
    return Summary(len(right), len(wrong), len(left), near)


def link(
    catalog: Path,
    records: Sequence[Path],
    left_out: frozenset[str],
    shift: float,
    thresholds: LinkThresholds,
    as_json: bool,
) -> int:
    # Every recording is read before the catalog is indexed: a wrong folder fails in a moment.
    recordings = [(str(folder), read_record(folder)) for folder in records]
    settings = TaggerSettings()
    linker = linker_for(catalog, left_out, settings)
    linker.model = replace(linker.model, unknown_bias=linker.model.unknown_bias + shift)
    linked = relink(recordings, linker, left_out, thresholds)
    summary = summarize(linked, thresholds.auto_approve)
    if as_json:
        print(
            json.dumps(
                {
                    "summary": asdict(summary),
                    "placements": [
                        {
                            "record": item.record,
                            **asdict(item.placement),
                            "left_out": item.left_out,
                            "sku": item.result.sku,
                            "confidence": item.result.confidence,
                            "unknown": item.result.unknown_probability,
                            "decision": str(item.result.decision),
                            "contradicted": item.result.contradicted,
                            "evidence": item.result.evidence,
                        }
                        for item in linked
                    ],
                },
                indent=2,
            )
        )
        return 0
    for item in linked:
        result, placement = item.result, item.placement
        shot = f"{placement.shot_sku or '-'}{' (left out)' if item.left_out else ''}"
        print(
            f"{Path(item.record).name} {placement.start_ms:>6} ms  shot {shot:<18} -> {result.sku or '-':<8} "
            f"{result.confidence:.3f} {result.decision}{' contradicted' if result.contradicted else ''}"
        )
    print(
        f"approved shots right {summary.product_shots_approved_right}, "
        f"wrong {summary.product_shots_approved_wrong}; "
        f"left-out shots approved {summary.left_out_shots_approved}; "
        f"links within {NEAR_THRESHOLD:g} of their level: {summary.near_threshold}"
    )
    return 0


def _skus(text: str) -> frozenset[str]:
    return frozenset(part.strip() for part in text.split(",") if part.strip())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    recording = commands.add_parser("record", help="tag an episode once and keep its placements' crops")
    recording.add_argument("--catalog", type=Path, required=True)
    recording.add_argument("--video", type=Path, required=True)
    recording.add_argument("--truth", type=Path, required=True)
    recording.add_argument("--out", type=Path, required=True)
    recording.add_argument(
        "--leave-out", type=_skus, default=frozenset(), help="SKUs to drop, comma-separated"
    )
    linking = commands.add_parser("link", help="link recorded placements again")
    linking.add_argument("--catalog", type=Path, required=True)
    linking.add_argument("records", type=Path, nargs="+")
    linking.add_argument("--leave-out", type=_skus, default=frozenset(), help="SKUs to drop, comma-separated")
    linking.add_argument(
        "--unknown-shift", type=float, default=0.0, help="log-odds added to the unknown bias"
    )
    linking.add_argument("--auto-approve", type=float, default=LinkThresholds().auto_approve)
    linking.add_argument(
        "--own-print-approve",
        type=float,
        default=LinkThresholds().own_print_approve,
        help="the level of a link whose marked own print the crops confirmed",
    )
    linking.add_argument("--json", action="store_true", help="every placement's link as JSON")
    args = parser.parse_args(argv)
    if args.command == "record":
        return record(args.catalog, args.video, args.truth, args.out, args.leave_out)
    if not 0.0 <= args.auto_approve <= 1.0 or not 0.0 <= args.own_print_approve <= 1.0:
        parser.error("--auto-approve and --own-print-approve must lie in [0, 1]")
    thresholds = LinkThresholds(
        auto_approve=args.auto_approve,
        floor=min(LinkThresholds().floor, args.auto_approve),
        own_print_approve=args.own_print_approve,
    )
    return link(args.catalog, args.records, args.leave_out, args.unknown_shift, thresholds, args.json)


if __name__ == "__main__":
    sys.exit(main())
