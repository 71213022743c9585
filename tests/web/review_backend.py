"""What the review console's browser test needs from a backend, so the same test runs against the in-memory
fake now and against the real API later: implement `ReviewBackend` over the app (seed `review_queue()`
placements for one brand, read placements and history from the database) and swap the `review` fixture."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from tests.web.factories import JsonObject
from tests.web.fake_review import EXPIRED_KEY, GOOD_KEY, REVIEWER, FakeReviewApi


class ReviewBackend(Protocol):
    @property
    def base_url(self) -> str:
        """Origin serving /review/, /overlay/ and the /v1 API."""
        ...

    @property
    def api_key(self) -> str:
        """A valid key of the brand that owns the seeded placements."""
        ...

    @property
    def unknown_key(self) -> str:
        """A key the API refuses with 401."""
        ...

    @property
    def reviewer(self) -> str:
        """The actor the API writes into ReviewActions made with `api_key`."""
        ...

    def placement(self, placement_id: str) -> JsonObject: ...

    def history(self, placement_id: str) -> list[JsonObject]: ...

    def edit_behind_the_consoles_back(self, placement_id: str, **changes: Any) -> None: ...

    def expire_keys(self) -> None: ...

    def set_link_floor(self, floor: float) -> None:
        """The brand changes its link floor (PATCH /v1/brands/me) while the console is open."""
        ...


@dataclass(frozen=True)
class LoopbackReviewBackend:
    """The fake review API mounted on the loopback test server."""

    fake: FakeReviewApi
    base_url: str
    api_key: str = GOOD_KEY
    unknown_key: str = EXPIRED_KEY
    reviewer: str = REVIEWER

    def placement(self, placement_id: str) -> JsonObject:
        return self.fake.placement(placement_id)

    def history(self, placement_id: str) -> list[JsonObject]:
        return self.fake.history(placement_id)

    def edit_behind_the_consoles_back(self, placement_id: str, **changes: Any) -> None:
        self.fake.edit_behind_the_consoles_back(placement_id, **changes)

    def expire_keys(self) -> None:
        self.fake.valid_keys.clear()

    def set_link_floor(self, floor: float) -> None:
        self.fake.link_floor = floor
