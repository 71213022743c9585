"""Settings for the service layer: one class, `REELCART_` prefix, placeholders refused outside development."""

from __future__ import annotations

from functools import lru_cache
from ipaddress import ip_network
from pathlib import Path
from typing import Annotated, Literal

from limits import parse_many
from pydantic import AfterValidator, Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "secret", "placeholder", "dev", "test"})


def _rate_limit(value: str) -> str:
    # "20/minute", "100 per hour", "5/second;100/minute": parsed by the `limits` library at startup.
    parse_many(value)
    return value


RateLimit = Annotated[str, AfterValidator(_rate_limit)]


def _absolute(path: Path) -> Path:
    # A relative root would mean whatever folder the process happened to start in, which differs
    # between `serve`, a worker and a service manager: the same request allowed on one, refused on another.
    if not path.is_absolute():
        raise ValueError(f"{str(path)!r} is relative; give absolute paths")
    return path


def _means_no_limit(value: object) -> bool:
    text = "" if value is None else str(value).strip().lower()
    if text in ("", "none"):
        return True
    try:
        return float(text) == 0
    except ValueError:
        return False  # not a number: the field's own check says so


def _ip_network(value: str) -> str:
    # Fails at startup on a typo rather than silently trusting nobody (or the wrong hop).
    ip_network(value, strict=False)
    return value


def served_at(host: str, port: int) -> str:
    """The URL a browser on this machine reaches a server bound to `host:port` at (a wildcard bind
    address is reached through the loopback address)."""
    wildcard = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104 (read, not bound)
    reachable = wildcard.get(host, host)
    return f"http://[{reachable}]:{port}" if ":" in reachable else f"http://{reachable}:{port}"


