// @ts-check
// ReelCart overlay SDK: tap-to-buy hotspots over any <video>. No dependencies, no build step; types.d.ts.
import {
  parseTimeline, interpolateBox, renderedRect, parseObjectPosition, boxToRect, activeHotspots, defaultVariant, formatPrice,
} from './timeline-math.js';

/** @typedef {import('./types').Timeline} Timeline */
/** @typedef {import('./types').Placement} Placement */

const CSS = `.rc-layer{position:absolute;overflow:hidden;pointer-events:none;z-index:2}
.rc-hs{position:absolute;left:0;top:0;width:44px;height:44px;margin:-22px;padding:0;border:0;background:none;cursor:pointer;pointer-events:auto}
.rc-hs:before{content:"";position:absolute;inset:13px;border-radius:50%;background:#fff;box-shadow:0 0 0 3px #ff4060,0 1px 4px #0008;animation:rc-p 1.6s infinite}
.rc-hs span{position:absolute;bottom:40px;left:50%;transform:translateX(-50%);max-width:160px;padding:2px 8px;border-radius:9px;background:#000c;color:#fff;font:600 12px system-ui;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.rc-hs:focus-visible{outline:3px solid #fd0;border-radius:50%}
.rc-sheet{position:absolute;inset:auto 0 0;max-height:85%;overflow:auto;box-sizing:border-box;padding:16px;border-radius:16px 16px 0 0;background:#fff;color:#111;color-scheme:light;font:15px system-ui;pointer-events:auto;animation:rc-u .2s}
.rc-sheet img{width:96px;height:96px;object-fit:contain;float:left;margin-right:12px}
.rc-sheet h2{font-size:17px;margin:0}.rc-sheet select,.rc-sheet a{display:block;margin:8px 0}
.rc-buy{clear:both;width:100%;min-height:44px;border:0;border-radius:10px;background:#ff4060;color:#fff;font:700 16px system-ui}
.rc-buy:disabled{opacity:.5}.rc-x{float:right;min-width:44px;min-height:44px;border:0;background:none;color:inherit;font-size:22px}
@keyframes rc-p{50%{transform:scale(1.25)}}@keyframes rc-u{from{transform:translateY(100%)}}
@media (prefers-reduced-motion:reduce){.rc-hs:before,.rc-sheet{animation:none}}`;

/** @type {Map<string, {etag: string, timeline: Timeline}>} by URL, so refetches can get a 304 */
const cache = new Map();
/** @type {Promise<import('./types').StripeFactory> | null} */
let stripeLoad = null;
let styleUsers = 0;

// Stripe.js loads once, and only when a Stripe checkout actually starts.
/** @param {string} src */
function loadStripe(src) {
  const w = /** @type {any} */ (window);
  stripeLoad ??= new Promise((resolve, reject) => {
    if (w.Stripe) return resolve(w.Stripe);
    const s = document.createElement('script');
    s.src = src;
    s.onload = () => (w.Stripe ? resolve(w.Stripe) : reject(new Error('no window.Stripe')));
    s.onerror = () => {
      s.remove();
      stripeLoad = null;
      reject(new Error(`Stripe.js failed to load from ${src}`));
    };
    document.head.append(s);
  });
  return stripeLoad;
}

// randomUUID needs a secure context; a click id only has to be unique, not secret.
const newClickId = () => crypto.randomUUID?.() ?? Date.now().toString(36) + Math.random().toString(36).slice(2);

/** @type {import('./types').El} */
const el = (tag, attrs = {}, text) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
};

