// Types of the ReelCart overlay SDK and its timeline contract. The .js files reference these through JSDoc
// (`tsc --checkJs` enforces them) so that the bytes a player downloads carry code, not documentation: the
// SDK's comments live here too (the 8 KB gzipped budget counts every byte of reelcart-overlay.js and
// timeline-math.js, comments included; see "How the SDK works" at the end).

/** Normalized [x, y, w, h] in the video frame: 0..1, top-left origin, display orientation. */
export type Box = [number, number, number, number];
export interface Keyframe { t_ms: number; box: Box }
export interface Variant { id: string; sku: string; title: string; price: string; currency: string; available: boolean }
export interface Product { id: string; title: string; brand: string; image_url: string | null; variants: Variant[] }
export interface Placement {
  id: string; start_ms: number; end_ms: number; label: string; keyframes: Keyframe[]; product: Product;
}
export interface Episode { id: string; duration_ms: number; width: number; height: number }
/** Body of `GET /v1/episodes/{id}/timeline`. */
export interface Timeline { version: 1; episode: Episode; placements: Placement[] }
export interface Rect { x: number; y: number; width: number; height: number }
export type ObjectFit = 'contain' | 'cover' | 'fill' | 'none' | 'scale-down';

/**
 * Validate an untrusted timeline body: null when the envelope is unusable; invalid placements are dropped,
 * placements sorted by start time and keyframes by time. A placement is drawable when its span is positive,
 * every keyframe box has area inside the frame (boxes from the tagger are rounded, so 1e-3 of spill past an
 * edge is allowed) and its product has valid variants; anything else is skipped, not fatal.
 */
export type ParseTimeline = (raw: unknown) => Timeline | null;
/**
 * The box at tMs: linear between surrounding keyframes, held before the first and after the last. Tracks can
 * carry a keyframe per frame, so the surrounding pair is found by binary search: per-frame work stays flat.
 */
export type InterpolateBox = (keyframes: Keyframe[], tMs: number) => Box;
/**
 * Where the picture is drawn inside an element box per CSS object-fit and object-position (fractions);
 * with cover the rectangle overflows the element and is clipped.
 */
export type RenderedRect = (
  elementW: number, elementH: number, mediaW: number, mediaH: number, fit?: ObjectFit, position?: [number, number],
) => Rect;
/**
 * A computed object-position ("50% 0%") as fractions; pixel offsets fall back to centre. Computed styles turn
 * keywords into percentages, so only percentages need reading.
 */
export type ParseObjectPosition = (value: string) => [number, number];
/** A normalized box mapped onto the element and clipped to its visible part; null when none is visible. */
export type BoxToRect = (box: Box, rendered: Rect, elementW: number, elementH: number) => Rect | null;
/** A placement on screen: where its visible part is (element pixels) and how prominent it is. */
export interface Hotspot { p: Placement; r: Rect; score: number }
/**
 * The at most `limit` most prominent placements on screen at tMs (start inclusive, end exclusive), most
 * prominent first. Prominence = the box's visible share (a box the fit crops in half counts half) x its
 * visible area x closeness to the element's centre (1 at the centre, 0.29 in a corner), halved when its
 * visible part touches the element's edge (a product the frame cuts); placements in `shown` (on screen
 * last frame) get x1.25, so near-ties do not flicker. Ties keep start order. Scores compare within a frame.
 * The timeline carries no detector confidence, so confidence does not enter. A product gets one dot, its
 * most prominent placement's: a shelf row of one carton is several placements of one product, and a
 * second dot would sell the same thing in a slot another product could use.
 */
export type PickHotspots = (
  placements: Placement[], tMs: number, rendered: Rect, elementW: number, elementH: number, limit: number,
  shown: { has(id: string): boolean },
) => Hotspot[];
/** A dot at (x, y) and its label's natural size, element pixels. */
export interface LabelItem { x: number; y: number; width: number; height: number }
/**
 * Where each dot's label goes, in the order given (most prominent first, so it gets the best spot): centred
 * above the dot, else below, right, left; slid sideways to stay `pad` inside the element (and as wide as the
 * element allows). A spot is taken only if it is inside the element and overlaps no label placed before and
 * no dot (a 24 px square); a label with no such spot is null (the dot stays, unlabelled).
 */
export type LayoutLabels = (items: LabelItem[], elementW: number, elementH: number, pad?: number) => (Rect | null)[];
/** The `type` and `retryable` members of a problem+json body (RFC 9457) from `POST /v1/checkout`. */
export interface Problem { type?: string; retryable?: boolean }
/**
 * What the sheet tells the shopper when checkout failed (the README's table): sold out, no longer for sale,
 * the shop not taking orders (nothing connected or configured, or a provider refusal that `retryable: false`
 * says will not change), a provider outage worth retrying, or (anything else) a generic retry.
 */
export type CheckoutFailure = (problem: Problem) => string;
/** The variant a sheet preselects: the first in stock, else the first. */
export type DefaultVariant = (product: Product) => Variant;
/**
 * A variant's decimal price for a locale, e.g. ({price: "4.99", currency: "EUR"}, "de-DE") -> "4,99 €",
 * ({price: "1249.50", currency: "SEK"}, "sv-SE") -> "1 249,50 kr". Given a list, the first tag Intl accepts
 * wins (invalid tags are skipped, not fatal), then the runtime's default; an unknown currency degrades to
 * "4.99 XXX".
 */
