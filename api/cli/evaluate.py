"""`reelcart eval linking`: measure SKU linking on labelled photos, the way production links them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from api.cli._common import load_tagger_settings
from tagger.exceptions import TaggerError
from tagger.linking.cache import CachedExtractor
from tagger.linking.croppers import Cropper, DetectorCropper, WholeImageCropper
from tagger.linking.dataset import read_catalog_csv, read_queries_csv
from tagger.linking.decision import (
    DEFAULT_AUTO_APPROVE,
    DEFAULT_FLOOR,
    DEFAULT_OWN_PRINT_APPROVE,
    LinkThresholds,
)
from tagger.linking.evaluation import (
    collect,
    cross_validate,
    fit_on_all,
    predict_fixed,
    repeated_cross_validation,
    report,
    simulate_tracks,
)
from tagger.linking.factory import DEFAULT_EMBEDDER_CARD, load_extractor
from tagger.linking.features import Extractor
from tagger.linking.fusion import DEFAULT_MODEL_PATH, FusionModel
from tagger.linking.index import build_catalog_index
from tagger.linking.linker import ShortlistConfig

eval_app = typer.Typer(help="Evaluate parts of ReelCart on labelled data.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")


def _fail(message: str) -> None:
    typer.echo(f"error: {message.splitlines()[0] if message else 'evaluation failed'}", err=True)
    raise typer.Exit(code=1)


def _cropper(kind: str, err: Console) -> Cropper:
    if kind == "whole":
        return WholeImageCropper()
    from tagger.detection.factory import load_detector  # noqa: PLC0415 - only when cropping with it

    settings = load_tagger_settings()
    try:
        return DetectorCropper(load_detector(settings), name="detector")
    except TaggerError as error:
        if kind == "detector":
            raise
        err.print(f"detector unavailable ({error}); linking whole photos", markup=False, highlight=False)
        return WholeImageCropper()


def _print_summary(console: Console, data: dict[str, Any]) -> None:
    table = Table(title=f"linking ({data['protocol']})")
    for column in (
        "group",
        "queries",
        "top-1",
        "top-5",
        "MRR",
        "auto-approved",
        "precision",
        "unknown→approved",
    ):
        table.add_column(column, justify="right")
    for name, metrics in data["groups"].items():
        approved = metrics["auto_approved"]
        table.add_row(
            name,
            str(metrics["queries"]),
            f"{metrics['top1']:.3f}",
            f"{metrics['top5']:.3f}",
            f"{metrics['mrr']:.3f}",
            f"{approved['coverage']:.3f}",
            f"{approved['precision']:.3f}",
            f"{metrics['leave_sku_out']['auto_approved_share']:.3f}",
        )
    console.print(table)
    repeated = data.get("repeated_cross_validation")
    if repeated:
        seeds = len(data["fold_seeds"])
        for name, metrics in repeated.items():
            parts = [
                f"{label} {metrics[key]['mean']:.3f} ({metrics[key]['min']:.2f} to {metrics[key]['max']:.2f})"
                if key in metrics
                else f"{label} - (nothing auto-approved)"
                for key, label in (("top1", "top-1"), ("top5", "top-5"), ("precision", "precision"))
            ]
            console.print(f"{name} over {seeds} fold seeds: " + ", ".join(parts), highlight=False)
    reliability = data["reliability"]
    console.print(
        f"calibration error {reliability['expected_calibration_error']:.3f}; "
        f"{data['timing']['mean_ms']:.0f} ms per query (p95 {data['timing']['p95_ms']:.0f} ms)",
        highlight=False,
    )


@eval_app.command("linking")
def linking(
    catalog: Annotated[Path, typer.Option("--catalog", help="CSV: sku,title,image[,description].")],
    queries: Annotated[Path, typer.Option("--queries", help="CSV: image,sku[,group].")],
    out: Annotated[Path | None, typer.Option("--out", help="Write the JSON report here.")] = None,
    folds: Annotated[
        int,
        typer.Option(
            "--folds", min=0, help="Cross-validate the fusion model over k folds; 0: use --model as is."
        ),
    ] = 5,
    model: Annotated[
        Path, typer.Option("--model", help="Fusion model JSON used when --folds 0.")
    ] = DEFAULT_MODEL_PATH,
    fit_out: Annotated[
        Path | None,
        typer.Option("--fit-out", help="Also fit the fusion model on all queries and write it here."),
    ] = None,
    crop: Annotated[
        str, typer.Option("--crop", help="auto (detector if available), detector, or whole.")
    ] = "auto",
    ocr: Annotated[bool, typer.Option("--ocr/--no-ocr", help="Use the text (OCR) signal.")] = True,
    shortlist: Annotated[
        int,
        typer.Option("--shortlist", min=1, help="Candidates verified with keypoints (production default)."),
    ] = ShortlistConfig().size,
    verify: Annotated[
        int,
        typer.Option(
            "--verify", min=1, help="Shortlisted rows (best patch similarity) that get keypoint verification."
        ),
    ] = ShortlistConfig().verify,
    repeats: Annotated[
        int,
        typer.Option(
            "--repeats",
            min=1,
            help="Also repeat the cross-validation over this many fold seeds and report mean (min to max).",
        ),
    ] = 4,
    auto_approve: Annotated[float, typer.Option("--auto-approve", min=0.0, max=1.0)] = DEFAULT_AUTO_APPROVE,
    floor: Annotated[float, typer.Option("--floor", min=0.0, max=1.0)] = DEFAULT_FLOOR,
    own_print_approve: Annotated[
        float,
        typer.Option(
            "--own-print-approve",
            min=0.0,
            max=1.0,
            help="Approve from this confidence a link whose marked own print (the catalog's own_print "
            "column) the crops confirmed, as the linker does; at or above --auto-approve it changes nothing.",
        ),
    ] = DEFAULT_OWN_PRINT_APPROVE,
    print_evidence: Annotated[
        bool,
        typer.Option(
            "--print-evidence/--no-print-evidence",
            help="Auto-approve only SKUs whose print was seen (OCR text or strong keypoints) in their "
            "own colours, as the linker does.",
        ),
    ] = True,
    model_dir: Annotated[Path, typer.Option("--model-dir", help="Where the embedder ONNX lives.")] = Path(
        "var/models"
    ),
    card: Annotated[Path, typer.Option("--card", help="Embedder model card.")] = DEFAULT_EMBEDDER_CARD,
    cache: Annotated[
        Path | None,
        typer.Option("--cache", help="Cache per-image features here (timings then exclude cached work)."),
    ] = None,
) -> None:
    """Top-1/top-5/MRR, auto-approve precision and coverage, reliability, leave-SKU-out, per SKU, time."""
    err = Console(stderr=True, soft_wrap=True)
    if crop not in ("auto", "detector", "whole"):
        _fail(f"unknown --crop {crop!r}; use auto, detector or whole")
    if folds == 1:
        _fail("--folds must be 0 (use --model as is) or at least 2")
    try:
        thresholds = LinkThresholds(
            auto_approve=auto_approve,
            floor=floor,
            require_print_evidence=print_evidence,
            own_print_approve=own_print_approve,
        )
        items = read_catalog_csv(catalog)
        query_list = read_queries_csv(queries)
        extractor: Extractor = load_extractor(model_dir, card=card, ocr=ocr)
        if cache is not None:
            extractor = CachedExtractor(extractor, cache)  # type: ignore[arg-type]
        err.print(f"indexing {len(items)} catalog products…", highlight=False)
        index = build_catalog_index(items, extractor)
        for skipped in index.skipped:
            err.print(
                f"skipped {skipped.sku} {skipped.source}: {skipped.reason}", markup=False, highlight=False
            )
        fixed = FusionModel.load(model) if folds == 0 else None
        cropper = _cropper(crop, err)
        err.print(f"linking {len(query_list)} queries ({cropper.name} crops)…", highlight=False)
        records = collect(
            query_list, index, extractor, ShortlistConfig(size=shortlist, verify=verify), cropper
        )
        if fixed is not None:
            predictions = predict_fixed(records, fixed, index)
            protocol = f"fixed fusion model {model}"
        else:
            predictions = cross_validate(records, index, folds=folds)
            track_votes = simulate_tracks(records, index, folds=folds)
            protocol = (
                f"{folds}-fold cross-validation over queries (each query scored by a model fitted without it)"
            )
        extra: dict[str, Any] = {
            "catalog": {"products": len(index), "skipped": [s.sku + ": " + s.reason for s in index.skipped]},
            "index_version": index.version,
            "cropper": cropper.name,
            "detector_fallbacks": getattr(cropper, "fallbacks", None),
            "ocr": ocr,
            "shortlist": shortlist,
            "verify": verify,
        }
        data = report(predictions, thresholds, protocol=protocol, extra=extra)
        if folds:
            data["track_vote_simulation"] = track_votes
            if repeats > 1:
                data["fold_seeds"] = list(range(repeats))
                data["repeated_cross_validation"] = repeated_cross_validation(
                    records, index, thresholds, folds=folds, seeds=range(repeats)
                )
        if fit_out is not None:
            fitted = fit_on_all(
                records, fitted_on=f"{queries.name}, {len(records)} queries, index {index.version}"
            )
            fit_out.parent.mkdir(parents=True, exist_ok=True)
            fit_out.write_text(fitted.to_json() + "\n", encoding="utf-8")
            data["fitted_model"] = json.loads(fitted.to_json())
    except TaggerError as error:
        _fail(str(error))
        return
    _print_summary(Console(), data)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        err.print(f"report -> {out}", markup=False, highlight=False)
