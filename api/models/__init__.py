"""The persisted domain (DESIGN.md). Importing this package registers every table on `SQLModel.metadata`."""

from api.models.accounts import ApiKey, ApiKeyScope, Brand
from api.models.catalog import Product, ProductImage, Variant
from api.models.commerce import CheckoutSession, Event, Order, ProcessedWebhook
from api.models.episodes import Episode, EpisodeStatus, TagJob, TagJobState
from api.models.placements import Placement, PlacementStatus, ReviewAction

__all__ = [
    "ApiKey",
    "ApiKeyScope",
    "Brand",
    "CheckoutSession",
    "Episode",
    "EpisodeStatus",
    "Event",
    "Order",
    "Placement",
    "PlacementStatus",
    "ProcessedWebhook",
    "Product",
    "ProductImage",
    "ReviewAction",
    "TagJob",
    "TagJobState",
    "Variant",
]
