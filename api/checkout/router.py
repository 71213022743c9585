"""`POST /v1/checkout`: the overlay's tap-to-buy (public; prices and availability from our catalog)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import HTMLResponse

from api.checkout.dependencies import CommerceDep
from api.checkout.schemas import CheckoutCreate, CheckoutCreated
from api.checkout.service import failure_reason, shopper_ip, start_checkout
from api.deps import SessionDep, SettingsDep
from api.observability.metrics import observe_checkout

router = APIRouter(tags=["public"])


@router.post(
    "/v1/checkout",
    status_code=status.HTTP_201_CREATED,
    response_model=CheckoutCreated,
    summary="Start a checkout for one tap; the same click_id again returns the same checkout",
    responses={
        200: {"model": CheckoutCreated, "description": "this click_id was seen before: the same checkout"},
        409: {"description": "placement not approved, variant sold out, provider not connected"},
        502: {"description": "the provider failed; `retryable` says whether the same click may retry"},
        503: {"description": "checkout is not configured on this server"},
    },
)
def create_checkout(
    body: CheckoutCreate,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    commerce: CommerceDep,
) -> CheckoutCreated:
    buyer_ip = shopper_ip(
        request.client.host if request.client else None,
        request.headers.getlist("x-forwarded-for"),
        settings.trusted_proxies,
    )
    with observe_checkout(body.provider, failure_reason) as observed:
        started = start_checkout(session, body, settings, commerce, buyer_ip=buyer_ip)
        session.commit()
        observed.opened(started.created.provider, replayed=started.replayed)
    if started.replayed:
        response.status_code = status.HTTP_200_OK
    return started.created


_RETURN_PAGE = """<!doctype html>
<html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Thank you</title>
<body style="font:16px system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem">
<h1>Thank you</h1>
<p>Your payment is being confirmed. You can close this tab and keep watching.</p>
</body></html>
"""


@router.get("/checkout/return", response_class=HTMLResponse, include_in_schema=False)
def checkout_return() -> HTMLResponse:
    """Where Stripe sends a shopper after a redirecting payment method (the default return URL).

    The order itself is recorded from the signed webhook, never from this page, which anyone can open.
    """
    return HTMLResponse(_RETURN_PAGE, headers={"Cache-Control": "no-store"})
