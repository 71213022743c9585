import * as math from './timeline-math.js';

/** @typedef {import('./types').Timeline} Timeline @typedef {import('./types').Placement} Placement */
/** @typedef {[HTMLButtonElement, number, number, Placement]} Spot */

const CSS = `.rc-layer{position:absolute;overflow:hidden;pointer-events:none;z-index:2}
.rc-hs{position:absolute;left:0;top:0;width:44px;height:44px;margin:-22px;padding:0;border:0;background:none;cursor:pointer;pointer-events:auto}
.rc-hs:before{content:"";position:absolute;inset:13px;border-radius:50%;background:#fff;box-shadow:0 0 0 3px #ff4060,0 1px 4px #0008;animation:rc-p 1.6s infinite}
.rc-hs span{position:absolute;left:0;top:0;max-width:160px;box-sizing:border-box;padding:2px 8px;border-radius:9px;background:#000c;color:#fff;font:600 12px system-ui;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.rc-hs:focus-visible{outline:3px solid #fd0;border-radius:50%}
.rc-sheet{position:absolute;inset:auto 0 0;max-height:85%;overflow:auto;box-sizing:border-box;padding:16px;border-radius:16px 16px 0 0;background:#fff;color:#111;color-scheme:light;font:15px system-ui;pointer-events:auto;animation:rc-u .2s}
.rc-sheet img{width:96px;height:96px;object-fit:contain;float:left;margin-right:12px}
.rc-sheet h2{font-size:17px;margin:0}.rc-sheet a{display:block;margin:8px 0}
.rc-sheet select{width:100%;min-height:44px;margin:12px 0;padding:0 8px;border:1px solid #999;border-radius:10px;font:inherit}
.rc-buy{clear:both;width:100%;min-height:44px;border:0;border-radius:10px;background:#ff4060;color:#fff;font:700 16px system-ui}
.rc-buy:disabled{opacity:.5}.rc-x{float:right;min-width:44px;min-height:44px;border:0;background:none;color:inherit;font-size:22px}
.rc-err{padding:8px;border-radius:8px;background:#fde;color:#a01}
@keyframes rc-p{50%{transform:scale(1.25)}}@keyframes rc-u{from{transform:translateY(100%)}}
@media (prefers-reduced-motion:reduce){.rc-hs:before,.rc-sheet{animation:none}}`;

/** @type {Map<string, {etag: string, timeline: Timeline}>} */
const cache = new Map();
/** @type {Promise<import('./types').StripeFactory> | null} */
let stripeLoad = null;
let styleUsers = 0;

/** @param {string} src */
const loadStripe = (src) => stripeLoad ??= new Promise((resolve, reject) => {
  const w = /** @type {any} */ (window);
  const s = el('script', { src });
  s.onload = () => (w.Stripe ? resolve(w.Stripe) : reject(new Error('no window.Stripe')));
  s.onerror = () => {
    s.remove();
    stripeLoad = null;
    reject(new Error(`Stripe.js failed to load from ${src}`));
  };
  if (w.Stripe) resolve(w.Stripe);
  else document.head.append(s);
});

/** @type {import('./types').El} */
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
};

