"""The calling brand's own settings (brand key) and its provider connections: started by the brand,
finished at the callbacks the providers send the owner's browser to, or bound by the operator for a
migration.

A brand key can no longer bind an account by naming it: the account id and the shop's token come from
the provider's answer to a code that only the account's owner could obtain (see `api/brands/oauth.py`).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.brands import oauth
from api.brands import service as brands
from api.brands.models import CheckoutProviderName
from api.brands.schemas import (
    BrandMe,
    BrandUpdate,
    ConnectUrl,
    LinkingPreview,
    LinkingSettings,
    ShopDomain,
    ShopifyConnect,
    StripeConnect,
)
from api.checkout.dependencies import CommerceDep
from api.commerce_config import token_cipher
from api.deps import BrandIdDep, OperatorDep, SessionDep, SettingsDep
from api.linking.link_jobs import relink_for_settings_change
from api.linking.monitor import monitor_link_job
from api.linking.preview import catalog_work_pending, preview_thresholds
from api.linking.service import (
    brand_thresholds,
    catalog_has_images,
    current_scorer,
    index_folder,
    indexed_products,
)
from tagger.linking import FileIndexStore

me = APIRouter(prefix="/v1/brands/me", tags=["brands"])


@me.get("", response_model=BrandMe)
def get_me(brand_id: BrandIdDep, session: SessionDep) -> BrandMe:
    return brands.brand_me(brands.get_brand(session, brand_id))


@me.patch(
    "",
    response_model=BrandMe,
    description="A change to the linking settings (`auto_approve_threshold`, `link_floor`, "
    "`require_print_evidence`, `own_print_auto_approve`) queues a link job that decides again under them "
    "the placements the linker decided: those awaiting review (the ones it approves go on the timeline) "
    "and the linker's own approvals (withdrawn from the timeline, back in review, when they no longer "
    "pass); a person's approvals and rejections stay as they are. The answer's `Link` header names the "
    'job (`rel="monitor"`).',
)
def patch_me(
    body: BrandUpdate, request: Request, response: Response, brand_id: BrandIdDep, session: SessionDep
) -> BrandMe:
    brand = brands.get_brand(session, brand_id)
    # Read again under a row lock held to the commit: the thresholds compared are the stored ones.
    session.refresh(brand, with_for_update=True)
    before = brand_thresholds(brand)
    brand = brands.update_brand(session, brand, body)
    relink = relink_for_settings_change(session, brand, before)
    session.commit()
    monitor_link_job(request, response, relink)
    return brands.brand_me(brand)


@me.post(
    "/linking-preview",
    response_model=LinkingPreview,
    summary="What a change of the linking settings would do, before it is made",
    description="The same linking fields as `PATCH /v1/brands/me` (each omitted one kept, validated alike). "
    "Every placement the linker decided against the catalog index as last saved is decided again from its "
    "stored link under them, as the job the change would queue decides it: how many would be approved and "
    "go live, how many of the linker's approvals would be withdrawn, with the first 100 of each. Those the "
    "job would link again instead are only counted (`not_previewed`, `other_index`); `catalog_pending` says "
    "when the catalog may have changed since its index was saved. Nothing is stored or queued.",
)
def preview_linking(
    body: LinkingSettings, brand_id: BrandIdDep, session: SessionDep, settings: SettingsDep
) -> LinkingPreview:
    brand = brands.get_brand(session, brand_id)
    after = brands.linking_values_after(brand, body)
    thresholds = brand_thresholds(after)
    current = FileIndexStore(index_folder(settings, brand_id)).current()
    indexed = indexed_products(session, brand_id)
    seen = preview_thresholds(session, brand_id, thresholds, current, indexed, current_scorer())
    changes = thresholds != brand_thresholds(brand)
    return LinkingPreview(
        auto_approve_threshold=after.auto_approve_threshold,
        link_floor=after.link_floor,
        require_print_evidence=after.require_print_evidence,
        own_print_auto_approve=after.own_print_auto_approve,
        placements=seen.placements,
        would_approve=seen.would_approve,
        would_withdraw=seen.would_withdraw,
        stay_approved=seen.stay_approved,
        stay_for_review=seen.stay_for_review,
        not_previewed=seen.not_previewed,
        other_index=seen.other_index,
        catalog_pending=catalog_work_pending(session, brand_id),
        queues_job=changes and catalog_has_images(session, brand_id),
        would_approve_ids=seen.approve_ids,
        would_withdraw_ids=seen.withdraw_ids,
    )


_RESPONSES: dict[int | str, dict[str, object]] = {
    400: {"description": "forged, expired or used state; bad signature; the provider refused the code"},
    409: {"description": "the account or shop is already another brand's"},
    502: {"description": "the provider could not be reached for the code exchange"},
    503: {"description": "the provider's platform credentials are not configured"},
}

start = APIRouter(prefix="/v1/brands/me/providers", tags=["brands"])
callbacks = APIRouter(prefix="/oauth", tags=["brands"])
operator = APIRouter(prefix="/v1/admin/brands/{brand_id}/providers", tags=["admin"])


@start.get("/stripe/connect", response_model=ConnectUrl, responses=_RESPONSES)
def stripe_connect(
    brand_id: BrandIdDep, session: SessionDep, settings: SettingsDep, commerce: CommerceDep
) -> ConnectUrl:
    """Stripe Connect's authorize page for this brand; Stripe returns the owner to /oauth/stripe/callback."""
    begun = oauth.begin_stripe_connect(brands.get_brand(session, brand_id), settings, commerce)
    return ConnectUrl(url=begun.url, expires_at=begun.expires_at)


