"""SKU linking: which catalog product each placement shows, with a calibrated confidence.

Typical use (a worker, once per brand catalog change, then per placement):

    extractor = load_extractor(settings.model_dir)                 # ONNX embedder + OCR
    index = build_catalog_index(items, extractor, previous=old)    # incremental; index.version
    FileIndexStore(root).save(index)                               # or the API's own IndexStore
    linker = Linker(index, extractor, FusionModel.load())
    result = link_track(placement.crops, linker, LinkThresholds(auto_approve=0.8, floor=0.3))
    result.candidates, result.sku, result.decision, result.index_version
"""

from tagger.linking.catalog import CatalogItem
from tagger.linking.decision import Decision, LinkThresholds
from tagger.linking.errors import CatalogIndexError, IndexStoreError, LinkingError
from tagger.linking.factory import load_extractor
from tagger.linking.features import FeatureConfig, FeatureExtractor
from tagger.linking.fusion import FusionModel
from tagger.linking.index import CatalogIndex, SkippedImage, build_catalog_index
from tagger.linking.linker import CropLike, Linker, LinkResult, SkuCandidate, TrackLinker, link_track
from tagger.linking.store import FileIndexStore, IndexStore

__all__ = [
    "CatalogIndex",
    "CatalogIndexError",
    "CatalogItem",
    "CropLike",
    "Decision",
    "FeatureConfig",
    "FeatureExtractor",
    "FileIndexStore",
    "FusionModel",
    "IndexStore",
    "IndexStoreError",
    "LinkResult",
    "LinkThresholds",
    "Linker",
    "LinkingError",
    "SkippedImage",
    "SkuCandidate",
    "TrackLinker",
    "build_catalog_index",
    "link_track",
    "load_extractor",
]