class ApiSettings(BaseSettings):
    """Everything an operator configures for the API and its workers."""

    model_config = SettingsConfigDict(env_prefix="REELCART_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite:///./var/reelcart.db"
    media_dir: Path = Path("var/media")
    model_dir: Path = Path("var/models")
    # Unset: where this process serves (`http://{host}:{port}`), so `reelcart serve --port 8011` hands out
    # links to 8011; behind a proxy, and in production (where it is required), the address users reach.
    public_base_url: str = ""
    _public_base_url_derived: bool = PrivateAttr(default=False)
    # Origins a brand's own tools call the brand routes from; the player's routes answer any (api/cors.py).
    cors_origins: list[str] = Field(default_factory=list)
    # Server-side paths an operator may register episodes from, besides media_dir itself.
    media_import_roots: list[Annotated[Path, AfterValidator(_absolute)]] = Field(default_factory=list)
    secret_key: SecretStr = SecretStr("change-me")
    max_json_bytes: int = Field(default=1 << 20, ge=1024)
    max_upload_bytes: int = Field(default=2 << 30, ge=1 << 20)
    max_image_bytes: int = Field(default=20 << 20, ge=1 << 16)
    # A catalog import (`POST /v1/catalog/import`, CSV or JSON) is read whole and parsed: room for
    # MAX_IMPORT_LINES (100,000) rows of about 650 bytes (a description, an image URL) by default.
    max_import_bytes: int = Field(default=64 << 20, ge=1 << 20, le=1 << 30)
    # Catalog images given by URL (API, import, Shopify/Stripe sync) are fetched by link jobs so the
    # linker can index them. Private, loopback and link-local hosts are refused (a brand's URL must not
    # reach the operator's internal network) unless this is set, for development against local servers.
    image_fetch_timeout_s: float = Field(default=10.0, gt=0, le=120)
    image_fetch_private_hosts: bool = False
    worker_threads: int = Field(default=1, ge=0, le=64)
    # A cluster: jobs go to Celery workers (`reelcart worker`) through this broker (redis://…, amqp://…)
    # instead of the API's threads. Unset on one box; a web-only node (worker_threads 0) needs it.
    broker_url: str | None = None
    # Redis (and SQS) redeliver a message not acknowledged within this time; it must be longer than
    # the longest job, or a running job's message comes back (harmless, see api.jobs.celery_app,
    # but it wastes a worker's look at it).
    broker_visibility_timeout_s: int = Field(default=6 * 3600, ge=60)
    # A running job's heartbeat is written every job_heartbeat_s; a job silent for job_lease_s has lost
    # its worker (dead, or paused past its lease) and is queued again for another attempt.
    job_heartbeat_s: float = Field(default=10.0, gt=0, le=600)
    job_lease_s: float = Field(default=60.0, gt=0, le=24 * 3600)
    # How often a process with workers (or a broker-backed API) looks for stale jobs and unpublished ones.
    job_supervise_s: float = Field(default=15.0, gt=0, le=3600)
    # Attempts before a job that keeps failing transiently, or keeps losing its worker, is failed.
    job_max_attempts: int = Field(default=3, ge=1, le=100)
    # The first retry after a transient failure waits this long; each next one twice as long, up to the max.
    job_retry_backoff_s: float = Field(default=5.0, ge=0, le=3600)
    job_retry_backoff_max_s: float = Field(default=300.0, ge=0, le=24 * 3600)
    # A queued job whose message was published this long ago and never picked up is published again
    # (a broker that lost its queue); a duplicate message is harmless, the claim runs a job once.
    job_republish_after_s: float = Field(default=6 * 3600, gt=0)
    # `module:attribute` naming a TagFunction that replaces the detection pipeline in every worker of
    # this process (worker-process tests, queue benchmarks). Refused in production.
    tag_function: str | None = None
    timeline_max_age_s: int = Field(default=30, ge=0)
    # Stripe.js key the overlay mounts embedded checkout with (public by design). Without it the API
    # asks Stripe for a hosted page instead, since the overlay could not mount an embedded one.
    stripe_publishable_key: str | None = None
    # Where checkout returns the shopper; Stripe fills in `{CHECKOUT_SESSION_ID}`. Unset: the API's
    # own thank-you page, {public_base_url}/checkout/return.
    checkout_return_url: str | None = None
    # Reverse proxies (addresses or CIDR networks) whose X-Forwarded-For is believed; the shopper IP
    # sent to providers is then the right-most forwarded address outside this list. Empty: the peer.
    trusted_proxies: list[Annotated[str, AfterValidator(_ip_network)]] = Field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # Rate limits (api/rate_limits.py): counters live in this `limits` storage, shared by every API
    # process that names the same one (e.g. redis://127.0.0.1:6379/0); unset, in this process's memory.
    rate_limit_storage_url: str | None = None
    rate_limit_enabled: bool = True
    # Per client IP (REELCART_TRUSTED_PROXIES decides what the client IP is) on the public routes.
    rate_limit_events: RateLimit = "120/minute"  # POST /v1/events requests
    rate_limit_event_items: RateLimit = "1200/minute"  # events inside them
    rate_limit_checkout: RateLimit = "30/minute"  # POST /v1/checkout (each may open a provider session)
    rate_limit_timeline: RateLimit = "600/minute"  # GET /v1/episodes/{id}/timeline
    # Per API key, on every route a key calls (brand and operator routes).
    rate_limit_api_key: RateLimit = "1200/minute"
    # One impression, and one tap, per viewer and placement is counted in this window (a viewer: client
    # IP + User-Agent).
    impression_dedupe_s: int = Field(default=1800, ge=1, le=7 * 24 * 3600)
    # `json`: every log record is one JSON line on stderr, with the request id and job id (see
    # api/observability/context.py); `text` leaves logging as the server sets it up.
    log_format: Literal["text", "json"] = "text"
    # Bearer token Prometheus sends to scrape GET /metrics; unset, /metrics answers 404.
    metrics_token: SecretStr | None = None
    # Where `reelcart worker` serves the metrics of the jobs its processes run (api.observability.
    # worker_metrics); unset, it serves none. The same token is required.
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    worker_metrics_host: str = "0.0.0.0"  # noqa: S104 - scraped from another host; the token guards it

    # Training a brand's detector (train jobs): the python of the `train` virtualenv (torch and
    # ultralytics, `make train-venv`), run as a subprocess so API and worker processes never import torch.
    train_python: Path = Path("var/train-venv/bin/python")
    # Cost bounds: images per product, all images (a 10,000-SKU catalog gets max_images // SKUs each,
    # at least train_min_images_per_class), wall hours of the ultralytics run (it stops there), epochs.
    train_image_size: int = Field(default=320, ge=64, le=1280, multiple_of=32)  # YOLO's largest stride
    train_images_per_class: int = Field(default=40, ge=1, le=1000)
    train_min_images_per_class: int = Field(default=3, ge=1, le=1000)
    train_max_images: int = Field(default=20_000, ge=1)
    train_val_per_class: int = Field(default=4, ge=1, le=100)
    train_epochs: int = Field(default=60, ge=1, le=1000)
    # None (set as 0, "none" or empty): no time budget, the epochs decide.
    train_time_hours: float | None = Field(default=0.75, gt=0, le=72)
    train_batch: int = Field(default=16, ge=1, le=512)
    train_device: str = "auto"
    # Torch threads of a CPU training run; None (set as 0, "none" or empty): every core the trainer may
    # use. Lower it where a train job shares the box with tag jobs and they must keep cores.
    train_threads: int | None = Field(default=None, ge=1, le=256)
    train_model_yaml: str = "yolov8n.yaml"
    # One class for all the brand's products (the linker says which SKU): every label trains the one
    # class, which is what a CPU budget of a few epochs needs (BENCHMARKS.md, End to end).
    train_single_class: bool = True
    # Pictures and videos pasted products are composed onto (folders or files; e.g. ../shared/data/videos).
    train_backgrounds: list[Path] = Field(default_factory=list)
    train_frames_per_video: int = Field(default=24, ge=1, le=10_000)
    # Also sample backgrounds from the brand's own episodes. Off: those frames show the brand's products
    # unlabelled, which teaches the detector that they are background (not measured either way yet).
    train_episode_backgrounds: bool = False

    @field_validator("train_time_hours", "train_threads", mode="before")
    @classmethod
    def _no_limit(cls, value: object) -> object:
        # The environment cannot set a field back to None once it has a default: 0, "none" or an empty
        # value say "no limit": no time budget (the epochs decide), every core.
        return None if _means_no_limit(value) else value

    @field_validator("public_base_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        if not value:
            return value  # derived from host and port below
        if not value.startswith(("http://", "https://")):
            raise ValueError("public_base_url must start with http:// or https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> ApiSettings:
        if self.environment != "development" and self.secret_key.get_secret_value() in PLACEHOLDER_SECRETS:
            raise ValueError(
                "REELCART_SECRET_KEY is a placeholder; set a real secret outside development "
                f"(environment is {self.environment!r})"
            )
        if self.job_lease_s < 2 * self.job_heartbeat_s:
            raise ValueError(
                "REELCART_JOB_LEASE_S must be at least twice REELCART_JOB_HEARTBEAT_S, or a live "
                "worker's job would be taken from it between two beats"
            )
        if self.environment == "production" and self.tag_function is not None:
            raise ValueError(
                "REELCART_TAG_FUNCTION replaces the detector for tests; it is refused in production"
            )
        if (
            self.environment != "development"
            and self.metrics_token is not None
            and self.metrics_token.get_secret_value() in PLACEHOLDER_SECRETS
        ):
            raise ValueError("REELCART_METRICS_TOKEN is a placeholder; set a real token or leave it unset")
        return self

    @model_validator(mode="after")
    def _derive_public_base_url(self) -> ApiSettings:
        if self.public_base_url:
            return self
        if self.environment == "production":
            raise ValueError(
                "REELCART_PUBLIC_BASE_URL is required in production: the https address players, brands and "
                "providers reach this API at (links to images, timelines and signed media are built on it)"
            )
        self.public_base_url = served_at(self.host, self.port)
        self._public_base_url_derived = True
        return self

    def serving_at(self, host: str | None, port: int | None) -> ApiSettings:
        """These settings for a server bound elsewhere than REELCART_HOST/PORT (the CLI's --host and
        --port): a public base URL that was derived from them follows; one that was set stays."""
        moved = self.model_copy(update={"host": host or self.host, "port": port or self.port})
        if self._public_base_url_derived:
            moved.public_base_url = served_at(moved.host, moved.port)
        return moved

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> ApiSettings:
    """Settings read once per process from the environment (and `.env`)."""
    return ApiSettings()
