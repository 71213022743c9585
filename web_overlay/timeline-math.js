/** @typedef {import('./types').Box} Box */

const EDGE = 1e-3;
/** @param {unknown} v @returns {v is number} */
const num = (v) => Number.isFinite(v);
/** @param {unknown} v @returns {v is string} */
const str = (v) => typeof v === 'string' && v.length > 0;
/** @param {unknown} v @returns {v is Record<string, any>} */
const obj = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);

/** @param {unknown} k @returns {k is import('./types').Keyframe} */
export const isValidKeyframe = (k) => {
  if (!obj(k) || !num(k.t_ms) || !Array.isArray(k.box) || k.box.length !== 4 || !k.box.every(num)) return false;
  const [x, y, w, h] = k.box;
  return w > 0 && h > 0 && x >= -EDGE && y >= -EDGE && x + w <= 1 + EDGE && y + h <= 1 + EDGE;
};

/** @param {unknown} v */
const isValidVariant = (v) =>
  obj(v) && str(v.id) && typeof v.title === 'string' && str(v.price) && num(+v.price) &&
  /^[A-Z]{3}$/.test(v.currency) && typeof v.available === 'boolean';

/** @param {unknown} p @returns {p is import('./types').Placement} */
export const isValidPlacement = (p) =>
  obj(p) && str(p.id) && num(p.start_ms) && num(p.end_ms) && p.end_ms > p.start_ms &&
  Array.isArray(p.keyframes) && p.keyframes.length > 0 && p.keyframes.every(isValidKeyframe) &&
  obj(p.product) && str(p.product.id) && str(p.product.title) && Array.isArray(p.product.variants) &&
  p.product.variants.length > 0 && p.product.variants.every(isValidVariant);

/** @type {import('./types').ParseTimeline} */
export const parseTimeline = (raw) => {
  if (!obj(raw) || raw.version !== 1 || !obj(raw.episode) || !Array.isArray(raw.placements)) return null;
  const e = raw.episode;
  if (!str(e.id) || !num(e.width) || !num(e.height) || e.width <= 0 || e.height <= 0) return null;
  const placements = raw.placements
    .filter(isValidPlacement)
    .map((p) => ({ ...p, keyframes: [...p.keyframes].sort((a, b) => a.t_ms - b.t_ms) }))
    .sort((a, b) => a.start_ms - b.start_ms || (a.id < b.id ? -1 : 1));
  const episode = { id: e.id, duration_ms: num(e.duration_ms) ? e.duration_ms : 0, width: e.width, height: e.height };
  return { version: 1, episode, placements };
};

/** @type {import('./types').InterpolateBox} */
export const interpolateBox = (keyframes, tMs) => {
  const last = keyframes.length - 1;
  if (tMs <= keyframes[0].t_ms) return keyframes[0].box;
  if (tMs >= keyframes[last].t_ms) return keyframes[last].box;
  let lo = 0;
  let hi = last;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (keyframes[mid].t_ms <= tMs) lo = mid;
    else hi = mid;
  }
  const a = keyframes[lo];
  const b = keyframes[hi];
  const f = (tMs - a.t_ms) / (b.t_ms - a.t_ms);
  return /** @type {Box} */ (a.box.map((v, i) => v + (b.box[i] - v) * f));
};

/** @type {import('./types').RenderedRect} */
export const renderedRect = (w, h, mw, mh, fit = 'contain', position = [0.5, 0.5]) => {
  if (fit === 'fill' || mw <= 0 || mh <= 0) return { x: 0, y: 0, width: w, height: h };
  const contain = Math.min(w / mw, h / mh);
  const scale = fit === 'cover' ? Math.max(w / mw, h / mh)
    : fit === 'none' ? 1 : fit === 'scale-down' ? Math.min(1, contain) : contain;
  const width = mw * scale;
  const height = mh * scale;
  return { x: (w - width) * position[0], y: (h - height) * position[1], width, height };
};

/** @type {import('./types').ParseObjectPosition} */
export const parseObjectPosition = (value) => {
  const [x, y] = (value || '').trim().split(/\s+/).map((p) => (p.endsWith('%') ? parseFloat(p) / 100 : NaN));
  return [num(x) ? x : 0.5, num(y) ? y : 0.5];
};

/** @type {import('./types').BoxToRect} */
export const boxToRect = (box, rendered, w, h) => {
  const x0 = Math.max(0, rendered.x + box[0] * rendered.width);
  const y0 = Math.max(0, rendered.y + box[1] * rendered.height);
  const x1 = Math.min(w, rendered.x + (box[0] + box[2]) * rendered.width);
  const y1 = Math.min(h, rendered.y + (box[1] + box[3]) * rendered.height);
  return x1 > x0 && y1 > y0 ? { x: x0, y: y0, width: x1 - x0, height: y1 - y0 } : null;
};

/** @type {import('./types').PickHotspots} */
export const pickHotspots = (placements, tMs, rendered, w, h, limit, shown) => {
  const out = [];
  for (const p of placements) {
    if (p.start_ms > tMs) break;
    if (p.end_ms <= tMs) continue;
    const box = interpolateBox(p.keyframes, tMs);
    const r = boxToRect(box, rendered, w, h);
    if (!r) continue;
    const area = r.width * r.height;
    const centre = Math.hypot((r.x + r.width / 2) / w - 0.5, (r.y + r.height / 2) / h - 0.5);
    const cut = r.x < 1 || r.y < 1 || r.x + r.width > w - 1 || r.y + r.height > h - 1;
    out.push({ p, r, score: (area * area / box[2] / box[3]) * (1 - centre) / (cut ? 2 : 1) * (shown.has(p.id) ? 1.25 : 1) });
  }
  return out.sort((a, b) => b.score - a.score).filter((o, _, a) => a.find((q) => q.p.product.id == o.p.product.id) == o).slice(0, limit);
};

/** @type {import('./types').LayoutLabels} */
export const layoutLabels = (items, w, h) => {
  const taken = items.map(({ x, y }) => ({ x: x - 12, y: y - 12, width: 24, height: 24 }));
  return items.map(({ x, y, height, ...size }) => {
    const width = Math.min(size.width, w - 8);
    const left = Math.min(Math.max(x - width / 2, 4), w - 4 - width);
    for (const top of [y - 18 - height, y + 18]) {
      const r = { x: left, y: top, width, height };
      if (top >= 4 && top + height <= h - 4 && !taken.some((t) => left < t.x + t.width && t.x < left + width && top < t.y + t.height && t.y < top + height)) {
        taken.push(r);
        return r;
      }
    }
    return null;
  });
};

/** @type {import('./types').CheckoutFailure} */
export const checkoutFailure = ({ type = '', retryable }) =>
  /variant-unavailable$/.test(type) ? 'Sorry, this just sold out.'
    : /(not-found|not-shoppable|not-in-placement)$/.test(type) ? 'This product is no longer for sale.'
      : retryable === false || /(not-connected|not-configured|unreadable|not-synced)$/.test(type)
        ? 'This shop is not taking orders right now.'
        : `${retryable ? 'Payment is briefly unavailable' : 'Checkout could not start'}. Please try again.`;

/** @type {import('./types').DefaultVariant} */
export const defaultVariant = (product) => product.variants.find((v) => v.available) ?? product.variants[0];

/** @type {import('./types').FormatPrice} */
export const formatPrice = ({ price, currency }, locales) => {
  for (const locale of [locales, undefined].flat()) {
    try {
      return new Intl.NumberFormat(locale, { style: 'currency', currency }).format(Number(price));
    } catch { /* next */ }
  }
  return `${price} ${currency}`;
};
