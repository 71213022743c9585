"""Signed provider webhooks. The signature is checked on the raw body before anything is parsed."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from api.checkout.dependencies import CommerceDep
from api.deps import SessionDep, SettingsDep
from api.linking.link_jobs import publish_stored, queue_index_refresh
from api.observability.metrics import record_webhook
from api.problems import Problem
from api.webhooks.schemas import WebhookReceipt
from api.webhooks.service import receive
from commerce.events import WebhookEvent
from commerce.exceptions import WebhookError, WebhookSignatureError
from commerce.webhooks import verify_and_parse_shopify, verify_and_parse_stripe

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
log = logging.getLogger("reelcart.api.webhooks")


async def _raw_body(request: Request) -> bytes:
    # Read in the event loop; the (blocking) database work runs in the sync route's thread.
    return await request.body()


RawBody = Annotated[bytes, Depends(_raw_body)]
_RESPONSES: dict[int | str, dict[str, object]] = {
    400: {"description": "forged, stale or malformed delivery"},
    502: {"description": "a provider call the handler needed failed; the provider will redeliver"},
    503: {"description": "webhooks are not configured on this server"},
}


def _rejected(error: WebhookError) -> Problem:
    # Only the reason is logged: a body may carry personal data, and a forged one is attacker input.
    log.warning("rejected %s webhook: %s", error.provider, error.reason)
    slug = (
        "invalid-webhook-signature" if isinstance(error, WebhookSignatureError) else "invalid-webhook-payload"
    )
    record_webhook(error.provider, slug)
    return Problem(400, str(error), slug=slug)


def _counted_as(receipt: WebhookReceipt) -> str:
    if receipt.duplicate:
        return "duplicate"
    if not receipt.handled:
        return "ignored"
    # A refund kept for an order not recorded yet: many mean orders' own deliveries are failing.
    return "held" if receipt.outcome.startswith("held:") else "processed"


def _process(
    event: WebhookEvent, request: Request, session: SessionDep, settings: SettingsDep, commerce: CommerceDep
) -> WebhookReceipt:
    try:
        delivery = receive(session, event, settings, commerce)
        session.commit()
    except Exception:
        # Not acknowledged (a provider read or the database failed): the provider delivers it again, and
        # stops delivering to an endpoint that keeps failing, so operators must see these.
        record_webhook(event.provider, "failed")
        raise
    outcome = delivery.outcome
    receipt = delivery.receipt
    record_webhook(event.provider, _counted_as(receipt))
    log.info("%s webhook %s (%s): %s", event.provider, event.event_id, event.event_type, outcome.message)
    publish_stored(request.app.state.job_queue, outcome.relink)
    if outcome.catalog_changed and outcome.brand_id is not None:
        # The product's images may be new URLs: fetch and index them in the background.
        queue_index_refresh(session, request.app.state.job_queue, outcome.brand_id)
    return delivery.receipt


@router.post("/stripe", response_model=WebhookReceipt, responses=_RESPONSES)
def stripe_webhook(
    request: Request, body: RawBody, session: SessionDep, settings: SettingsDep, commerce: CommerceDep
) -> WebhookReceipt:
    try:
        event = verify_and_parse_stripe(body, request.headers.get("stripe-signature"), commerce)
    except WebhookError as error:
        raise _rejected(error) from None
    return _process(event, request, session, settings, commerce)


@router.post("/shopify", response_model=WebhookReceipt, responses=_RESPONSES)
def shopify_webhook(
    request: Request, body: RawBody, session: SessionDep, settings: SettingsDep, commerce: CommerceDep
) -> WebhookReceipt:
    try:
        event = verify_and_parse_shopify(body, dict(request.headers), commerce)
    except WebhookError as error:
        raise _rejected(error) from None
    return _process(event, request, session, settings, commerce)
