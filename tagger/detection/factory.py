"""Build the configured detector: card by name (or a card/ONNX path), verified file, providers."""

from __future__ import annotations

from pathlib import Path

from tagger.detection.onnx_backend import OnnxDetector
from tagger.exceptions import ModelError
from tagger.models.cards import DetectorSpec, card_files, find_card, load_card, load_detector_spec
from tagger.models.registry import sha256_file, verified_model_path
from tagger.settings import TaggerSettings


def resolve_detector(model: str | Path, settings: TaggerSettings) -> tuple[DetectorSpec, Path]:
    """`model` is a card name, a card file, or an ONNX file that some card pins by sha256.

    An ONNX file with no card is refused: the output layout is never guessed at run time.
    """
    candidate = Path(model)
    if candidate.suffix == ".toml" and candidate.is_file():
        spec = load_detector_spec(candidate)
        return spec, verified_model_path(spec.card, settings.model_dir)
    if candidate.suffix == ".onnx":
        if not candidate.is_file():
            raise ModelError(f"model file not found: {candidate}")
        digest = sha256_file(candidate)
        for card_path in card_files(settings.model_cards_dir):
            card = load_card(card_path)
            if card.kind == "detector" and card.sha256 == digest:
                return load_detector_spec(card_path), candidate
        raise ModelError(
            f"{candidate} (sha256 {digest}) matches no detector card in {settings.model_cards_dir}; "
            "add a card that states its layout"
        )
    spec = load_detector_spec(find_card(settings.model_cards_dir, str(model)))
    return spec, verified_model_path(spec.card, settings.model_dir)


def load_detector(settings: TaggerSettings, model: str | Path | None = None) -> OnnxDetector:
    spec, path = resolve_detector(model if model is not None else settings.detector, settings)
    return _onnx_detector(spec, path, settings)


def load_detector_card(card_path: Path, settings: TaggerSettings | None = None) -> OnnxDetector:
    """A detector whose card and model file lie side by side (a brand's trained detector): the file
    is used only once its sha256 matches the card, so a corrupt or tampered model is refused here."""
    spec = load_detector_spec(card_path)
    path = verified_model_path(spec.card, card_path.parent)
    settings = settings or TaggerSettings()
    return _onnx_detector(spec, path, settings, confidence=settings.brand_confidence_threshold)


def _onnx_detector(
    spec: DetectorSpec, path: Path, settings: TaggerSettings, *, confidence: float | None = None
) -> OnnxDetector:
    return OnnxDetector(
        spec,
        path,
        providers=settings.execution_providers,
        intra_op_threads=settings.intra_op_threads,
        confidence_threshold=settings.confidence_threshold if confidence is None else confidence,
        nms_iou_threshold=settings.nms_iou_threshold,
        max_detections=settings.max_detections,
        classes=spec.product_class_ids,
        sha256=spec.card.sha256,
        class_agnostic_nms=settings.class_agnostic_nms,
    )
