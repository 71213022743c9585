"""Assemble the production feature extractor from the embedder card, the model dir and the OCR extra."""

from __future__ import annotations

from pathlib import Path

from tagger.linking.embedder import OnnxEmbedder
from tagger.linking.errors import LinkingError
from tagger.linking.features import FeatureConfig, FeatureExtractor
from tagger.linking.ocr import RapidTextReader, TextReader

DEFAULT_EMBEDDER_CARD = Path(__file__).resolve().parents[2] / "models" / "mobilenetv2-embedder.toml"


def load_text_reader(*, threads: int = 1) -> TextReader:
    try:
        return RapidTextReader(threads=threads)
    except ImportError as error:
        raise LinkingError(
            "OCR needs the `ocr` extra (pip install 'reelcart[ocr]'); or link without text (ocr=False)"
        ) from error


def load_extractor(
    model_dir: Path,
    *,
    card: Path = DEFAULT_EMBEDDER_CARD,
    ocr: bool = True,
    threads: int = 1,
    config: FeatureConfig | None = None,
) -> FeatureExtractor:
    """The extractor production uses; raises `ModelError`/`LinkingError` with what to do when a part
    is missing. `ocr=False` drops the text signal (the index signature records it)."""
    embedder = OnnxEmbedder.from_card(card, model_dir, threads=threads)
    reader = load_text_reader(threads=threads) if ocr else None
    chosen = config or FeatureConfig(ocr=ocr)
    patcher = embedder if embedder.has_patches else None
    return FeatureExtractor(embedder=embedder, reader=reader, config=chosen, patcher=patcher)
