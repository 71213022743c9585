// Types of the ReelCart overlay SDK and its timeline contract. The .js files reference these through JSDoc
// (`tsc --checkJs` enforces them) so that the bytes a player downloads carry code, not documentation.

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
 * placements sorted by start time and keyframes by time.
 */
export type ParseTimeline = (raw: unknown) => Timeline | null;
/** The box at tMs: linear between surrounding keyframes, held before the first and after the last. */
export type InterpolateBox = (keyframes: Keyframe[], tMs: number) => Box;
/**
 * Where the picture is drawn inside an element box per CSS object-fit and object-position (fractions);
 * with cover the rectangle overflows the element and is clipped.
 */
export type RenderedRect = (
  elementW: number, elementH: number, mediaW: number, mediaH: number, fit?: ObjectFit, position?: [number, number],
) => Rect;
/** A computed object-position ("50% 0%") as fractions; pixel offsets fall back to centre. */
export type ParseObjectPosition = (value: string) => [number, number];
/** A normalized box mapped onto the element and clipped to its visible part; null when none is visible. */
export type BoxToRect = (box: Box, rendered: Rect, elementW: number, elementH: number) => Rect | null;
/** Placements on screen at tMs (start inclusive, end exclusive), earliest first, at most `limit`. */
export type ActiveHotspots = (placements: Placement[], tMs: number, limit: number) => Placement[];
/** The variant a sheet preselects: the first in stock, else the first. */
export type DefaultVariant = (product: Product) => Variant;
/** A decimal price string for a locale, e.g. ("4.99", "EUR", "de-DE") -> "4,99 €". */
export type FormatPrice = (price: string, currency: string, locale?: string) => string;

export interface AttachOptions {
  /** Origin and prefix of the ReelCart API, e.g. "https://api.example" or "" for same origin. */
  apiBase: string;
  episodeId: string;
  /** Locale for prices; the browser's by default. */
  locale?: string;
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
  /** Failures land here (console.warn by default); nothing is ever thrown to the page. */
  onError?: (error: unknown) => void;
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
  tag: K, attrs?: Record<string, string>, text?: string,
) => HTMLElementTagNameMap[K];
export interface Sheet { node: HTMLElement; wasPlaying: boolean; from: HTMLElement; stripe?: { destroy(): void } }
export type Checkout = (
  p: Placement, variant: Variant, buy: HTMLButtonElement, status: HTMLElement, pay: HTMLElement,
) => Promise<void>;
