"""The real embedder and OCR on real grocery-dev images (needs ../shared and the exported ONNX)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tagger.linking.catalog import CatalogItem
from tagger.linking.decision import LinkThresholds
from tagger.linking.factory import load_extractor
from tagger.linking.fusion import FusionModel
from tagger.linking.images import read_image
from tagger.linking.index import build_catalog_index
from tagger.linking.linker import Linker

REPO_ROOT = Path(__file__).resolve().parents[3]
MODEL_DIR = REPO_ROOT / "var" / "models"
PRODUCTS = (
    "Bravo-Apple-Juice",
    "Bravo-Orange-Juice",
    "Garant-Ecological-Standard-Milk",
    "Valio-Vanilla-Yoghurt",
)


@pytest.mark.shared
@pytest.mark.slow
def test_val_photo_links_to_its_packshot_among_siblings(shared_dir: Path) -> None:
    if not (MODEL_DIR / "mobilenetv2_embedder.onnx").is_file():
        pytest.skip("var/models/mobilenetv2_embedder.onnx is absent; run `python scripts/export_embedder.py`")
    data = shared_dir / "data" / "grocery-dev"
    shots = {
        path.parent.name: path for path in (data / "iconic-images-and-descriptions").rglob("*_Iconic.jpg")
    }
    items = [CatalogItem(sku, sku.replace("-", " "), images=(shots[sku],)) for sku in PRODUCTS]
    extractor = load_extractor(MODEL_DIR)
    linker = Linker(build_catalog_index(items, extractor), extractor, FusionModel.load())
    photo = read_image(next((data / "val").rglob("Valio-Vanilla-Yoghurt_002.jpg")))
    assert isinstance(photo, np.ndarray)

    result = linker.link_track([photo], LinkThresholds())

    assert result.candidates[0].sku == "Valio-Vanilla-Yoghurt"