// Never throws: a missing or broken timeline leaves the video alone.
/** @type {import('./types').Attach} */
export const attach = (video, options) => {
  const api = options.apiBase.replace(/\/$/, '');
  const limit = options.maxHotspots ?? 3;
  const report = options.onError ?? ((/** @type {unknown} */ e) => console.warn('[reelcart]', e));
  const parent = /** @type {HTMLElement} */ (video.parentElement);
  const layer = el('div', { class: 'rc-layer', 'data-reelcart-overlay': '' });
  /** @type {Map<string, HTMLButtonElement>} */
  const buttons = new Map();
  /** @type {Map<string, number>} impression timers of hotspots on screen */
  const shown = new Map();
  const impressed = new Set();
  /** @type {object[]} */
  let queue = [];
  /** @type {Timeline | null} */
  let timeline = null;
  let layout = { w: 0, h: 0, rect: { x: 0, y: 0, width: 0, height: 0 } };
  let dirty = true;
  let frameId = 0;
  let rafId = 0;
  let lastT = 0;
  let live = true;
  /** @type {import('./types').Sheet | null} */
  let sheet = null;
  const aborter = new AbortController();
  const savedPosition = parent.style.position;
  if (getComputedStyle(parent).position === 'static') parent.style.position = 'relative';
  if (!styleUsers++) document.head.append(el('style', { id: 'reelcart-style' }, CSS));
  video.after(layer);

  /** @param {string} type @param {string} placementId @param {string} [clickId] */
  function track(type, placementId, clickId) {
    queue.push({
      type, episode_id: options.episodeId, placement_id: placementId, ...(clickId ? { click_id: clickId } : {}),
      t_ms: Math.round(video.currentTime * 1000), ts: new Date().toISOString(),
    });
    if (queue.length >= 20) flush();
  }

  function flush() {
    if (!queue.length) return;
    const body = JSON.stringify({ events: queue });
    queue = [];
    const url = `${api}/v1/events`;
    try {
      if (navigator.sendBeacon?.(url, new Blob([body], { type: 'application/json' }))) return;
    } catch { /* fetch below */ }
    fetch(url, { method: 'POST', body, keepalive: true, headers: { 'Content-Type': 'application/json' } }).catch(report);
  }
  const flushTimer = setInterval(flush, options.flushMs ?? 5000);
  const onHide = () => document.visibilityState === 'hidden' && flush();

  function measure() {
    const w = video.offsetWidth;
    const h = video.offsetHeight;
    const style = getComputedStyle(video);
    layer.style.cssText = `left:${video.offsetLeft}px;top:${video.offsetTop}px;width:${w}px;height:${h}px`;
    // A fullscreen <video> hides its siblings; integrators fullscreen the container instead.
    layer.hidden = document.fullscreenElement === video;
    const mw = video.videoWidth || timeline?.episode.width || 0;
    const mh = video.videoHeight || timeline?.episode.height || 0;
    const fit = /** @type {import('./types').ObjectFit} */ (style.objectFit || 'contain');
    layout = { w, h, rect: renderedRect(w, h, mw, mh, fit, parseObjectPosition(style.objectPosition)) };
    dirty = false;
  }

  /** @param {number} tMs */
  function render(tMs) {
    lastT = tMs;
    if (!timeline || !live) return;
    if (dirty) measure();
    const inset = options.controlsInset ?? (video.controls ? 64 : 0);
    const dpr = window.devicePixelRatio || 1;
    const snap = (/** @type {number} */ v) => Math.round(v * dpr) / dpr;
    const seen = new Set();
    for (const p of activeHotspots(timeline.placements, tMs, limit)) {
      const r = boxToRect(interpolateBox(p.keyframes, tMs), layout.rect, layout.w, layout.h);
      if (!r) continue;
      seen.add(p.id);
      const x = snap(r.x + r.width / 2);
      // Keep the dot (and its 44px target) above the native control bar.
      const y = snap(Math.min(r.y + r.height / 2, layout.h - inset - 22));
      const button = buttons.get(p.id) ?? addButton(p);
      button.style.transform = `translate(${x}px,${y}px)`;
    }
    for (const [id, button] of buttons) {
      if (seen.has(id)) continue;
      button.remove();
      buttons.delete(id);
      clearTimeout(shown.get(id));
      shown.delete(id);
    }
  }

  /** @param {Placement} p @returns {HTMLButtonElement} */
  function addButton(p) {
    const v = defaultVariant(p.product);
    const button = el('button', {
      type: 'button', class: 'rc-hs', 'data-reelcart-hotspot': p.id,
      'aria-label': `Buy: ${p.product.title}, ${formatPrice(v.price, v.currency, options.locale)}`,
    });
    button.append(el('span', { 'aria-hidden': 'true' }, p.product.title));
    button.addEventListener('click', () => openSheet(p, button));
    // Insert in start order without moving others: Tab follows time and focus survives.
    const order = /** @type {Timeline} */ (timeline).placements;
    const next = [...buttons.entries()].find(([id]) => order.findIndex((q) => q.id === id) > order.indexOf(p));
    layer.insertBefore(button, next ? next[1] : (sheet?.node ?? null));
    buttons.set(p.id, button);
    if (!impressed.has(p.id)) {
      shown.set(p.id, window.setTimeout(() => {
        impressed.add(p.id);
        track('hotspot_impression', p.id);
      }, 1000));
    }
    return button;
  }

  /** @param {Placement} p @param {HTMLElement} from */
  function openSheet(p, from) {
    closeSheet(false);
    track('hotspot_tap', p.id);
    track('sheet_open', p.id);
    const product = p.product;
    let variant = defaultVariant(product);
    const node = el('div', { class: 'rc-sheet', role: 'dialog', 'aria-modal': 'true', 'aria-label': product.title, 'data-reelcart-sheet': p.id });
    const close = el('button', { type: 'button', class: 'rc-x', 'aria-label': 'Close' }, '×');
    close.addEventListener('click', () => closeSheet(true));
    node.append(close);
    if (product.image_url) node.append(el('img', { src: product.image_url, alt: '' }));
    node.append(el('p', {}, product.brand), el('h2', {}, product.title));
    const price = el('p', { class: 'rc-price' });
    const buy = el('button', { type: 'button', class: 'rc-buy', 'data-reelcart-buy': '' });
    const showVariant = () => {
      const text = formatPrice(variant.price, variant.currency, options.locale);
      price.textContent = text;
      buy.textContent = variant.available ? `Buy · ${text}` : 'Sold out';
      buy.disabled = !variant.available;
    };
    node.append(price);
    if (product.variants.length > 1) {
      const select = el('select', { 'aria-label': 'Variant' });
      for (const v of product.variants) {
        const option = el('option', { value: v.id }, v.available ? v.title : `${v.title} (sold out)`);
        option.selected = v === variant;
        select.append(option);
      }
      select.addEventListener('change', () => {
        variant = product.variants.find((v) => v.id === select.value) ?? variant;
        showVariant();
      });
      node.append(select);
    }
    const status = el('p', { role: 'status' });
    const pay = el('div');
    buy.addEventListener('click', () => checkout(p, variant, buy, status, pay));
    node.append(buy, status, pay);
    // Escape closes; Tab cycles inside the sheet, as a modal dialog should.
    node.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') closeSheet(true);
      if (e.key !== 'Tab') return;
      const stops = node.querySelectorAll('button:not([disabled]),select,a');
      if (document.activeElement === stops[e.shiftKey ? 0 : stops.length - 1]) {
        e.preventDefault();
        /** @type {HTMLElement} */ (stops[e.shiftKey ? stops.length - 1 : 0]).focus();
      }
    });
    showVariant();
    sheet = { node, wasPlaying: !video.paused && !video.ended, from };
    video.pause();
    layer.append(node);
    (buy.disabled ? close : buy).focus();
  }

  /** @param {boolean} resume */
  function closeSheet(resume) {
    if (!sheet) return;
    const { node, wasPlaying, from, stripe } = sheet;
    sheet = null;
    stripe?.destroy();
    node.remove();
    if (from.isConnected) from.focus();
    if (resume && wasPlaying) video.play().catch(report);
  }

  /** @type {import('./types').Checkout} */
  const checkout = async (p, variant, buy, status, pay) => {
    const clickId = newClickId();
    const current = sheet;
    // Only a window opened synchronously inside the tap escapes popup blockers everywhere.
    const tab = options.provider === 'shopify' ? window.open('', '_blank') : null;
    track('checkout_started', p.id, clickId);
    flush();
    buy.disabled = true;
    status.textContent = 'Starting checkout…';
    try {
      const res = await fetch(`${api}/v1/checkout`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, signal: aborter.signal,
        body: JSON.stringify({
          placement_id: p.id, variant_id: variant.id, quantity: 1, click_id: clickId,
          ...(options.provider ? { provider: options.provider } : {}),
        }),
      });
      if (!res.ok) throw new Error(`checkout: HTTP ${res.status}`);
      /** @type {import('./types').CheckoutSession} */
      const session = await res.json();
      if (session.provider === 'stripe' && session.client_secret && session.publishable_key) {
        try {
          const Stripe = await loadStripe(options.stripeJsUrl ?? 'https://js.stripe.com/v3/');
          const secret = session.client_secret;
          const embedded = await Stripe(session.publishable_key, session.stripe_account ? { stripeAccount: session.stripe_account } : void 0).initEmbeddedCheckout({ fetchClientSecret: async () => secret });
          if (sheet !== current || !current) return embedded.destroy();
          current.stripe = embedded;
          embedded.mount(pay);
          tab?.close();
          status.textContent = '';
          buy.hidden = true;
          return;
        } catch (error) {
          if (!session.url) throw error;
          report(error);
        }
      }
      if (!session.url) throw new Error('checkout session without secret or URL');
      openCheckoutUrl(session.url, tab, status);
    } catch (error) {
      tab?.close();
      status.textContent = 'Checkout could not start. Please try again.';
      report(error);
    } finally {
      buy.disabled = !variant.available;
    }
  };

  /** @param {string} url @param {Window | null} tab @param {HTMLElement} status */
  function openCheckoutUrl(url, tab, status) {
    const win = tab ?? window.open(url, '_blank');
    if (win) {
      win.opener = null;
      if (tab) tab.location.href = url;
    }
    status.textContent = win ? 'Checkout opened in a new tab.' : 'Continue to checkout:';
    // Fallback if a blocker ate the tab: tapping a link is its own user gesture.
    status.append(el('a', { href: url, target: '_blank', rel: 'noopener' }, 'Open checkout'));
  }

  async function refresh() {
    const url = `${api}/v1/episodes/${encodeURIComponent(options.episodeId)}/timeline`;
    try {
      const known = cache.get(url);
      const res = await fetch(url, { headers: known ? { 'If-None-Match': known.etag } : {}, signal: aborter.signal });
      if (res.status === 304 && known) timeline = known.timeline;
      else if (!res.ok) throw new Error(`timeline: HTTP ${res.status}`);
      else {
        const parsed = parseTimeline(await res.json());
        if (!parsed) throw new Error('timeline: malformed');
        timeline = parsed;
        const etag = res.headers.get('ETag');
        if (etag) cache.set(url, { etag, timeline });
      }
      dirty = true;
      render(video.currentTime * 1000);
    } catch (error) {
      if (live) report(error);
    }
  }

  const hasFrameCallback = 'requestVideoFrameCallback' in video;
  /** @type {VideoFrameRequestCallback} */
  const onFrame = (_now, meta) => {
    render(meta.mediaTime * 1000);
    frameId = video.requestVideoFrameCallback(onFrame);
  };
  const onRaf = () => {
    render(video.currentTime * 1000);
    rafId = video.paused ? 0 : requestAnimationFrame(onRaf);
  };
  const onTime = () => {
    if (!hasFrameCallback && !rafId) onRaf();
    else if (video.paused) render(video.currentTime * 1000);
  };
  const onResize = () => {
    dirty = true;
    render(lastT);
  };
  const observer = new ResizeObserver(onResize);
  observer.observe(video);
  // One signal removes every listener on detach.
  /** @type {(target: EventTarget, types: string, fn: () => void) => void} */
  const on = (target, types, fn) => {
    for (const type of types.split(' ')) target.addEventListener(type, fn, { signal: aborter.signal });
  };
  on(video, 'timeupdate seeked play loadeddata', onTime);
  on(video, 'loadedmetadata', onResize);
  on(window, 'resize', onResize);
  on(document, 'fullscreenchange', onResize);
  on(document, 'visibilitychange', onHide);
  on(window, 'pagehide', flush);
  if (hasFrameCallback) frameId = video.requestVideoFrameCallback(onFrame);
  refresh();

  return {
    refresh,
    get timeline() {
      return timeline;
    },
    detach() {
      if (!live) return;
      live = false;
      aborter.abort();
      closeSheet(false);
      flush();
      clearInterval(flushTimer);
      for (const t of shown.values()) clearTimeout(t);
      if (hasFrameCallback) video.cancelVideoFrameCallback(frameId);
      cancelAnimationFrame(rafId);
      observer.disconnect();
      layer.remove();
      parent.style.position = savedPosition;
      if (!--styleUsers) document.getElementById('reelcart-style')?.remove();
    },
  };
};

export const ReelCart = { attach };
