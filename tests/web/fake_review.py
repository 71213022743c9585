"""An in-memory fake of the brand review API (issue 6 contract), so the review console's browser test runs
before the real routes land. It follows the contract closely enough that pointing the same test at the real
API is a fixture swap: Bearer keys, problem+json errors, ETag = version with If-Match, a ReviewAction per
change, and a public timeline rebuilt from approved placements (new ETag on every change). Placements are
stored as the database holds them and served as `PlacementPublic`: candidates named from the catalog now, the
brand's link floor, and what approving publishes (nothing, below the floor, until a person picks one)."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from tests.web.factories import JsonObject, Product

GOOD_KEY = "rc_test_brand_key"
LINK_FLOOR = 0.3  # the real API's default for a brand
EXPIRED_KEY = "rc_expired_key"
REVIEWER = "key:fizz-reviewer"  # the real API writes `key:<key name>`


@dataclass(frozen=True)
class FakeResponse:
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)


def problem(status: int, title: str, detail: str, slug: str | None = None) -> FakeResponse:
    problem_type = f"https://reelcart.dev/problems/{slug}" if slug else "about:blank"
    payload = {"type": problem_type, "title": title, "status": status, "detail": detail}
    return FakeResponse(status, json.dumps(payload).encode(), {"Content-Type": "application/problem+json"})


def ok_json(payload: object, status: int = 200, etag: str | None = None) -> FakeResponse:
    headers = {"Content-Type": "application/json"}
    if etag is not None:
        headers["ETag"] = etag
    return FakeResponse(status, json.dumps(payload).encode(), headers)


def _action_name(changes: Mapping[str, Any]) -> str:
    """How the real API names a PATCH in the audit trail: its parts joined with '+'."""
    parts = (
        ("retime", {"start_ms", "end_ms"}),
        ("reshape", {"keyframes"}),
        ("relink", {"chosen_product_id"}),
    )
    return "+".join(name for name, fields in parts if fields & set(changes))


def etag_of(placement: JsonObject) -> str:
    return f'"{placement["version"]}"'


class FakeReviewApi:
    """Brand-scoped review state behind the review routes; thread-safe because the test server is threaded."""

    def __init__(
        self, placements: list[JsonObject], catalog: list[Product], episodes: Mapping[str, str] | None = None
    ) -> None:
        self._lock = threading.Lock()
        self._placements = {p["id"]: copy.deepcopy(p) for p in placements}
        self._catalog = {product.id: product for product in catalog}
        self._history: dict[str, list[JsonObject]] = {p["id"]: [] for p in placements}
        # Episode id -> title, newest first, as GET /v1/episodes lists them.
        self.episodes = dict(episodes or {})
        self.link_floor = LINK_FLOOR
        self.valid_keys = {GOOD_KEY}

    def placement(self, placement_id: str) -> JsonObject:
        with self._lock:
            return copy.deepcopy(self._placements[placement_id])

    def history(self, placement_id: str) -> list[JsonObject]:
        with self._lock:
            return copy.deepcopy(self._history[placement_id])

    def edit_behind_the_consoles_back(self, placement_id: str, **changes: Any) -> None:
        """Simulate a colleague's concurrent edit: bumps the version the console holds."""
        with self._lock:
            self._record(placement_id, _action_name(changes), changes, actor="key:colleague")

    def public_timeline(self, episode_id: str, width: int, height: int, duration_ms: int) -> JsonObject:
        """The player timeline: approved placements with a chosen product, as the real API would publish."""
        with self._lock:
            approved = [
                p
                for p in self._placements.values()
                if p["episode_id"] == episode_id and p["status"] == "approved" and p["chosen_product_id"]
            ]
            placements = [
                {
                    "id": p["id"],
                    "start_ms": p["start_ms"],
                    "end_ms": p["end_ms"],
                    "label": p["label"],
                    "keyframes": p["keyframes"],
                    "product": self._catalog[p["chosen_product_id"]].to_json(),
                }
                for p in sorted(approved, key=lambda p: (p["start_ms"], p["id"]))
            ]
        return {
            "version": 1,
            "episode": {"id": episode_id, "duration_ms": duration_ms, "width": width, "height": height},
            "placements": placements,
        }

    def handles(self, path: str) -> bool:
        return path == "/v1/episodes" or path.startswith(("/v1/review/", "/v1/placements/", "/v1/products"))

    def _public(self, placement: JsonObject) -> JsonObject:
        """A stored placement as the real API serves it (`PlacementPublic`); callers hold the lock."""
        candidates = [self._candidate(stored) for stored in placement["sku_candidates"]]
        chosen = self._catalog.get(placement["chosen_product_id"] or "")
        confidence = placement["link_confidence"]
        unknown = not candidates or confidence is None or confidence < self.link_floor
        return {
            **copy.deepcopy(placement),
            "sku_candidates": candidates,
            "episode_title": self.episodes.get(placement["episode_id"]),
            "chosen_product_title": chosen.title if chosen else None,
            "chosen_product_image_url": chosen.image_url if chosen else None,
            "link_floor": self.link_floor,
            "unknown_product": unknown,
            "approve_product_id": placement["chosen_product_id"]
            or (None if unknown else candidates[0]["product_id"]),
        }

    def _candidate(self, stored: JsonObject) -> JsonObject:
        product = self._catalog.get(stored["product_id"])
        variant = (
            next((v for v in product.variants if v.id == stored["variant_id"]), None) if product else None
        )
        return {
            **stored,
            "title": product.title if product else stored["title"],
            "variant_title": variant.title if variant else None,
            "sku": variant.sku if variant else None,
            "image_url": product.image_url if product else None,
        }

    def handle(
        self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes
    ) -> FakeResponse:
        auth = headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in self.valid_keys:
            return problem(401, "Unauthorized", "The API key is missing, unknown or expired.")
        params = {k: v[-1] for k, v in parse_qs(query).items()}
        parts = [part for part in path.split("/") if part]
        with self._lock:
            if method == "GET" and path == "/v1/review/queue":
                return self._queue(params)
            if method == "GET" and path == "/v1/episodes":
                items = [{"id": i, "title": t} for i, t in self.episodes.items()]
                limit = int(params.get("limit", "50"))
                return ok_json({"items": items[:limit], "total": len(items), "limit": limit, "offset": 0})
            if method == "POST" and path == "/v1/review/bulk-approve":
                return self._bulk_approve(json.loads(body or b"{}"))
            if method == "GET" and path == "/v1/products":
                return self._products(params.get("q", ""))
            if len(parts) >= 3 and parts[1] == "placements":
                return self._placement_route(method, parts[2:], headers, body)
        return problem(404, "Not Found", f"No fake route for {method} {path}.")

    def _queue(self, params: Mapping[str, str]) -> FakeResponse:
        status = params.get("status", "proposed")
        limit = int(params.get("limit", "50"))
        offset = int(params.get("cursor", "0") or 0)
        # The real API's order: unlinked first, then lowest link confidence, then longest on screen.
        items = sorted(
            (p for p in self._placements.values() if p["status"] == status),
            key=lambda p: (
                p["link_confidence"] is not None,
                p["link_confidence"] or 0.0,
                -(p["end_ms"] - p["start_ms"]),
                p["id"],
            ),
        )
        page = items[offset : offset + limit]
        next_cursor = str(offset + limit) if offset + limit < len(items) else None
        return ok_json(
            {"items": [self._public(p) for p in page], "next_cursor": next_cursor, "total": len(items)}
        )

    def _bulk_approve(self, payload: JsonObject) -> FakeResponse:
        min_confidence = float(payload["min_confidence"])
        episode_id = payload.get("episode_id")
        if min_confidence < self.link_floor:
            return problem(
                422,
                "Unprocessable Content",
                f"min_confidence ({min_confidence:.2f}) is below your link floor ({self.link_floor:.2f}): "
                "links below it are unknown products, and each needs a product picked by a person",
            )
        eligible = [
            (pid, p)
            for pid, p in self._placements.items()
            if p["status"] == "proposed"
            and (p["link_confidence"] or 0.0) >= min_confidence
            and (episode_id is None or p["episode_id"] == episode_id)
        ]
        # As the real API: links whose crops showed another product wait for a person.
        contradicted = [
            pid for pid, p in eligible if p.get("link_contradicted") and not p["chosen_product_id"]
        ]
        approved = [
            (pid, product_id)
            for pid, p in eligible
            if pid not in contradicted and (product_id := self._public(p)["approve_product_id"])
        ]
        for pid, product_id in approved:
            self._record(pid, "approve", {"status": "approved", "chosen_product_id": product_id})
        return ok_json(
            {
                "approved": len(approved),
                "placement_ids": [pid for pid, _ in approved],
                "skipped_contradicted": len(contradicted),
            }
        )

    def _products(self, q: str) -> FakeResponse:
        needle = q.casefold()
        # The shape of the real `GET /v1/products` page (ProductPublic), not the timeline's product.
        items = [
            {
                "id": product.id,
                "title": product.title,
                "vendor": product.brand,
                "images": [{"url": product.image_url}] if product.image_url else [],
                "variants": [variant.to_json() for variant in product.variants],
            }
            for product in self._catalog.values()
            if needle in product.title.casefold() or needle in product.brand.casefold()
        ]
        return ok_json({"items": items})

    def _placement_route(
        self, method: str, rest: list[str], headers: Mapping[str, str], body: bytes
    ) -> FakeResponse:
        placement = self._placements.get(rest[0])
        if placement is None:
            return problem(404, "Not Found", f"Placement {rest[0]} does not exist.")
        action = rest[1] if len(rest) > 1 else ""
        if method == "GET" and action == "":
            return ok_json(self._public(placement), etag=etag_of(placement))
        if method == "GET" and action == "history":
            return ok_json(self._history[placement["id"]])
        if_match = headers.get("If-Match")
        if if_match is None:
            return problem(428, "Precondition Required", "Send If-Match with the placement's ETag.")
        if if_match != etag_of(placement):
            return problem(
                412,
                "Precondition Failed",
                f"Placement {placement['id']} changed since you loaded it "
                f"(you have {if_match}, current is {etag_of(placement)}).",
            )
        if method == "POST" and action == "approve":
            given = json.loads(body or b"{}").get("product_id")
            product_id = given or self._public(placement)["approve_product_id"]
            if product_id is None:
                return problem(
                    422,
                    "Unprocessable Content",
                    "choose a product before approving: this is an unknown product, so approving would "
                    "publish a guess; send product_id (or relink with PATCH chosen_product_id first)",
                    slug="no-product-chosen",
                )
            if product_id not in self._catalog:
                return problem(422, "Unprocessable Content", "product not found in your catalog")
            self._record(placement["id"], "approve", {"status": "approved", "chosen_product_id": product_id})
        elif method == "POST" and action == "reject":
            self._record(placement["id"], "reject", {"status": "rejected"})
        elif method == "PATCH" and action == "":
            changes = json.loads(body or b"{}")
            allowed = {"start_ms", "end_ms", "chosen_product_id", "keyframes"}
            unknown = set(changes) - allowed
            if unknown:
                return problem(422, "Unprocessable Content", f"Unknown fields: {sorted(unknown)}.")
            if "chosen_product_id" in changes and changes["chosen_product_id"] not in self._catalog:
                return problem(
                    422, "Unprocessable Content", "chosen_product_id is not in this brand's catalog."
                )
            start = changes.get("start_ms", placement["start_ms"])
            end = changes.get("end_ms", placement["end_ms"])
            outside = [k["t_ms"] for k in changes.get("keyframes", []) if not start <= k["t_ms"] <= end]
            if outside:
                return problem(
                    422, "Unprocessable Content", f"keyframes at {outside} ms lie outside {start}-{end}."
                )
            self._record(placement["id"], _action_name(changes), changes)
        else:
            return problem(405, "Method Not Allowed", f"{method} is not allowed here.")
        stored = self._placements[placement["id"]]
        return ok_json(self._public(stored), etag=etag_of(stored))

    def _record(
        self, placement_id: str, action: str, changes: Mapping[str, Any], actor: str = REVIEWER
    ) -> None:
        """Apply a change and write its ReviewAction; callers hold the lock."""
        placement = self._placements[placement_id]
        before = {key: copy.deepcopy(placement[key]) for key in changes}
        placement.update(copy.deepcopy(dict(changes)))
        placement["version"] += 1
        self._history[placement_id].append(
            {
                "actor": actor,
                "action": action,
                "at": datetime.now(UTC).isoformat(),
                "before": before,
                "after": copy.deepcopy(dict(changes)),
            }
        )
