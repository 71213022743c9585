"""Own-print marks against the footage of recorded episodes (`scripts/relink_episode.py record`), as a
brand that approved every right placement would see them in the marks editor.

    # Each marked product's right placements against its marks (the own-footage check):
    .venv/bin/python scripts/footage_marks.py check --catalog var/eval/episodes/CATALOG-OWN-PRINT.csv \\
        var/eval/relink/episode-0 var/eval/relink/episode-1 var/eval/relink/episode-2
    # Marks suggested from some episodes' footage, for the products whose marks it shows missing;
    # writes the catalog with those marks replaced (to link the other episodes with):
    .venv/bin/python scripts/footage_marks.py suggest --catalog var/eval/episodes/CATALOG-OWN-PRINT.csv \\
        --out var/eval/episodes/CATALOG-SUGGESTED-0.csv var/eval/relink/episode-0

The suggestion avoids every other product's packshot and every placement of the records showing
another product (a superset of what the API uses: there, only placements with the product among their
candidates).
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from relink_episode import CROPS_FILE, PLACEMENTS_FILE, read_catalog

from tagger.arrays import FloatArray, Image
from tagger.linking import build_catalog_index
from tagger.linking.factory import load_extractor
from tagger.linking.index import CatalogIndex
from tagger.linking.own_print import Box, format_own_print
from tagger.linking.own_print_check import others_print_on
from tagger.linking.own_print_footage import (
    OwnFootagePrint,
    matched_on_marked_image,
    own_footage_against_marks,
)
from tagger.linking.own_print_suggest import suggest_marks
from tagger.settings import TaggerSettings


def _placements(records: Sequence[Path]) -> list[tuple[str, str, list[Image]]]:
    """(record name @ start, the shot's SKU, crops) of every placement in a labelled product shot."""
    found = []
    for record in records:
        document = json.loads((record / PLACEMENTS_FILE).read_text(encoding="utf-8"))
        crops = np.load(record / CROPS_FILE)
        for number, placement in enumerate(document["placements"]):
            if placement["shot_sku"]:
                images = [crops[f"p{number}_c{position}"] for position in range(placement["crops"])]
                found.append((f"{record.name}@{placement['start_ms']}", placement["shot_sku"], images))
    return found


def _marked_digest(index: CatalogIndex, sku: str) -> str:
    return index.products[index.skus.index(sku)].image_digests[0]


def _judged(
    index: CatalogIndex, sku: str, boxes: Sequence[Box], own: list[tuple[str, tuple[FloatArray, ...]]]
) -> tuple[OwnFootagePrint, ...]:
    return own_footage_against_marks(index.image_features[_marked_digest(index, sku)].size, boxes, own)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=("check", "suggest"))
    parser.add_argument("--catalog", type=Path, required=True)
    parser.add_argument("--out", type=Path, help="suggest: the catalog CSV to write")
    parser.add_argument("records", type=Path, nargs="+")
    args = parser.parse_args(argv)
    if args.command == "suggest" and (args.out is None or args.catalog.suffix.lower() != ".csv"):
        parser.error("suggest needs --out and a CSV --catalog")

    catalog = read_catalog(args.catalog)
    index = build_catalog_index(catalog, load_extractor(TaggerSettings().model_dir))
    marks = {item.sku: item.own_print for item in catalog if item.own_print}
    placements = _placements(args.records)
    suggested: dict[str, str] = {}
    for sku in sorted({shown for _, shown, _ in placements} & marks.keys()):
        digest = _marked_digest(index, sku)
        own = [
            (key, matched_on_marked_image(index, digest, crops))
            for key, shown, crops in placements
            if shown == sku
        ]
        judged = _judged(index, sku, marks[sku], own)
        line = " ".join(
            f"{item.key}: {item.inliers}/{item.matched}{' MISSES' if item.misses_marks else ''}"
            for item in judged
        )
        print(f"{sku} inside the marks / matched: {line}")
        if args.command != "suggest" or not any(item.misses_marks for item in judged):
            continue
        elsewhere = list(others_print_on(index, sku, digest))
        for _, shown, crops in placements:
            if shown != sku:
                elsewhere += matched_on_marked_image(index, digest, crops)
        marked = index.image_features[digest]
        suggestion = suggest_marks(
            marked.size, marked.local.points, [matched for _, matched in own], elsewhere
        )
        if not suggestion.boxes:
            print(f"  no suggestion: {suggestion.reason}")
            continue
        suggested[sku] = format_own_print(suggestion.boxes)
        print(
            f"  suggested {suggested[sku]}: inside per placement {list(suggestion.own_inside)}, another "
            f"product at most {suggestion.foreign_inside}, packshot keypoints {suggestion.packshot_keypoints}"
        )
    if args.command == "suggest":
        with args.catalog.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        with args.out.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            for row in rows:
                writer.writerow({**row, "own_print": suggested.get(row["sku"], row["own_print"])})
        print(f"marks replaced for {', '.join(sorted(suggested)) or 'no product'}: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