export type FormatPrice = (variant: Pick<Variant, 'price' | 'currency'>, locales?: string | string[]) => string;

export interface AttachOptions {
  /** Origin and prefix of the ReelCart API, e.g. "https://api.example" or "" for same origin. */
  apiBase: string;
  episodeId: string;
  /** Locale(s) for prices; by default the shopper's (`navigator.languages`), then the page's `<html lang>`. */
  locale?: string | string[];
  /** At most this many hotspots at once (3). */
  maxHotspots?: number;
  /** Pixels at the bottom of the video kept clear for player controls (64 when `video.controls`, else 0). */
  controlsInset?: number;
  /** Sent with checkout; "shopify" also opens the checkout tab synchronously inside the tap. */
  provider?: 'stripe' | 'shopify';
  /** Where Stripe.js loads from, only once a Stripe checkout starts ("https://js.stripe.com/v3/"). */
  stripeJsUrl?: string;
  /** How often queued analytics events are sent with sendBeacon (5000 ms). */
  flushMs?: number;
  /** Failures land here (console.warn by default); nothing is ever thrown to the page. A failed checkout
   * arrives as an Error carrying the problem+json members (`status`, `type`, `detail`, `retryable`). */
  onError?: (error: unknown) => void;
  /** Called with each timeline put in place (first load and every refresh), before it is drawn. */
  onTimeline?: (timeline: Timeline) => void;
}

export interface OverlayHandle {
  /** Remove every hotspot, listener and timer; flush pending analytics. */
  detach(): void;
  /** Refetch the timeline (If-None-Match with the last ETag), e.g. after a brand approved a placement. */
  refresh(): Promise<void>;
  readonly timeline: Timeline | null;
}
export type Attach = (video: HTMLVideoElement, options: AttachOptions) => OverlayHandle;

/** Body of `201 POST /v1/checkout`. */
export interface CheckoutSession {
  checkout_session_id: string;
  provider: 'stripe' | 'shopify';
  client_secret: string | null;
  publishable_key: string | null;
  /** Stripe Connect account the session lives on; passed to Stripe.js as `stripeAccount`. */
  stripe_account?: string | null;
  url: string | null;
}
export interface EmbeddedCheckout { mount(el: Element): void; destroy(): void }
export type StripeFactory = (key: string, options?: { stripeAccount: string }) => {
  initEmbeddedCheckout(o: { fetchClientSecret: () => Promise<string> }): Promise<EmbeddedCheckout>;
};

// Internal to the SDK, kept here so the shipped file stays small.
export type El = <K extends keyof HTMLElementTagNameMap>(
  tag: K, attrs?: Record<string, string>, ...children: (Node | string)[]
) => HTMLElementTagNameMap[K];
export interface Sheet { node: HTMLElement; wasPlaying: boolean; from: HTMLElement; stripe?: { destroy(): void }; busy?: boolean }

/*
 * How the SDK works (reelcart-overlay.js), the notes its shipped bytes leave out:
 *
 * - attach() never throws: a missing or broken timeline leaves the video alone; failures go to onError.
 * - The layer is a sibling of the <video>. A fullscreen <video> hides its siblings, so the layer hides then
 *   and integrators fullscreen the container instead.
 * - Each frame (requestVideoFrameCallback, else requestAnimationFrame while playing): pickHotspots ranks what
 *   is on screen by prominence, the dots go on the centres of the visible boxes (lifted above the native
 *   control bar: `controlsInset`), and layoutLabels places the labels, most prominent first. Each label's
 *   natural size is measured when its hotspot is created (or updated by a new timeline), so frames only write
 *   transforms.
 * - New hotspots are inserted in start order without moving the others: Tab follows time, and focus on a
 *   hotspot survives other hotspots coming and going.
 * - An impression is counted after a hotspot has been on screen for 1 s, once per placement.
 * - The sheet is a modal dialog: it takes focus itself (its product name is announced), a document-level
 *   keydown handler keeps Tab and Shift+Tab cycling through its enabled, visible controls (even when focus
 *   was lost to the page), Escape closes it, and closing returns focus to the hotspot and resumes playback.
 * - Checkout: a tab for Shopify is opened synchronously inside the tap, as only such a window escapes popup
 *   blockers everywhere; the sheet also shows the checkout link, since tapping a link is its own gesture if a
 *   blocker ate the tab. Stripe.js loads once, and only when a Stripe checkout actually starts. A failed
 *   checkout shows checkoutFailure's sentence for the server's problem `type` / `retryable`; a sold-out
 *   answer also marks the variant sold out in the sheet.
 * - Click ids come from crypto.randomUUID where the page is a secure context, else time + random: a click
 *   id only has to be unique, not secret.
 * - Timelines are cached by URL with their ETag, so refresh() revalidates (304) instead of refetching.
 * - A refresh that brings a new timeline updates the hotspots on screen in place (label, price, what Buy
 *   sends; focus and impressions kept) and re-opens an open sheet with the new data, unless Buy was pressed in
 *   it (a checkout under way, or its tab, link or embedded Stripe page, stays as it is).
 * - One AbortController signal removes every listener and cancels pending fetches on detach().
 */
