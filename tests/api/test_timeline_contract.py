"""The timeline contract is published once: the served document matches `TimelineV1` in OpenAPI, and the
overlay SDK's `types.d.ts` declares exactly the same fields with the same types."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.settings import ApiSettings
from api.timeline.schemas import TimelineV1
from tests.api.factories import make_episode, make_placement, make_product
from tests.utils.api import BrandAccount

TYPES_D_TS = Path(__file__).resolve().parents[2] / "web_overlay" / "types.d.ts"
# types.d.ts interface -> OpenAPI component of the timeline contract
INTERFACES = {
    "Timeline": "TimelineV1",
    "Episode": "TimelineEpisode",
    "Placement": "TimelinePlacement",
    "Keyframe": "TimelineKeyframe",
    "Product": "TimelineProduct",
    "Variant": "TimelineVariant",
}


def _typescript_interfaces(source: str) -> dict[str, dict[str, str]]:
    """`export interface Name { field: type; ... }` -> {Name: {field: type}} (one level, no methods)."""
    source = re.sub(r"/\*.*?\*/|//[^\n]*", "", source, flags=re.S)
    interfaces = {}
    for name, body in re.findall(r"export interface (\w+)\s*\{(.*?)\}", source, flags=re.S):
        fields = {}
        for member in re.split(r"[;\n]", body):
            if ":" in member and "(" not in member:
                field, kind = member.split(":", 1)
                fields[field.strip().removeprefix("readonly ")] = " ".join(kind.split())
        interfaces[name] = fields
    return interfaces


def _typescript_type(schema: dict[str, Any]) -> str:
    """The TypeScript spelling of a JSON schema as types.d.ts writes it."""
    if "$ref" in schema:
        component = schema["$ref"].rsplit("/", 1)[1]
        return {value: key for key, value in INTERFACES.items()}[component]
    if "const" in schema:
        return str(schema["const"])
    if "anyOf" in schema:
        return " | ".join(_typescript_type(option) for option in schema["anyOf"])
    kind = schema["type"]
    if kind == "array":
        if schema.get("minItems") == schema.get("maxItems") == 4 and schema["items"] == {"type": "number"}:
            return "Box"
        return _typescript_type(schema["items"]) + "[]"
    return {
        "string": "string",
        "integer": "number",
        "number": "number",
        "boolean": "boolean",
        "null": "null",
    }[kind]


def test_types_d_ts_declares_the_published_timeline_schema(client: TestClient) -> None:
    components = client.get("/openapi.json").json()["components"]["schemas"]
    declared = _typescript_interfaces(TYPES_D_TS.read_text(encoding="utf-8"))
    route = client.get("/openapi.json").json()["paths"]["/v1/episodes/{episode_id}/timeline"]["get"]

    assert route["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TimelineV1"
    }
    for interface, component in INTERFACES.items():
        schema = components[component]
        published = {field: _typescript_type(spec) for field, spec in schema["properties"].items()}
        assert declared[interface] == published, interface
        assert sorted(schema["required"]) == sorted(published), component


def test_the_served_timeline_is_a_valid_timeline_v1(
    client: TestClient, engine: Engine, settings: ApiSettings, brand: BrandAccount
) -> None:
    product, _ = make_product(engine, brand.brand.id, "Cola 330 ml", sku="COLA-330", price="1.20")
    episode = make_episode(engine, brand.brand.id, settings)
    placement = make_placement(engine, episode, candidates=[product])
    approved = client.post(
        f"/v1/placements/{placement.id}/approve",
        headers=brand.headers | {"If-Match": f'"{placement.version}"'},
        json={},
    )
    assert approved.status_code == 200, approved.text

    served = client.get(f"/v1/episodes/{episode.id}/timeline")

    timeline = TimelineV1.model_validate_json(served.content)
    assert [(item.id, item.product.title) for item in timeline.placements] == [
        (str(placement.id), "Cola 330 ml")
    ]
