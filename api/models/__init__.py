"""The persisted domain (DESIGN.md). Importing this package registers every table on `SQLModel.metadata`."""

from api.models.accounts import ApiKey, ApiKeyScope, Brand
from api.models.catalog import Product, ProductImage, Variant
from api.models.commerce import CheckoutSession, Event, Order, ProcessedWebhook
from api.models.common import JobState
from api.models.episodes import Episode, EpisodeStatus, TagJob
from api.models.linking import LinkJob
from api.models.placements import Placement, PlacementStatus, ReviewAction

__all__ = [
    "ApiKey",
    "ApiKeyScope",
    "Brand",
    "CheckoutSession",
    "Episode",
    "EpisodeStatus",
    "Event",
    "JobState",
    "LinkJob",
    "Order",
    "Placement",
    "PlacementStatus",
    "ProcessedWebhook",
    "Product",
    "ProductImage",
    "ReviewAction",
    "TagJob",
    "Variant",
]
