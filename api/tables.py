"""Every table, by domain: importing this module registers them all on `SQLModel.metadata`."""

from api.analytics.models import Event, EventCount, EventDayCount
from api.brands.models import ApiKey, ApiKeyScope, Brand, OAuthStateUse
from api.catalog.models import ImageFetchJob, Product, ProductImage, SyncJob, Variant
from api.checkout.models import CheckoutSession, Order
from api.detectors.models import BrandDetector, DetectorTrainJob
from api.episodes.models import Episode, EpisodeStatus, TagJob
from api.jobs.models import JobState
from api.linking.models import LinkJob
from api.review.models import Placement, PlacementStatus, ReviewAction
from api.webhooks.models import HeldRefund, ProcessedWebhook

__all__ = [
    "ApiKey",
    "ApiKeyScope",
    "Brand",
    "BrandDetector",
    "CheckoutSession",
    "DetectorTrainJob",
    "Episode",
    "EpisodeStatus",
    "Event",
    "EventCount",
    "EventDayCount",
    "HeldRefund",
    "ImageFetchJob",
    "JobState",
    "LinkJob",
    "OAuthStateUse",
    "Order",
    "Placement",
    "PlacementStatus",
    "ProcessedWebhook",
    "Product",
    "ProductImage",
    "ReviewAction",
    "SyncJob",
    "TagJob",
    "Variant",
]
