"""`reelcart eval marks`: check every own-print mark of a catalog file against the rest of it.

The check the marks editor runs box by box (`tagger.linking.own_print_check`), for a whole catalog at
once: a brand preparing its CSV, or a benchmark whose marks were drawn by hand, sees which boxes hold too
little print to confirm their product and which take in print a sibling has too. It builds the catalog's
index in memory (as a link job would), reads nothing else, and writes nothing but the report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from api.cli._common import load_tagger_settings
from api.cli.evaluate import eval_app
from tagger.linking import CatalogIndexError, LinkingError, build_catalog_index, load_extractor
from tagger.linking.dataset import read_catalog_csv
from tagger.linking.linker import OWN_PRINT_CONFIRMING_INLIERS, OWN_PRINT_INLIERS
from tagger.linking.own_print_check import check_own_print


def register(app: typer.Typer) -> None:
    # A subcommand of `reelcart eval`, which api.cli.evaluate adds to the app.
    eval_app.command("marks")(marks)


def marks(
    catalog: Annotated[
        Path,
        typer.Option(
            "--catalog", help="Catalog CSV (sku,title,image[,own_print,…]), as `eval linking` reads."
        ),
    ],
    out: Annotated[Path | None, typer.Option("--out", help="Write the JSON report here.")] = None,
    model_dir: Annotated[
        Path | None,
        typer.Option("--model-dir", help="Where the embedder ONNX lives (default: the tagger's)."),
    ] = None,
) -> None:
    """Check each marked product's own-print boxes: enough print to confirm it, none another product has."""
    console, err = Console(), Console(stderr=True)
    weights = model_dir or load_tagger_settings().model_dir
    try:
        items = read_catalog_csv(catalog)
        index = build_catalog_index(items, load_extractor(weights, ocr=False))
    except (OSError, LinkingError, CatalogIndexError) as error:
        typer.echo(f"error: {str(error).splitlines()[0]}", err=True)
        raise typer.Exit(code=1) from error
    marked = [product for product in index.products if product.own_print]
    if not marked:
        err.print(
            f"{catalog}: no product has own_print marks; nothing to check", markup=False, highlight=False
        )
    table = Table(title=f"own-print marks of {catalog.name}")
    for column in ("sku", "title", "keypoints per box", "verdict"):
        table.add_column(column)
    report: list[dict[str, Any]] = []
    for product in marked:
        try:
            check = check_own_print(index, product.sku, product.own_print_digest, product.own_print)
        except LinkingError as error:
            table.add_row(product.sku, product.title, "-", f"not checked: {error}")
            report.append({"sku": product.sku, "title": product.title, "error": str(error)})
            continue
        problems = check.problems()
        verdict = [] if check.can_confirm else [f"too little print: {check.total_keypoints} keypoints"]
        verdict += [f"{other.sku} prints {other.inliers} of them" for other in check.shared]
        table.add_row(
            product.sku,
            product.title,
            " ".join(str(count) for count in check.keypoints),
            "ok" if check.ok else "\n".join(verdict),
        )
        report.append(
            {
                "sku": product.sku,
                "title": product.title,
                "keypoints": list(check.keypoints),
                "can_confirm": check.can_confirm,
                "shared": [
                    {
                        "sku": other.sku,
                        "title": other.title,
                        "keypoints": other.inliers,
                        "per_box": list(other.per_box),
                    }
                    for other in check.shared
                ],
                "compared": check.compared,
                "ok": check.ok,
                "problems": problems,
            }
        )
    console.print(table)
    failing = sum(1 for row in report if not row.get("ok"))
    console.print(f"{len(report) - failing} of {len(report)} marked products' marks pass", highlight=False)
    if failing:
        console.print(
            f"Confirming a product needs {OWN_PRINT_CONFIRMING_INLIERS} keypoints matched inside its boxes: "
            "draw them over detailed print. A product that prints what the boxes hold (at least "
            f"{OWN_PRINT_INLIERS} keypoints) would count as the marked one: move or shrink the boxes off it "
            "(the review console's marks editor shows where).",
            highlight=False,
        )
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            json.dumps({"catalog": str(catalog), "products": report}, indent=2) + "\n", encoding="utf-8"
        )
        console.print(f"report written to {out}", highlight=False)