/** @type {import('./types').Attach} */
export const attach = (video, options) => {
  const api = options.apiBase.replace(/\/$/, '');
  const limit = options.maxHotspots ?? 3;
  const locale = options.locale ?? [...navigator.languages, document.documentElement.lang];
  const report = options.onError ?? console.warn.bind(console, '[reelcart]');
  const parent = /** @type {HTMLElement} */ (video.parentElement);
  const layer = el('div', { class: 'rc-layer', 'data-reelcart-overlay': '' });
  /** @type {Map<string, Spot>} */
  const buttons = new Map();
  /** @type {Map<string, number>} */
  const shown = new Map();
  const impressed = new Set();
  /** @type {object[]} */
  let queue = [];
  /** @type {Timeline | null} */
  let timeline = null;
  let layout = { w: 0, h: 0, rect: math.renderedRect(0, 0, 0, 0) };
  let dirty = true;
  let frameId = 0;
  let rafId = 0;
  let lastT = 0;
  let live = true;
  /** @type {import('./types').Sheet | null} */
  let sheet = null;
  const aborter = new AbortController();
  const position = parent.style.position;
  if (getComputedStyle(parent).position === 'static') parent.style.position = 'relative';
  if (!styleUsers++) document.head.append(el('style', { id: 'reelcart-style' }, CSS));
  video.after(layer);

  /** @param {string} type @param {string} id @param {string} [clickId] */
  function track(type, id, clickId) {
    queue.push({
      type, episode_id: options.episodeId, placement_id: id, click_id: clickId,
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
    } catch { /* fetch */ }
    fetch(url, { method: 'POST', body, keepalive: true, headers: { 'Content-Type': 'application/json' } }).catch(report);
  }
  const flushTimer = setInterval(flush, options.flushMs ?? 5000);

  function measure() {
    const w = video.offsetWidth;
    const h = video.offsetHeight;
    const style = getComputedStyle(video);
    layer.style.cssText = `left:${video.offsetLeft}px;top:${video.offsetTop}px;width:${w}px;height:${h}px`;
    layer.hidden = document.fullscreenElement === video;
    const mw = video.videoWidth || timeline?.episode.width || 0;
    const mh = video.videoHeight || timeline?.episode.height || 0;
    const fit = /** @type {import('./types').ObjectFit} */ (style.objectFit);
    layout = { w, h, rect: math.renderedRect(w, h, mw, mh, fit, math.parseObjectPosition(style.objectPosition)) };
    dirty = false;
  }

  function render(tMs = video.currentTime * 1000) {
    lastT = tMs;
    if (!timeline || !live) return;
    if (dirty) measure();
    if (layer.hidden) return;
    const { w, h, rect } = layout;
    const bottom = h - (options.controlsInset ?? (video.controls ? 64 : 0));
    const snap = (/** @type {number} */ v) => Math.round(v * devicePixelRatio) / devicePixelRatio;
    const dots = math.pickHotspots(timeline.placements, tMs, rect, w, h, limit, buttons).map(({ p, r }) => {
      const b = buttons.get(p.id);
      const [button, width, height] = b?.[3] == p ? b : addButton(p, b?.[0]);
      return { button, x: snap(r.x + r.width / 2), y: snap(Math.min(r.y + r.height / 2, bottom - 22)), width, height };
    });
    const labels = math.layoutLabels(dots, w, bottom);
    const seen = new Set(dots.map(({ button, x, y }, i) => {
      const label = labels[i];
      button.style.transform = `translate(${x}px,${y}px)`;
      /** @type {HTMLElement} */ (button.firstChild).style.cssText = label
        ? `transform:translate(${snap(label.x - x + 22)}px,${snap(label.y - y + 22)}px);max-width:${label.width}px`
        : 'visibility:hidden';
      return button;
    }));
    for (const [id, [button]] of buttons) {
      if (seen.has(button)) continue;
      button.remove();
      buttons.delete(id);
      clearTimeout(shown.get(id));
      shown.delete(id);
    }
  }

  /** @param {Placement} p @param {HTMLButtonElement} [button] updated in place (focus, impression timer kept) @returns {Spot} */
  function addButton(p, button = el('button', { type: 'button', class: 'rc-hs', 'data-reelcart-hotspot': p.id })) {
    const label = el('span', {}, p.product.title);
    button.setAttribute('aria-label', `Buy: ${p.product.title}, ${math.formatPrice(math.defaultVariant(p.product), locale)}`);
    button.replaceChildren(label);
    button.onclick = () => {
      track('hotspot_tap', p.id);
      track('sheet_open', p.id);
      openSheet(p, button);
    };
    if (!button.parentNode) {
      const order = /** @type {Timeline} */ (timeline).placements;
      const next = [...buttons].find(([id]) => order.findIndex((q) => q.id === id) > order.indexOf(p));
      layer.insertBefore(button, next?.[1][0] ?? sheet?.node ?? null);
      if (!impressed.has(p.id)) {
        shown.set(p.id, setTimeout(() => {
          impressed.add(p.id);
          track('hotspot_impression', p.id);
        }, 1000));
      }
    } else if (sheet?.from == button && !sheet.busy) {
      openSheet(p, button, sheet.wasPlaying, sheet.node.querySelector('select')?.value);
    }
    return /** @type {Spot} */ (buttons.set(p.id, [button, label.offsetWidth + 1, label.offsetHeight, p]).get(p.id));
  }

  /** @param {Placement} p @param {HTMLElement} from */
  function openSheet(p, from, wasPlaying = !video.paused && !video.ended, pick = '') {
    closeSheet();
    const { title, brand, image_url, variants } = p.product;
    let variant = variants.find((v) => v.id === pick) ?? math.defaultVariant(p.product);
    const node = el('div', {
      class: 'rc-sheet', role: 'dialog', 'aria-modal': 'true', 'aria-label': title, tabindex: '-1', 'data-reelcart-sheet': p.id,
    });
    const close = el('button', { type: 'button', class: 'rc-x', 'aria-label': 'Close' }, '×');
    const cost = el('p');
    const select = el('select', { 'aria-label': 'Variant' });
    const buy = el('button', { type: 'button', class: 'rc-buy', 'data-reelcart-buy': '' });
    const status = el('p', { role: 'status' });
    const pay = el('div');
    const showVariant = () => {
      cost.textContent = math.formatPrice(variant, locale);
      buy.textContent = variant.available ? `Buy · ${cost.textContent}` : 'Sold out';
      buy.disabled = !variant.available;
    };
    select.append(...variants.map((v) => el('option', { value: v.id }, v.available ? v.title : `${v.title} (sold out)`)));
    select.value = variant.id;
    select.onchange = () => {
      variant = variants.find((v) => v.id === select.value) ?? variant;
      status.textContent = status.className = '';
      showVariant();
    };
    close.onclick = () => closeSheet(true);
    buy.onclick = async () => {
      const clickId = crypto.randomUUID?.() ?? Date.now().toString(36) + Math.random().toString(36).slice(2);
      const tab = options.provider === 'shopify' ? window.open('', '_blank') : null;
      if (sheet) sheet.busy = true;
      track('checkout_started', p.id, clickId);
      flush();
      buy.disabled = true;
      status.className = '';
      status.textContent = 'Starting checkout…';
      try {
        const res = await fetch(`${api}/v1/checkout`, {
          method: 'POST', headers: { 'Content-Type': 'application/json' }, signal: aborter.signal,
          body: JSON.stringify({
            placement_id: p.id, variant_id: variant.id, quantity: 1, click_id: clickId, provider: options.provider,
          }),
        });
        if (!res.ok) throw Object.assign(new Error(`checkout: HTTP ${res.status}`), await res.json().catch(() => ({})));
        /** @type {import('./types').CheckoutSession} */
        const session = await res.json();
        if (session.provider === 'stripe' && session.client_secret && session.publishable_key) {
          try {
            const Stripe = await loadStripe(options.stripeJsUrl ?? 'https://js.stripe.com/v3/');
            const secret = session.client_secret;
            const embedded = await Stripe(session.publishable_key, session.stripe_account ? { stripeAccount: session.stripe_account } : void 0).initEmbeddedCheckout({ fetchClientSecret: async () => secret });
            if (sheet?.node !== node) return embedded.destroy();
            sheet.stripe = embedded;
            embedded.mount(pay);
            status.textContent = '';
            buy.hidden = true;
            return;
          } catch (error) {
            if (!session.url) throw error;
            report(error);
          }
        }
        if (!session.url) throw new Error('checkout: no secret or URL');
        const win = tab ?? window.open(session.url, '_blank');
        if (win) {
          win.opener = null;
          if (tab) tab.location.href = session.url;
        }
        status.textContent = win ? 'Checkout opened in a new tab.' : 'Continue to checkout:';
        status.append(el('a', { href: session.url, target: '_blank', rel: 'noopener' }, 'Open checkout'));
      } catch (error) {
        tab?.close();
        const problem = /** @type {import('./types').Problem} */ (error);
        if (/variant-unavailable$/.test(problem.type ?? '')) variant.available = false;
        status.className = 'rc-err';
        status.textContent = math.checkoutFailure(problem);
        report(error);
      } finally {
        showVariant();
      }
    };
    node.append(
      close, ...image_url ? [el('img', { src: image_url, alt: '' })] : [], el('p', {}, brand), el('h2', {}, title), cost,
      ...variants[1] ? [select] : [], buy, status, pay,
    );
    showVariant();
    sheet = { node, wasPlaying, from };
    video.pause();
    layer.append(node);
    node.focus();
  }

  /** @param {KeyboardEvent} e */
  const onKey = (e) => {
    if (!sheet) return;
    if (e.key === 'Escape') closeSheet(true);
    if (e.key !== 'Tab') return;
    e.preventDefault();
    const stops = [.../** @type {NodeListOf<HTMLElement>} */ (sheet.node.querySelectorAll('button:enabled:not([hidden]),select,a'))];
    const i = stops.indexOf(/** @type {any} */ (document.activeElement));
    stops.at(e.shiftKey ? (i < 0 ? i : i - 1) : (i + 1) % stops.length)?.focus();
  };

  function closeSheet(resume = false) {
    if (!sheet) return;
    const { node, wasPlaying, from, stripe } = sheet;
    sheet = null;
    stripe?.destroy();
    node.remove();
    if (from.isConnected) from.focus();
    if (resume && wasPlaying) video.play().catch(report);
  }

  async function refresh() {
    const url = `${api}/v1/episodes/${encodeURIComponent(options.episodeId)}/timeline`;
    try {
      const known = cache.get(url);
      const res = await fetch(url, { headers: known ? { 'If-None-Match': known.etag } : {}, signal: aborter.signal });
      if (res.status === 304 && known) timeline = known.timeline;
      else if (!res.ok) throw new Error(`timeline: HTTP ${res.status}`);
      else {
        const parsed = math.parseTimeline(await res.json());
        if (!parsed) throw new Error('timeline: malformed');
        timeline = parsed;
        const etag = res.headers.get('ETag');
        if (etag) cache.set(url, { etag, timeline });
      }
      dirty = true;
      options.onTimeline?.(timeline);
      render();
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
    render();
    rafId = video.paused ? 0 : requestAnimationFrame(onRaf);
  };
  const onTime = () => {
    if (!hasFrameCallback && !rafId) onRaf();
    else if (video.paused) render();
  };
  const onResize = () => {
    dirty = true;
    render(lastT);
  };
  const observer = new ResizeObserver(onResize);
  observer.observe(video);
  /** @type {(target: EventTarget, types: string, fn: (e: any) => void) => void} */
  const on = (target, types, fn) => {
    for (const type of types.split(' ')) target.addEventListener(type, fn, { signal: aborter.signal });
  };
  on(video, 'timeupdate seeked play loadeddata', onTime);
  on(video, 'loadedmetadata', onResize);
  on(window, 'resize', onResize);
  on(document, 'fullscreenchange', onResize);
  on(document, 'visibilitychange', () => document.visibilityState === 'hidden' && flush());
  on(document, 'keydown', onKey);
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
      closeSheet();
      flush();
      clearInterval(flushTimer);
      shown.forEach(clearTimeout);
      video.cancelVideoFrameCallback?.(frameId);
      cancelAnimationFrame(rafId);
      observer.disconnect();
      layer.remove();
      parent.style.position = position;
      if (!--styleUsers) document.getElementById('reelcart-style')?.remove();
    },
  };
};

export const ReelCart = { attach };