@start.get("/shopify/install", response_model=ConnectUrl, responses=_RESPONSES)
def shopify_install(
    shop: Annotated[ShopDomain, Query(description="The shop to install into, name.myshopify.com")],
    brand_id: BrandIdDep,
    session: SessionDep,
    settings: SettingsDep,
    commerce: CommerceDep,
) -> ConnectUrl:
    """The shop's app install page; Shopify returns the owner to /oauth/shopify/callback."""
    begun = oauth.begin_shopify_install(brands.get_brand(session, brand_id), shop, settings, commerce)
    return ConnectUrl(url=begun.url, expires_at=begun.expires_at)


@callbacks.get("/stripe/callback", response_model=BrandMe, responses=_RESPONSES)
def stripe_callback(
    session: SessionDep,
    settings: SettingsDep,
    commerce: CommerceDep,
    state: Annotated[str, Query(max_length=1000)] = "",
    code: Annotated[str | None, Query(max_length=500)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
    error_description: Annotated[str | None, Query(max_length=1000)] = None,
) -> BrandMe:
    claim = oauth.consume_state(
        session, settings.secret_key.get_secret_value(), state, CheckoutProviderName.STRIPE
    )
    session.commit()  # spent before the exchange: a state never serves twice, whatever Stripe says
    declined = None if error is None else (error_description or error)
    brand = oauth.finish_stripe_connect(session, claim, commerce, code, declined=declined)
    session.commit()
    return brands.brand_me(brand)


@callbacks.get("/shopify/callback", response_model=BrandMe, responses=_RESPONSES)
def shopify_callback(
    request: Request, session: SessionDep, settings: SettingsDep, commerce: CommerceDep
) -> BrandMe:
    # The whole query is signed (hmac, shop, code, state, timestamp, host…), so it is read as sent.
    claim, shop, code = oauth.verify_shopify_callback(
        session, request.query_params.multi_items(), settings, commerce
    )
    session.commit()
    brand = oauth.finish_shopify_install(session, claim, shop, code, commerce)
    session.commit()
    return brands.brand_me(brand)


@operator.put("/stripe", response_model=BrandMe)
def operator_bind_stripe(
    brand_id: uuid.UUID, body: StripeConnect, _operator: OperatorDep, session: SessionDep
) -> BrandMe:
    """Bind an account the operator vouches for (one connected before OAuth, or by support)."""
    brand = brands.bind_stripe_account(session, brands.get_brand(session, brand_id), body.account_id)
    session.commit()
    return brands.brand_me(brand)


@operator.put("/shopify", response_model=BrandMe)
def operator_bind_shopify(
    brand_id: uuid.UUID,
    body: ShopifyConnect,
    _operator: OperatorDep,
    session: SessionDep,
    commerce: CommerceDep,
) -> BrandMe:
    """Bind a shop and tokens the operator vouches for (an install made before the OAuth flow)."""
    brand = brands.bind_shopify_shop(
        session,
        brands.get_brand(session, brand_id),
        body.shop_domain,
        body.access_token,
        body.storefront_token,
        token_cipher(commerce),
    )
    session.commit()
    return brands.brand_me(brand)


router = APIRouter()
for _part in (me, start, callbacks, operator):
    router.include_router(_part)
