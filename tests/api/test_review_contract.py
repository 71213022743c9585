"""SKU candidates have one shape from the linker to the console: the review API's `SkuCandidate` in
OpenAPI is what the linking service stores (its linker part) and what review.js declares."""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api.linking.service import BrandLinker, outcome
from api.review.models import EVIDENCE_MAX_CHARS
from api.review.schemas import STORED_CANDIDATE_FIELDS, SkuCandidate
from tagger.linking import Decision, LinkResult, LinkThresholds
from tagger.linking import SkuCandidate as LinkerCandidate

REVIEW_JS = Path(__file__).resolve().parents[2] / "web_overlay" / "review" / "review.js"


def _jsdoc_typedef(source: str, name: str) -> dict[str, str]:
    """`@typedef {object} Name` followed by `@property {type} field` lines -> {field: type}."""
    block = re.search(r"@typedef \{object\} " + name + r"\b(.*?)\*/", source, flags=re.S)
    assert block is not None, f"review.js declares no {name} typedef"
    properties = re.findall(r"@property \{([^}]*)\} \[?(\w+)\]?", block.group(1))
    return {field: " ".join(kind.split()) for kind, field in properties}


def _js_type(schema: dict[str, Any]) -> str:
    if "anyOf" in schema:
        return " | ".join(_js_type(option) for option in schema["anyOf"])
    return {
        "string": "string",
        "number": "number",
        "integer": "number",
        "null": "null",
        "boolean": "boolean",
    }[schema["type"]]


def test_review_js_declares_the_published_sku_candidate(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]["SkuCandidate"]
    published = {field: _js_type(spec) for field, spec in schema["properties"].items()}

    assert _jsdoc_typedef(REVIEW_JS.read_text(encoding="utf-8"), "SkuCandidate") == published


def test_the_linker_answer_becomes_the_api_candidate_and_is_stored_as_its_linker_part() -> None:
    product, variant = uuid.uuid4(), uuid.uuid4()
    result = LinkResult(
        candidates=(
            LinkerCandidate(str(product), "Pressed Apple", 0.912345),
            LinkerCandidate("not-a-product-id", "From an index the API never writes", 0.05),
        ),
        sku=str(product),
        confidence=0.912345,
        unknown_probability=0.01,
        decision=Decision.APPROVED,
        index_version="v3",
        crops_used=3,
    )
    brand = BrandLinker(_NoLinker(), LinkThresholds(), {str(product): str(variant)}, "v3")

    linked = outcome(result, brand)

    assert linked.sku_candidates == [
        SkuCandidate(product_id=product, variant_id=variant, title="Pressed Apple", confidence=0.9123)
    ]
    assert linked.sku_candidates[0].stored() == {
        "product_id": str(product),
        "variant_id": str(variant),
        "title": "Pressed Apple",
        "confidence": 0.9123,
    }
    assert set(linked.sku_candidates[0].stored()) == STORED_CANDIDATE_FIELDS
    assert (linked.chosen_product_id, linked.link_confidence) == (product, 0.9123)


class _NoLinker:
    def link_track(self, crops: object, thresholds: object = None) -> LinkResult:
        raise AssertionError("not called")


def _proposed(evidence: str) -> LinkResult:
    product = uuid.uuid4()
    return LinkResult(
        candidates=(LinkerCandidate(str(product), "God Morgon Red Grapefruit", 0.98),),
        sku=str(product),
        confidence=0.98,
        unknown_probability=0.02,
        decision=Decision.PROPOSED,
        index_version="v3",
        crops_used=3,
        evidence=evidence,
    )


def test_the_linkers_reason_travels_with_its_answer_and_is_cut_to_what_a_placement_stores() -> None:
    brand = BrandLinker(_NoLinker(), LinkThresholds(), {}, "v3")
    reason = "its print reads 'apple', which its catalog text lacks (another variant?)"

    assert outcome(_proposed(reason), brand).evidence == reason
    assert outcome(replace(_proposed(reason), contradicted=True), brand).contradicted is True
    assert outcome(_proposed(""), brand).evidence is None
    long = outcome(_proposed("crop 1: its print matched (40 keypoints); " * 40), brand).evidence
    assert long is not None
    assert len(long) == EVIDENCE_MAX_CHARS
    assert long.endswith("…")


def test_review_js_declares_the_link_evidence_the_api_serves(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]["PlacementPublic"]
    declared = _jsdoc_typedef(REVIEW_JS.read_text(encoding="utf-8"), "ReviewPlacement")

    for field in ("link_evidence", "link_contradicted"):
        assert declared[field] == _js_type(schema["properties"][field])
