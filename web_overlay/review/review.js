// @ts-check
// ReelCart brand review console: static, no framework. Talks to /v1/review/… and /v1/placements/{id} with the
// brand's API key, keeps that key in sessionStorage, and refuses stale writes through If-Match (ETag = version).

/** @typedef {import('../types').Box} Box */
/** @typedef {import('../types').Keyframe} TimelineKeyframe */
/**
 * A linker's guess as the API serves it: the product's title, variant and packshot as the catalog has them now.
 * @typedef {object} SkuCandidate
 * @property {string} product_id
 * @property {string | null} variant_id
 * @property {string} title the product's title
 * @property {number} confidence
 * @property {string | null} [variant_title]
 * @property {string | null} [sku]
 * @property {string | null} [image_url] the product's first image, loadable without the key
 */
/**
 * @typedef {object} ReviewPlacement
 * @property {string} id
 * @property {string} episode_id
 * @property {'proposed' | 'approved' | 'rejected'} status
 * @property {string} label
 * @property {number} confidence detector confidence
 * @property {number | null} link_confidence calibrated confidence of the SKU link (null: not linked); the queue sorts on it
 * @property {string | null} [link_evidence] the linker's reason: the print evidence an approval rested on, or why a
 *   link was left for review ("its print reads 'apple', which its catalog text lacks (another variant?)")
 * @property {boolean} [link_contradicted] the crops showed another product: bulk approval leaves it to a person
 * @property {number | null} [link_approval_level] the link confidence approval needed: the brand's threshold, or its
 *   own-print level when the crops confirmed the product's marked own print
 * @property {number} start_ms
 * @property {number} end_ms
 * @property {TimelineKeyframe[]} keyframes
 * @property {string | null} thumbnail_url
 * @property {string | null} video_url
 * @property {string | null} [episode_title]
 * @property {SkuCandidate[]} sku_candidates
 * @property {string | null} chosen_product_id
 * @property {string | null} [chosen_product_title]
 * @property {string | null} [chosen_product_image_url]
 * @property {number} link_floor the brand's link floor: a link below it is an unknown product
 * @property {boolean} unknown_product no candidate reaches the floor: approving needs a person's pick
 * @property {string | null} approve_product_id what approving publishes; null when it needs a pick first
 * @property {boolean} [drawn_by_hand] a person drew it (POST /v1/episodes/{id}/placements): it has no candidates
 * @property {number} version
 */
/** @typedef {{actor: string, action: string, at: string, before: Record<string, unknown>, after: Record<string, unknown>}} ReviewAction */
/** @typedef {{id: string, title: string, vendor: string, images: {url: string}[]}} CatalogProduct as GET /v1/products lists it */
/**
 * An episode as GET /v1/episodes lists it (what the console uses of it).
 * @typedef {object} Episode
 * @property {string} id
 * @property {string} title
 * @property {'processing' | 'unplayable' | 'registered' | 'tagging' | 'tagged' | 'failed'} [status]
 * @property {string | null} [media_error] why the video could not be made playable (unplayable)
 * @property {number} [duration_ms]
 * @property {number} [fps]
 * @property {string | null} [video_url] a signed URL the browser plays it from (expires: read it again before
 *   use); null while it is not playable
 * @property {string} [created_at]
 */
/**
 * A product as GET /v1/products/{id} returns it, what the own-print editor needs of it.
 * @typedef {object} MarkedProduct
 * @property {string} id
 * @property {string} title
 * @property {{id: string, url: string, position: number}[]} images
 * @property {[number, number, number, number][]} own_print boxes [x0, y0, x1, y1], fractions of the marked image
 * @property {string | null} own_print_image_id the image the boxes are drawn on
 * @property {number} version moves on with every change; the ETag is it in quotes
 */
/**
 * What POST /v1/products/{id}/own-print/check answers: whether the boxes can do their job.
 * @typedef {object} MarksCheck
 * @property {string} image_id
 * @property {number[]} keypoints keypoints of the image inside each box
 * @property {number} confirming_keypoints
 * @property {boolean} can_confirm
 * @property {number} shared_bar
 * @property {{product_id: string, title: string, keypoints: number, per_box: number[], points: [number, number][]}[]} shared
 * @property {number} compared
 * @property {{placement_id: string, episode_id: string, product_id: string, title: string, keypoints: number, per_box: number[], points: [number, number][]}[]} footage
 *   placements of the brand's episodes approved as another product whose crops match inside the boxes
 * @property {number} footage_compared
 * @property {{placement_id: string, episode_id: string, keypoints: number, per_box: number[], matched: number, misses_marks: boolean, points: [number, number][]}[]} [own_footage]
 *   the newest placements approved as this product, against the boxes; where its print matched but missed them first
 * @property {boolean} ok
 * @property {string[]} problems
 */
/**
 * What POST /v1/products/{id}/own-print/suggest answers: boxes learnt from the brand's footage, or why none.
 * @typedef {object} MarksSuggestion
 * @property {string} image_id
 * @property {[number, number, number, number][]} boxes
 * @property {string} reason
 * @property {number} placements_compared
 * @property {number[]} own_inside
 * @property {number} foreign_inside
 * @property {MarksCheck | null} check the boxes checked, as the check endpoint answers
 */
/** @typedef {{type?: string, title?: string, status?: number, detail?: string}} Problem */

/**
 * A problem's `errors` (what a 422 or an import says field by field), or none.
 * @param {Problem} problem @returns {any[]}
 */
const problemErrors = (problem) => {
  const errors = /** @type {{errors?: unknown}} */ (problem).errors;
  return Array.isArray(errors) ? errors : [];
};
/**
 * What GET /v1/analytics/… counts: the funnel in total and per placement (`revenue`: what paid orders kept,
 * per currency, as decimal strings; `refunded`: what was given back).
 * @typedef {object} Funnel
 * @property {number} impressions
 * @property {number} taps
 * @property {number} checkouts_started Buy presses
 * @property {number} orders_paid
 * @property {Record<string, string>} revenue
 * @property {Record<string, string>} refunded
 */
/**
 * @typedef {Funnel & {placement_id: string, label: string, product_title: string | null, tap_rate: number | null}} PlacementFunnel
 * @typedef {Funnel & {placements: PlacementFunnel[], since: string | null, until: string | null}} AnalyticsReport
 */
/** @typedef {typeof import('../timeline-math.js')} TimelineMath */

const KEY_STORAGE = 'reelcart.review.apiKey';
const PAGE_SIZE = 50;
// A check the index was not ready for is asked again this often, this many times (an index-only link job
// takes seconds to minutes).
const MARKS_CHECK_RETRY_MS = 5000;
const MARKS_CHECK_RETRIES = 24;
// Episodes the empty queue links to (the player and the timeline of each).
const DONE_EPISODES = 10;

/** An HTTP failure carrying its RFC 9457 problem body. */
class ApiError extends Error {
  /** @param {number} status @param {Problem} problem */
  constructor(status, problem) {
    super(`${problem.title ?? `HTTP ${status}`}${problem.detail ? `: ${problem.detail}` : ''}`);
    this.status = status;
    this.problem = problem;
  }
}

/**
 * @template {HTMLElement} T
 * @param {string} id
 * @returns {T}
 */
const $ = (id) => /** @type {T} */ (document.getElementById(id));

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, string>} [attrs]
 * @param {(Node | string)[]} [children]
 * @returns {HTMLElementTagNameMap[K]}
 */
function h(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

const percent = (/** @type {number} */ c) => `${Math.round(c * 100)}%`;
/** "1 placement", "3 placements". @param {number} n */
const placements = (n) => `${n} placement${n === 1 ? '' : 's'}`;
/** The link confidence the queue is sorted on; "unlinked" before the linker ran. @param {ReviewPlacement} p */
const linkText = (p) => (p.link_confidence == null ? 'unlinked' : percent(p.link_confidence));
const seconds = (/** @type {number} */ ms) => `${(ms / 1000).toFixed(2)} s`;

/**
 * What a placement shows, as a reviewer names it: the product approving would publish (the chosen one, else the
 * top candidate of a link at or above the brand's floor), else "Unknown product". The detector class is secondary.
 * @param {ReviewPlacement} p
 */
function productTitle(p) {
  if (p.chosen_product_id) {
    return p.chosen_product_title ?? p.sku_candidates.find((c) => c.product_id === p.chosen_product_id)?.title ?? 'Chosen product';
  }
  const target = p.sku_candidates.find((c) => c.product_id === p.approve_product_id);
  return target ? target.title : 'Unknown product';
}

/** “Product” (class), how messages name a placement. @param {ReviewPlacement} p */
const named = (p) => `“${productTitle(p)}” (${p.label})`;

/** Why approving needs a pick first, in the console's words. @param {ReviewPlacement} p */
function whyUnknown(p) {
  // A drawn placement names its product; it is unknown only once that product left the catalog.
  if (p.drawn_by_hand) return 'it was drawn by hand and its product is gone';
  if (!p.sku_candidates.length) return 'the linker found no candidate';
  if (p.link_confidence == null) return 'it is not linked';
  return `its link (${percent(p.link_confidence)}) is below your floor (${percent(p.link_floor)})`;
}

/** A variant's line under a product title: "330 ml · COLA-330". @param {SkuCandidate} c */
const variantText = (c) => [c.variant_title, c.sku].filter(Boolean).join(' · ');

/** The packshot, or an empty frame of the same size so rows line up. @param {string | null | undefined} url */
const packshot = (url) => (url ? h('img', { class: 'packshot', src: url, alt: '', loading: 'lazy' }) : h('span', { class: 'packshot none' }));

const params = new URLSearchParams(location.search);
const apiBase = (params.get('api') ?? document.body.dataset.apiBase ?? '').replace(/\/$/, '');
const overlayBase = document.body.dataset.overlayBase ?? '/overlay/';

const state = {
  /** @type {ReviewPlacement[]} */
  items: [],
  index: 0,
  /** @type {string | null} */
  nextCursor: null,
  /** @type {Map<string, string>} ETag per placement id, from the last response that carried one */
  etags: new Map(),
  /** @type {Map<string, string>} episodes seen this session (id to title), newest last: the empty queue links them */
  episodes: new Map(),
  /** @type {Box | null} the box being edited, for the keyframe nearest the playhead */
  draftBox: null,
  draftKeyframe: -1,
  busy: false,
  marks: {
    /** @type {MarkedProduct | null} the product whose own print is being marked */
    product: null,
    /** @type {string | null} its ETag as loaded: a save sends it, so a colleague's change is not overwritten */
    etag: null,
    /** @type {{key: string, result: MarksCheck | null, note: string, isError: boolean} | null} the last check asked for */
    check: null,
    /** @type {ReturnType<typeof setTimeout> | null} */
    checkTimer: null,
    /** a save is on its way */
    saving: false,
    /** a suggestion is on its way */
    suggesting: false,
    /** @type {string | null} the image the boxes are drawn on */
    imageId: null,
    /** @type {[number, number, number, number][]} */
    boxes: [],
    /** @type {[number, number] | null} where the drag that draws a box started (fractions) */
    from: null,
    /** @type {[number, number, number, number] | null} the box being drawn */
    draft: null,
  },
};

// The API's limit on a product's own-print boxes, and the smallest box worth keeping (a click, not a drag).
const MAX_MARKS = 16;
const MIN_MARK = 0.02;

// ---- HTTP ------------------------------------------------------------------------------------------------

/**
 * Call the review API; a 401 sends the reviewer back to the key prompt. `body` is sent as JSON; `raw` (a
 * file) as it is, with its `contentType`.
 * @param {string} method
 * @param {string} path
 * @param {{body?: unknown, ifMatch?: string, raw?: Blob, contentType?: string, idempotencyKey?: string}} [options]
 * @returns {Promise<{data: any, etag: string | null, monitor: string | null}>}
 */
async function api(method, path, options = {}) {
  const key = sessionStorage.getItem(KEY_STORAGE);
  /** @type {Record<string, string>} */
  const headers = { Accept: 'application/json, application/problem+json', Authorization: `Bearer ${key ?? ''}` };
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  if (options.raw !== undefined) headers['Content-Type'] = options.contentType ?? 'application/octet-stream';
  if (options.ifMatch) headers['If-Match'] = options.ifMatch;
  if (options.idempotencyKey) headers['Idempotency-Key'] = options.idempotencyKey;
  const res = await fetch(`${apiBase}${path}`, {
    method, headers, body: options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
  });
  const data = answerOf(res.status, await res.text());
  return { data, etag: res.headers.get('ETag'), monitor: monitorOf(res.headers.get('Link')) };
}

/**
 * The API's answer, parsed: JSON, or a problem made of a body that is not; a 401 sends the reviewer back to
 * the key prompt, and any non-2xx is thrown as an ApiError carrying its problem.
 * @param {number} status
 * @param {string} text
 * @returns {any}
 */
function answerOf(status, text) {
  /** @type {any} */
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { title: `HTTP ${status}`, detail: text.slice(0, 200) };
  }
  if (status === 401) signOut('Your API key was refused or has expired. Enter it again.');
  if (status < 200 || status > 299) throw new ApiError(status, data ?? {});
  return data;
}

/**
 * The job a write started, from its `Link: </v1/link-jobs/…>; rel="monitor"` header; null without one.
 * @param {string | null} link
 */
function monitorOf(link) {
  const match = /<(\/v1\/[a-z-]+-jobs\/[0-9a-f-]+)>\s*;\s*rel="?monitor"?/i.exec(link ?? '');
  return match ? match[1] : null;
}

/** @param {ReviewPlacement} p */
const etagFor = (p) => state.etags.get(p.id) ?? `"${p.version}"`;

/** @param {ReviewPlacement} p @param {string | null} etag */
function remember(p, etag) {
  state.etags.set(p.id, etag ?? `"${p.version}"`);
}

// ---- sign in ---------------------------------------------------------------------------------------------

/** @param {string} [reason] */
function signOut(reason) {
  sessionStorage.removeItem(KEY_STORAGE);
  /** @type {HTMLDialogElement} */ ($('marks')).close();
  /** @type {HTMLDialogElement} */ ($('catalog')).close();
  /** @type {HTMLFormElement} */ ($('catalog-import')).reset(); // never one click from another brand's catalog
  $('catalog-count').textContent = '';
  $('catalog-errors').replaceChildren();
  sayIn('catalog-message', '', false);
  forgetProductsOfThisSession();
  forgetEpisodesOfThisSession();
  state.items = [];
  state.episodes.clear();
  $('done').hidden = true;
  $('console').hidden = true;
  $('tools').hidden = true;
  $('sign-in').hidden = false;
  $('sign-in-error').textContent = reason ?? '';
  /** @type {HTMLInputElement} */ ($('api-key')).value = '';
  $('api-key').focus();
}

async function start() {
  $('sign-in').hidden = true;
  $('console').hidden = false;
  $('tools').hidden = false;
  try {
    await loadQueue(true);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) say(`Could not load the queue. ${errorText(error)}`, true);
  }
}

// ---- queue -----------------------------------------------------------------------------------------------

/** @param {boolean} reset */
async function loadQueue(reset) {
  const cursor = reset ? '' : `&cursor=${encodeURIComponent(state.nextCursor ?? '')}`;
  const { data } = await api('GET', `/v1/review/queue?status=proposed&limit=${PAGE_SIZE}${cursor}`);
  /** @type {ReviewPlacement[]} */
  const items = data.items ?? [];
  noteQueued(items);
  state.items = reset ? items : [...state.items, ...items.filter((p) => !state.items.some((q) => q.id === p.id))];
  state.nextCursor = data.next_cursor ?? null;
  if (reset) state.index = 0;
  renderQueue();
  await select(Math.min(state.index, state.items.length - 1));
}

/**
 * Placements the queue takes in: their versions for If-Match, and their episodes, newest last, for the
 * empty queue's links.
 * @param {ReviewPlacement[]} items
 */
function noteQueued(items) {
  for (const p of items) {
    remember(p, null);
    state.episodes.delete(p.episode_id);
    state.episodes.set(p.episode_id, p.episode_title ?? p.episode_id);
  }
}

function renderQueue() {
  const list = $('queue');
  list.replaceChildren(...state.items.map((p, i) => {
    const top = p.sku_candidates[0];
    const title = productTitle(p);
    const item = h('li', {
      'data-placement': p.id, role: 'button', tabindex: '-1', 'aria-current': String(i === state.index),
      'aria-label': `${title}, detected as ${p.label}${p.unknown_product && !p.chosen_product_id ? ', needs a pick' : ''}, ` +
        `link confidence ${linkText(p)}, ${seconds(p.end_ms - p.start_ms)} on screen`,
    }, [
      p.thumbnail_url ? h('img', { src: p.thumbnail_url, alt: '', loading: 'lazy' }) : h('span', { class: 'thumb' }),
      h('span', { class: 'q-text' }, [
        h('strong', { class: 'q-title' }, [title]),
        h('span', { class: 'q-label' }, [p.label]),
        h('span', { class: 'q-conf' }, [`${linkText(p)} · ${seconds(p.end_ms - p.start_ms)}`]),
        p.unknown_product && !p.chosen_product_id
          ? h('span', { class: 'q-sku unknown' }, [top ? `best guess ${top.title} (${percent(top.confidence)})` : 'no candidate'])
          : '',
      ]),
    ]);
    item.addEventListener('click', () => select(i));
    return item;
  }));
  $('queue-count').textContent = `(${state.items.length}${state.nextCursor ? '+' : ''})`;
  $('load-more').hidden = !state.nextCursor;
  $('queue-empty').hidden = state.items.length > 0;
  $('detail').hidden = state.items.length === 0;
  const wasDone = !$('done').hidden;
  $('done').hidden = state.items.length > 0;
  if (!state.items.length && !wasDone) renderDone().catch((e) => say(errorText(e), true));
}

/**
 * How many placements an episode's public timeline shows (what players get); null when it cannot be read.
 * The timeline is public, so no key goes with it.
 * @param {string} episodeId
 * @returns {Promise<number | null>}
 */
async function livePlacements(episodeId) {
  try {
    const res = await fetch(`${apiBase}/v1/episodes/${encodeURIComponent(episodeId)}/timeline`, { headers: { Accept: 'application/json' } });
    const data = res.ok ? await res.json() : null;
    return Array.isArray(data?.placements) ? data.placements.length : null;
  } catch {
    return null;
  }
}

/**
 * The empty queue says so, and links each episode's public timeline, and its player once the timeline shows
 * something (the demo player serves only episodes with a live placement) and the server runs the player at all
 * (production servers do not: they mark the page `data-demo-player="off"`). Episodes reviewed in this session come
 * first, then the brand's latest.
 */
async function renderDone() {
  const list = $('done-episodes');
  /** @type {Map<string, string>} */
  const episodes = new Map([...state.episodes].reverse());
  try {
    const { data } = await api('GET', `/v1/episodes?limit=${DONE_EPISODES}`);
    /** @type {Episode[]} */
    const listed = data?.items ?? [];
    for (const e of listed) if (!episodes.has(e.id)) episodes.set(e.id, e.title);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    // The session's episodes still get their links; the brand's list is a convenience.
  }
  const shown = [...episodes].slice(0, DONE_EPISODES);
  const hasPlayer = document.body.dataset.demoPlayer !== 'off';
  const live = await Promise.all(shown.map(([id]) => livePlacements(id)));
  if (state.items.length) return;
  list.replaceChildren(...shown.map(([id, title], i) => {
    const path = encodeURIComponent(id);
    const count = live[i];
    const timeline = h('a', { href: `${apiBase}/v1/episodes/${path}/timeline`, target: '_blank', rel: 'noopener' }, ['Public timeline']);
    const player = h('a', { href: `${apiBase}/demo/episodes/${path}`, target: '_blank', rel: 'noopener' }, ['Watch in the player']);
    const status = count == null ? 'timeline not readable' : count ? `${count} placement${count === 1 ? '' : 's'} live` : 'nothing published yet';
    return h('li', { 'data-episode': id }, [
      h('strong', {}, [title]), ' ', h('span', { class: count ? 'live' : 'not-live' }, [status]), ' ',
      ...(count && hasPlayer ? [player, ' · '] : []), timeline,
    ]);
  }));
  $('done-none').hidden = shown.length > 0;
}

/** @returns {ReviewPlacement | undefined} */
const current = () => state.items[state.index];

/** @param {number} index */
async function select(index) {
  if (index < 0 || index >= state.items.length) return;
  // Search results belong to the placement they were found for: a "Link" left over from the previous one
  // would relink the wrong placement.
  const results = $('search-results');
  if (results.dataset.for !== state.items[index].id) results.replaceChildren();
  results.dataset.for = state.items[index].id;
  state.index = index;
  for (const li of $('queue').children) li.setAttribute('aria-current', String(li === $('queue').children[index]));
  $('queue').children[index]?.scrollIntoView({ block: 'nearest' });
  renderDetail();
  await loadHistory();
}

// ---- detail ----------------------------------------------------------------------------------------------

function renderDetail() {
  const p = current();
  if (!p) return;
  $('detail-title').textContent = productTitle(p);
  $('detail-label').textContent = p.drawn_by_hand ? 'Drawn by hand' : `Detected as “${p.label}”`;
  const unknown = $('detail-unknown');
  unknown.hidden = !p.unknown_product;
  unknown.textContent = p.unknown_product ? `Unknown product: ${whyUnknown(p)}` : '';
  const episode = p.episode_title ?? `episode ${p.episode_id.slice(0, 8)}`;
  // Filled from the history once it loads (`loadHistory`).
  $('was-live').hidden = true;
  $('detail-meta').replaceChildren(
    `Link ${linkText(p)} · detector ${percent(p.confidence)} · ${seconds(p.start_ms)} → ${seconds(p.end_ms)} · `,
    h('span', { class: 'episode', title: `Episode ${p.episode_id}` }, [episode]), ` · v${p.version}`);
  renderCandidates(p);
  const evidence = $('link-evidence');
  evidence.hidden = !p.link_evidence;
  evidence.classList.toggle('contradicted', Boolean(p.link_contradicted));
  evidence.textContent = p.link_evidence
    ? `${p.link_contradicted ? 'Check the product: ' : 'Linker: '}${p.link_evidence}`
    : '';
  renderApproveTarget(p);
  const marked = markedProductId(p);
  $('marks-open').hidden = !marked;
  $('marks-open').textContent = `Mark the own print of ${productTitle(p)}…`;
  /** @type {HTMLInputElement} */ ($('edit-start')).value = String(p.start_ms);
  /** @type {HTMLInputElement} */ ($('edit-end')).value = String(p.end_ms);
  state.draftBox = null;
  state.draftKeyframe = -1;
  loadClip(p);
}

/** @param {ReviewPlacement} p */
function renderCandidates(p) {
  const publishes = () => h('span', { class: 'publishes-tag' }, ['A publishes']);
  $('candidates').replaceChildren(...p.sku_candidates.slice(0, 5).map((c, i) => {
    const chosen = c.product_id === p.chosen_product_id;
    const target = c.product_id === p.approve_product_id;
    const button = h('button', { type: 'button', 'aria-pressed': String(chosen), 'data-candidate': c.product_id }, [
      h('kbd', {}, [String(i + 1)]), ' ', packshot(c.image_url),
      h('span', { class: 'c-text' }, [
        h('span', { class: 'c-title' }, [c.title]), ' ', h('small', { class: 'c-variant' }, [variantText(c)]),
      ]),
      ' ', h('span', { class: 'conf' }, [percent(c.confidence)]),
      ...(target ? [' ', publishes()] : []),
    ]);
    button.addEventListener('click', () => relink(c.product_id, c.title));
    return h('li', { class: [chosen ? 'chosen' : '', target ? 'publishes' : ''].join(' ').trim() }, [button]);
  }));
  if (p.chosen_product_id && !p.sku_candidates.some((c) => c.product_id === p.chosen_product_id)) {
    $('candidates').append(h('li', { class: 'chosen publishes from-search' }, [
      packshot(p.chosen_product_image_url),
      h('span', { class: 'c-text' }, [
        `${p.drawn_by_hand ? 'Drawn by hand' : 'Linked from search'}: ${p.chosen_product_title ?? p.chosen_product_id}`,
      ]), ' ', publishes(),
    ]));
  }
  if (!p.sku_candidates.length && !p.chosen_product_id) {
    $('candidates').append(h('li', { class: 'empty' }, ['No candidate: search the catalog (/) for the product.']));
  }
}

/** Beside the Approve button: what A publishes, or that it needs a pick first. @param {ReviewPlacement} p */
function renderApproveTarget(p) {
  const target = $('approve-target');
  target.classList.toggle('needs-pick', !p.approve_product_id);
  // Dimmed, not disabled: pressing it still says what it needs.
  $('approve').classList.toggle('needs-pick', !p.approve_product_id);
  target.replaceChildren(...(p.approve_product_id
    ? ['A publishes ', h('strong', {}, [productTitle(p)])]
    : [h('strong', {}, ['A needs a pick']), p.sku_candidates.length ? ': 1–5 or / search' : ': / search']));
}

// What the linker's history entries add to the placement's snapshot: why it decided (shown apart, in words).
const LINKER_WHY = ['link_confidence', 'link_approval_level', 'link_evidence'];

/**
 * Only what an action changed: the API records whole before/after snapshots of the placement.
 * @param {ReviewAction} a
 */
function changeText(a) {
  const short = (/** @type {unknown} */ v) => {
    const text = JSON.stringify(v) ?? '—';
    return text.length > 48 ? `${text.slice(0, 47)}…` : text;
  };
  const keys = [...new Set([...Object.keys(a.before ?? {}), ...Object.keys(a.after ?? {})])]
    .filter((k) => !LINKER_WHY.includes(k) && JSON.stringify(a.before?.[k]) !== JSON.stringify(a.after?.[k]));
  return keys.map((k) => `${k}: ${short(a.before?.[k])} → ${short(a.after?.[k])}`).join('; ') || 'no change';
}

/**
 * Why the linker approved, withdrew or moved a placement, as its entry kept it ('' for a person's action):
 * the confidence against the level it needed, and the reason in words.
 * @param {ReviewAction} a
 */
function linkerWhy(a) {
  const confidence = a.after?.link_confidence;
  const level = a.after?.link_approval_level;
  const reason = a.after?.link_evidence;
  // One decimal: a link withdrawn at 79.6 % against 80 % must not read "80% against 80%".
  const exact = (/** @type {number} */ c) => `${(c * 100).toFixed(1)}%`;
  const parts = [];
  if (typeof confidence === 'number') {
    parts.push(typeof level === 'number' ? `${exact(confidence)} against ${exact(level)} needed` : exact(confidence));
  }
  if (typeof reason === 'string' && reason) parts.push(reason);
  return parts.join(': ');
}

/** The history's state in plain text (not a numbered item). @param {string} text @param {boolean} [isError] */
function historyNote(text, isError = false) {
  const note = $('history-note');
  note.textContent = text;
  note.hidden = !text;
  note.classList.toggle('error', isError);
}

async function loadHistory() {
  const p = current();
  if (!p) return;
  try {
    const { data } = await api('GET', `/v1/placements/${encodeURIComponent(p.id)}/history`);
    if (current()?.id !== p.id) return;
    /** @type {ReviewAction[]} */
    const actions = data ?? [];
    $('history').replaceChildren(...actions.map((a) => {
      const why = linkerWhy(a);
      return h('li', {}, [
        h('time', { datetime: a.at }, [new Date(a.at).toLocaleString()]), ' ', h('strong', {}, [a.actor]), ` ${a.action} `,
        h('code', {}, [changeText(a)]),
        ...(why ? [' ', h('small', { class: 'why' }, [why])] : []),
      ]);
    }));
    historyNote(actions.length ? '' : 'No actions yet.');
    showWasLive(p, actions);
  } catch (error) {
    $('history').replaceChildren();
    historyNote(`History unavailable. ${errorText(error)}`, true);
  }
}

/**
 * A placement awaiting review that was live until the linker withdrew its approval, or until its product
 * was deleted, says so: the reviewer is deciding about a hotspot shoppers saw, not a new find.
 * @param {ReviewPlacement} p @param {ReviewAction[]} actions (oldest first)
 */
function showWasLive(p, actions) {
  const last = actions[actions.length - 1];
  const note = $('was-live');
  const withdrawn = last?.actor === 'linker' && last.action === 'withdraw';
  const deleted = last?.action === 'product-deleted';
  note.hidden = p.status !== 'proposed' || !(withdrawn || deleted) || last?.before?.status !== 'approved';
  if (note.hidden || !last) return;
  const when = new Date(last.at).toLocaleString();
  if (withdrawn) {
    const why = linkerWhy(last);
    note.textContent = `Was on the timeline until the linker withdrew its approval (${when})${why ? `: ${why}` : ''}.`;
  } else {
    note.textContent = `Was on the timeline until its product was deleted from the catalog (${last.actor}, ${when}).`;
  }
}

// ---- clip with the box drawn -----------------------------------------------------------------------------

/** @type {TimelineMath | null} */
let math = null;
/** @type {Promise<TimelineMath | null> | null} */
let mathLoad = null;
const loadMath = () => (mathLoad ??= import(`${overlayBase}timeline-math.js`)
  .then((/** @type {TimelineMath} */ m) => (math = m))
  .catch(() => null));

/** @param {ReviewPlacement} p */
function loadClip(p) {
  const video = /** @type {HTMLVideoElement} */ ($('clip-video'));
  if (!p.video_url) {
    video.removeAttribute('src');
    $('clip-time').textContent = 'No video for this placement.';
    return;
  }
  const url = new URL(p.video_url, location.href).href;
  if (video.src !== url) video.src = url;
  const seekToStart = () => {
    video.currentTime = p.start_ms / 1000;
    video.play().catch(() => { /* muted autoplay refused: the reviewer can press Space */ });
  };
  if (video.readyState >= 1) seekToStart();
  else video.addEventListener('loadedmetadata', seekToStart, { once: true });
  loadMath().then(drawBox);
}

/** Loop the clip over the placement's (possibly edited) span and keep the box on the frame. */
function onClipTime() {
  const p = current();
  const video = /** @type {HTMLVideoElement} */ ($('clip-video'));
  if (!p) return;
  const [start, end] = editedSpan(p);
  const t = video.currentTime * 1000;
  if (!video.paused && (t >= end || t < start - 250)) video.currentTime = start / 1000;
  $('clip-time').textContent = `${seconds(t)} (clip ${seconds(start)} → ${seconds(end)})`;
  drawBox();
}

/** @param {ReviewPlacement} p @returns {[number, number]} */
function editedSpan(p) {
  const start = Number(/** @type {HTMLInputElement} */ ($('edit-start')).value);
  const end = Number(/** @type {HTMLInputElement} */ ($('edit-end')).value);
  return Number.isFinite(start) && Number.isFinite(end) && end > start ? [start, end] : [p.start_ms, p.end_ms];
}

/** Index of the keyframe nearest the playhead: the one box edits apply to. @param {ReviewPlacement} p @param {number} tMs */
const nearestKeyframe = (p, tMs) => p.keyframes.reduce(
  (best, k, i) => (Math.abs(k.t_ms - tMs) < Math.abs(p.keyframes[best].t_ms - tMs) ? i : best), 0);

function drawBox() {
  const p = current();
  const video = /** @type {HTMLVideoElement} */ ($('clip-video'));
  const boxEl = $('clip-box');
  if (!p || !math || !p.keyframes.length) {
    boxEl.hidden = true;
    return;
  }
  const tMs = video.currentTime * 1000;
  const k = nearestKeyframe(p, tMs);
  if (k !== state.draftKeyframe) {
    state.draftKeyframe = k;
    state.draftBox = null;
  }
  const box = state.draftBox ?? math.interpolateBox([...p.keyframes].sort((a, b) => a.t_ms - b.t_ms), tMs);
  if (!state.draftBox) showBoxInputs(p.keyframes[k].box, p.keyframes[k].t_ms);
  const w = video.clientWidth;
  const hgt = video.clientHeight;
  const rendered = math.renderedRect(w, hgt, video.videoWidth, video.videoHeight, 'contain');
  const r = math.boxToRect(box, rendered, w, hgt);
  boxEl.hidden = !r;
  if (r) Object.assign(boxEl.style, { left: `${r.x}px`, top: `${r.y}px`, width: `${r.width}px`, height: `${r.height}px` });
}

/** @param {Box} box @param {number} tMs */
function showBoxInputs(box, tMs) {
  ['box-x', 'box-y', 'box-w', 'box-h'].forEach((id, i) => {
    const input = /** @type {HTMLInputElement} */ ($(id));
    if (document.activeElement !== input) input.value = box[i].toFixed(3);
  });
  $('edit-kf').textContent = `Box at keyframe ${seconds(tMs)}:`;
}

/** @returns {Box | null} */
function boxFromInputs() {
  const box = /** @type {Box} */ (['box-x', 'box-y', 'box-w', 'box-h'].map((id) => Number(/** @type {HTMLInputElement} */ ($(id)).value)));
  return box.every(Number.isFinite) ? box : null;
}

/** Drag the drawn box to move the nearest keyframe's box; saved with the other edits. */
function enableBoxDrag() {
  const boxEl = $('clip-box');
  const video = /** @type {HTMLVideoElement} */ ($('clip-video'));
  /** @type {{x: number, y: number, box: Box} | null} */
  let drag = null;
  boxEl.addEventListener('pointerdown', (event) => {
    const p = current();
    if (!p || !math) return;
    video.pause();
    const k = nearestKeyframe(p, video.currentTime * 1000);
    drag = { x: event.clientX, y: event.clientY, box: state.draftBox ?? p.keyframes[k].box };
    boxEl.setPointerCapture(event.pointerId);
  });
  boxEl.addEventListener('pointermove', (event) => {
    if (!drag || !math) return;
    const rendered = math.renderedRect(video.clientWidth, video.clientHeight, video.videoWidth, video.videoHeight, 'contain');
    const [x, y, w, hgt] = drag.box;
    const dx = (event.clientX - drag.x) / rendered.width;
    const dy = (event.clientY - drag.y) / rendered.height;
    state.draftBox = [Math.min(Math.max(0, x + dx), 1 - w), Math.min(Math.max(0, y + dy), 1 - hgt), w, hgt];
    showBoxInputs(state.draftBox, current()?.keyframes[state.draftKeyframe]?.t_ms ?? 0);
    drawBox();
  });
  boxEl.addEventListener('pointerup', () => {
    drag = null;
  });
}

// ---- actions ---------------------------------------------------------------------------------------------

/**
 * Put `text` in the message line `id` (the console's, the marks editor's, the linking settings'), red if
 * it is an error. @param {string} id @param {string} text @param {boolean} isError
 */
function sayIn(id, text, isError) {
  const message = $(id);
  message.textContent = text;
  message.classList.toggle('error', isError);
}

/** @param {string} text @param {boolean} [isError] */
function say(text, isError = false) {
  sayIn('message', text, isError);
}

/** @param {unknown} error */
const errorText = (error) => (error instanceof Error ? error.message : String(error));

/**
 * Run a write against the current placement with its ETag; on 412 reload the latest and explain.
 * @param {string} verb for messages
 * @param {(p: ReviewPlacement) => Promise<{data: any, etag: string | null}>} write
 * @param {(p: ReviewPlacement, updated: ReviewPlacement) => void} onDone
 */
async function mutate(verb, write, onDone) {
  const p = current();
  if (!p || state.busy) return;
  state.busy = true;
  // A fresh outcome for every write, so two conflicts in a row are two announcements, not one stale line.
  say('');
  $('detail').setAttribute('aria-busy', 'true');
  try {
    const { data, etag } = await write(p);
    /** @type {ReviewPlacement} */
    const updated = data && typeof data === 'object' && 'version' in data ? data : { ...p, version: p.version + 1 };
    remember(updated, etag);
    onDone(p, updated);
  } catch (error) {
    if (error instanceof ApiError && error.status === 412) {
      await reloadCurrent(p);
      say(`Conflict: someone else changed ${named(p)} since you loaded it, so your ${verb} was not saved. ` +
        'The latest version is shown; check it and try again.', true);
    } else if (error instanceof ApiError && error.problem.type?.endsWith('/no-product-chosen')) {
      // The brand's floor or the candidates changed since the queue was loaded: show what the API knows now.
      await reloadCurrent(p);
      say(`Not approved: ${error.problem.detail ?? 'pick the product first'}. Pick it with 1–5 or / search.`, true);
    } else if (!(error instanceof ApiError && error.status === 401)) {
      say(`Could not ${verb}. ${errorText(error)}`, true);
    }
  } finally {
    state.busy = false;
    $('detail').setAttribute('aria-busy', 'false');
  }
}

/** @param {ReviewPlacement} stale */
async function reloadCurrent(stale) {
  try {
    const { data, etag } = await api('GET', `/v1/placements/${encodeURIComponent(stale.id)}`);
    const i = state.items.findIndex((q) => q.id === stale.id);
    remember(data, etag);
    if (i >= 0) state.items[i] = data;
    renderQueue();
    renderDetail();
    await loadHistory();
  } catch (error) {
    say(`Could not reload the placement. ${errorText(error)}`, true);
  }
}

/** @param {'approve' | 'reject'} action */
async function decide(action) {
  const shown = current();
  if (action === 'approve' && shown && !shown.approve_product_id && !state.busy) {
    // Never publish a guess: below the brand's floor (or with nothing linked) a person names the product.
    say(`Not approved: “${shown.label}” is an unknown product (${whyUnknown(shown)}). Pick the product first: ` +
      `${shown.sku_candidates.length ? '1–5 for a candidate, or ' : ''}/ to search the catalog.`, true);
    return;
  }
  await mutate(action, (p) => api('POST', `/v1/placements/${encodeURIComponent(p.id)}/${action}`, { ifMatch: etagFor(p) }),
    (p, updated) => {
      state.items = state.items.filter((q) => q.id !== p.id);
      state.index = Math.min(state.index, state.items.length - 1);
      say(`${action === 'approve' ? 'Approved' : 'Rejected'} ${named(action === 'approve' ? updated : p)}.`);
      renderQueue();
      if (!state.items.length && state.nextCursor) loadQueue(true).catch((e) => say(errorText(e), true));
      else select(Math.max(0, state.index));
    });
}

/** @param {string} productId @param {string} title */
async function relink(productId, title) {
  await mutate('relink', (p) => api('PATCH', `/v1/placements/${encodeURIComponent(p.id)}`,
    { ifMatch: etagFor(p), body: { chosen_product_id: productId } }),
  (p, updated) => {
    replaceCurrent(p, updated);
    say(`Linked “${p.label}” to ${title}. Approve to publish it.`);
  });
}

async function saveEdits() {
  const p = current();
  if (!p) return;
  const [start, end] = editedSpan(p);
  /** @type {Record<string, unknown>} */
  const body = {};
  if (start !== p.start_ms) body.start_ms = start;
  if (end !== p.end_ms) body.end_ms = end;
  const box = boxFromInputs();
  const k = state.draftKeyframe;
  if (box && k >= 0 && p.keyframes[k] && box.some((v, i) => Math.abs(v - p.keyframes[k].box[i]) > 1e-4)) {
    const [x, y, w, hgt] = box;
    if (!(w > 0 && hgt > 0 && x >= 0 && y >= 0 && x + w <= 1 && y + hgt <= 1)) {
      say('The box must have a size and stay inside the frame (0 to 1).', true);
      return;
    }
    body.keyframes = keyframesWithin(p.keyframes.map((kf, i) => (i === k ? { ...kf, box } : kf)), start, end);
  }
  if (!Object.keys(body).length) {
    say('Nothing to save.');
    return;
  }
  await mutate('edit', (q) => api('PATCH', `/v1/placements/${encodeURIComponent(q.id)}`, { ifMatch: etagFor(q), body }),
    (q, updated) => {
      replaceCurrent(q, updated);
      say(`Saved ${Object.keys(body).join(', ')} for “${q.label}”.`);
    });
}

/**
 * The API refuses keyframes outside the span they are sent with, so a trimmed span carries the nearest
 * keyframe on each cut side to the new boundary (boxes hold outside keyframes, so the drawn box is kept).
 * @param {TimelineKeyframe[]} keyframes @param {number} start @param {number} end @returns {TimelineKeyframe[]}
 */
function keyframesWithin(keyframes, start, end) {
  const sorted = [...keyframes].sort((a, b) => a.t_ms - b.t_ms);
  const inside = sorted.filter((kf) => kf.t_ms >= start && kf.t_ms <= end);
  const before = sorted.filter((kf) => kf.t_ms < start).at(-1);
  const after = sorted.find((kf) => kf.t_ms > end);
  if (before && !inside.some((kf) => kf.t_ms === start)) inside.unshift({ ...before, t_ms: start });
  if (after && !inside.some((kf) => kf.t_ms === end)) inside.push({ ...after, t_ms: end });
  return inside;
}

/** @param {ReviewPlacement} p @param {ReviewPlacement} updated */
function replaceCurrent(p, updated) {
  const i = state.items.findIndex((q) => q.id === p.id);
  if (i >= 0) state.items[i] = updated;
  renderQueue();
  renderDetail();
  loadHistory();
}

/** @param {string} q */
async function search(q) {
  const results = $('search-results');
  try {
    const { data } = await api('GET', `/v1/products?q=${encodeURIComponent(q)}`);
    /** @type {CatalogProduct[]} */
    const items = data.items ?? [];
    results.replaceChildren(...items.map((product) => {
      const button = h('button', { type: 'button', 'data-product': product.id }, ['Link']);
      button.addEventListener('click', () => relink(product.id, product.title));
      return h('li', {}, [
        product.images?.[0] ? h('img', { src: product.images[0].url, alt: '' }) : '',
        product.vendor ? `${product.title} · ${product.vendor} ` : `${product.title} `, button,
      ]);
    }));
    if (!items.length) results.replaceChildren(h('li', { class: 'empty' }, [`No products match “${q}”.`]));
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) results.replaceChildren(h('li', { class: 'error' }, [errorText(error)]));
  }
}

async function bulkApprove() {
  const min = Number(/** @type {HTMLInputElement} */ ($('bulk-min')).value);
  if (!(min >= 0 && min <= 1)) {
    say('Minimum confidence must be between 0 and 1.', true);
    return;
  }
  try {
    const { data } = await api('POST', '/v1/review/bulk-approve', { body: { min_confidence: min } });
    const count = typeof data?.approved === 'number' ? data.approved : Array.isArray(data?.approved) ? data.approved.length : null;
    const skipped = typeof data?.skipped_contradicted === 'number' ? data.skipped_contradicted : 0;
    await loadQueue(true);
    const done = count === null ? `Bulk approved at ≥ ${percent(min)}.` : `Bulk approved ${count} placement(s) at ≥ ${percent(min)}.`;
    say(skipped ? `${done} ${skipped} left for you: the linker saw another product's print.` : done);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) say(`Bulk approve failed. ${errorText(error)}`, true);
  }
}

// ---- own print ------------------------------------------------------------------------------------------

/** The product whose own print the editor marks: the one approving would publish. @param {ReviewPlacement} p */
const markedProductId = (p) => p.chosen_product_id ?? p.approve_product_id;

/** @param {string} text @param {boolean} [isError] */
function marksSay(text, isError = false) {
  sayIn('marks-message', text, isError);
}

/**
 * Open the own-print editor on a product: the one the placement under review shows, or `productId` (from
 * the catalog list). Where it could not be opened is said by `tell`.
 * @param {string | null} [productId]
 * @param {(text: string, isError?: boolean) => void} [tell]
 */
async function openMarks(productId = null, tell = say) {
  const p = current();
  productId = productId ?? (p ? markedProductId(p) : null);
  if (!productId) return;
  try {
    const { data, etag } = await api('GET', `/v1/products/${encodeURIComponent(productId)}`);
    // The API lists a product's images in their order (position, then age): "image 1" is its first.
    const product = /** @type {MarkedProduct} */ (data);
    const images = product.images;
    const onImage = images.find((image) => image.id === product.own_print_image_id);
    state.marks.product = product;
    state.marks.etag = etag ?? `"${product.version}"`;
    state.marks.imageId = (onImage ?? images[0])?.id ?? null;
    state.marks.boxes = product.own_print.map((box) => /** @type {[number, number, number, number]} */ ([...box]));
    state.marks.draft = null;
    state.marks.from = null;
    state.marks.check = null;
    $('marks-title').textContent = `Own print of ${product.title}`;
    renderMarks();
    if (!images.length) {
      marksSay('This product has no image yet: add its packshot to the catalog, then mark it.', true);
    } else if (product.own_print.length && product.own_print_image_id && !onImage) {
      marksSay('These boxes were drawn on an image since removed, so they approve nothing: check them on this '
        + 'image and save.', true);
    } else if (product.own_print.length && !onImage) {
      marksSay('These boxes are on no image yet: check them on this image and save.', true);
    } else {
      marksSay(product.own_print.length ? '' : 'No marks yet: drag over the packshot to draw the first box.');
    }
    /** @type {HTMLDialogElement} */ ($('marks')).showModal();
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) tell(`Could not open the product: ${errorText(error)}`, true);
  }
}

/** A box as the list shows it: its corners in hundredths of the image. @param {number[]} box */
const boxText = (box) => box.map((v) => v.toFixed(2)).join(' ');

/** @param {[number, number, number, number]} box @param {string} label @param {boolean} [draft] */
function markNode(box, label, draft = false) {
  const [x0, y0, x1, y1] = box;
  const node = h('div', { class: draft ? 'mark draft' : 'mark' }, draft ? [] : [h('span', {}, [label])]);
  node.style.left = `${x0 * 100}%`;
  node.style.top = `${y0 * 100}%`;
  node.style.width = `${(x1 - x0) * 100}%`;
  node.style.height = `${(y1 - y0) * 100}%`;
  return node;
}

function renderMarks() {
  const { product, imageId, boxes, draft } = state.marks;
  if (!product) return;
  const image = product.images.find((candidate) => candidate.id === imageId);
  const img = /** @type {HTMLImageElement} */ ($('marks-image'));
  $('marks-stage').hidden = !image;
  if (image && img.getAttribute('src') !== image.url) img.src = image.url;
  img.alt = image ? `Image ${product.images.indexOf(image) + 1} of ${product.title}` : '';
  $('marks-images').replaceChildren(...(product.images.length > 1 ? product.images.map((candidate, i) => {
    const button = h('button', { type: 'button', 'aria-pressed': String(candidate.id === imageId), 'aria-label': `Mark image ${i + 1}` },
      [h('img', { src: candidate.url, alt: '' })]);
    button.addEventListener('click', () => {
      state.marks.imageId = candidate.id;
      renderMarks();
    });
    return button;
  }) : []));
  $('marks-boxes').replaceChildren(
    ...boxes.map((box, i) => markNode(box, String(i + 1))), ...(draft ? [markNode(draft, '', true)] : []));
  $('marks-list').replaceChildren(...boxes.map((box, i) => {
    const remove = h('button', { type: 'button', 'aria-label': `Remove box ${i + 1}` }, ['Remove']);
    remove.addEventListener('click', () => {
      state.marks.boxes.splice(i, 1);
      renderMarks();
      marksSay(`Box ${i + 1} removed; save to keep the change.`);
    });
    const counted = checkedNow()?.keypoints[i];
    return h('li', {}, [`Box ${i + 1} `, h('code', {}, [boxText(box)]),
      ...(counted === undefined ? [] : [` ${counted} keypoint${counted === 1 ? '' : 's'}`]), ' ', remove]);
  }));
  renderMarksCheck();
  scheduleMarksCheck();
  // Without an image there is nothing to draw on, but stored marks can still be removed (all of them).
  /** @type {HTMLButtonElement} */ ($('marks-save')).disabled = state.marks.saving
    || (!image && (boxes.length > 0 || !product.own_print.length));
  /** @type {HTMLButtonElement} */ ($('marks-suggest')).disabled = state.marks.saving || state.marks.suggesting || !image;
}

/** Where a pointer is over the packshot, as fractions of it, clamped to its edges. @param {PointerEvent} event */
function markPoint(event) {
  const rect = $('marks-image').getBoundingClientRect();
  const clamp = (/** @type {number} */ v) => Math.min(1, Math.max(0, v));
  return /** @type {[number, number]} */ ([
    clamp((event.clientX - rect.left) / rect.width), clamp((event.clientY - rect.top) / rect.height),
  ]);
}

/** @param {[number, number]} a @param {[number, number]} b @returns {[number, number, number, number]} */
const spanned = (a, b) => [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[0], b[0]), Math.max(a[1], b[1])];

function enableMarkDrawing() {
  const stage = $('marks-stage');
  stage.addEventListener('pointerdown', (event) => {
    if (event.button !== 0 || !state.marks.product) return;
    if (state.marks.boxes.length >= MAX_MARKS) {
      marksSay(`A product has at most ${MAX_MARKS} boxes: remove one first.`, true);
      return;
    }
    event.preventDefault();
    stage.setPointerCapture(event.pointerId);
    state.marks.from = markPoint(event);
    state.marks.draft = null;
  });
  stage.addEventListener('pointermove', (event) => {
    if (!state.marks.from) return;
    state.marks.draft = spanned(state.marks.from, markPoint(event));
    renderMarks();
  });
  const finish = (/** @type {PointerEvent} */ event) => {
    if (!state.marks.from) return;
    const box = spanned(state.marks.from, markPoint(event));
    state.marks.from = null;
    state.marks.draft = null;
    if (box[2] - box[0] >= MIN_MARK && box[3] - box[1] >= MIN_MARK) {
      // Thousandths of the image: finer than any packshot's print, and what the list shows stays what is sent.
      state.marks.boxes.push(/** @type {[number, number, number, number]} */ (box.map((v) => Math.round(v * 1000) / 1000)));
      marksSay(`Box ${state.marks.boxes.length} drawn; save to keep it.`);
    } else {
      marksSay('Drag over the packshot to draw a box (a click draws none).');
    }
    renderMarks();
  };
  stage.addEventListener('pointerup', finish);
  const abandon = () => {
    if (!state.marks.from) return;
    state.marks.from = null;
    state.marks.draft = null;
    renderMarks();
  };
  stage.addEventListener('pointercancel', abandon);
  // The capture can also end without a pointerup (the dialog closed mid-drag): no half-drawn box then.
  stage.addEventListener('lostpointercapture', abandon);
}

/** What a check is asked for: the image and the boxes (a drag in progress is not checked). */
const marksKey = () => JSON.stringify([state.marks.product?.id, state.marks.imageId, state.marks.boxes]);

/** The last check's answer when it is for the boxes shown now. @returns {MarksCheck | null} */
function checkedNow() {
  const check = state.marks.check;
  return check && check.key === marksKey() ? check.result : null;
}

/** Check the boxes against the catalog a moment after they change (a burst of edits asks once). */
function scheduleMarksCheck() {
  const key = marksKey();
  if (state.marks.check?.key === key) return;
  if (state.marks.checkTimer) clearTimeout(state.marks.checkTimer);
  const { product, imageId, boxes } = state.marks;
  if (!product || !imageId || !boxes.length) {
    state.marks.check = { key, result: null, note: '', isError: false };
    renderMarksCheck();
    return;
  }
  state.marks.check = { key, result: null, note: 'Checking the boxes against the catalog…', isError: false };
  renderMarksCheck();
  state.marks.checkTimer = setTimeout(() => { void runMarksCheck(key, product.id, imageId, boxes.map((b) => [...b])); }, 250);
}

/**
 * @param {string} key @param {string} productId @param {string} imageId @param {number[][]} boxes
 * @param {number} [attempt] how many times the index was not ready for these boxes
 */
async function runMarksCheck(key, productId, imageId, boxes, attempt = 0) {
  /** @type {{key: string, result: MarksCheck | null, note: string, isError: boolean}} */
  let check;
  try {
    const { data } = await api('POST', `/v1/products/${encodeURIComponent(productId)}/own-print/check`,
      { body: { own_print: boxes, own_print_image_id: imageId } });
    check = { key, result: /** @type {MarksCheck} */ (data), note: '', isError: false };
  } catch (error) {
    const detail = error instanceof ApiError ? error.problem.detail : undefined;
    const notYet = error instanceof ApiError && error.status === 409;
    check = { key, result: null, note: `${notYet ? 'Not checked yet' : 'Could not check the boxes'}: ${detail ?? errorText(error)}`, isError: !notYet };
  }
  // An answer for boxes since changed is dropped: the newer check is on its way.
  if (state.marks.check?.key !== key) return;
  state.marks.check = check;
  renderMarks();
  // The index did not hold the image yet (the API queued the job that adds it): ask again in a while,
  // for as long as the same boxes stay in the open editor.
  if (!check.result && !check.isError && attempt < MARKS_CHECK_RETRIES) {
    state.marks.checkTimer = setTimeout(() => {
      if (state.marks.check?.key === key && /** @type {HTMLDialogElement} */ ($('marks')).open) {
        void runMarksCheck(key, productId, imageId, boxes, attempt + 1);
      }
    }, MARKS_CHECK_RETRY_MS);
  }
}

/** The check's verdict under the boxes, and the keypoints other products share drawn on the packshot. */
function renderMarksCheck() {
  const check = state.marks.check && state.marks.check.key === marksKey() ? state.marks.check : null;
  const result = check?.result ?? null;
  const box = $('marks-check');
  box.classList.toggle('error', Boolean(check?.isError || (result && !result.ok)));
  if (!result) {
    box.replaceChildren(...(check?.note ? [h('p', {}, [check.note])] : []));
  } else if (result.ok) {
    const own = (result.own_footage ?? []).filter((seen) => seen.keypoints >= result.shared_bar).length;
    const footage = (result.footage_compared
      ? ` and ${result.footage_compared} placement${result.footage_compared === 1 ? '' : 's'} of your episodes approved as another product`
      : '') + (own ? `, and ${own} placement${own === 1 ? '' : 's'} approved as this product match inside them` : '');
    box.replaceChildren(h('p', {}, [`Checked against ${result.compared} other product${result.compared === 1 ? '' : 's'}${footage}: `
      + 'these boxes hold enough print to confirm this product, and none of them prints it.']));
  } else {
    box.replaceChildren(
      h('p', {}, ['Checked against the catalog and your episodes: change the boxes before saving.']),
      h('ul', {}, result.problems.map((problem) => h('li', {}, [problem]))));
  }
  // Where other products' packshots, and other products' packs in your footage, print what the boxes hold.
  const elsewhere = [
    ...(result?.shared ?? []).map((other) => ({ points: other.points, title: `Also on ${other.title}`, own: false })),
    ...(result?.footage ?? []).map((seen) => ({ points: seen.points, title: `Also on ${seen.title}, as an episode shows it`, own: false })),
  ];
  // Where the product's own pack, as an episode shows it, matched the image while missing the boxes:
  // print that pack carries, for the reviewer to draw the boxes on.
  const ownPrint = (result?.own_footage ?? []).filter((seen) => seen.misses_marks)
    .map((seen) => ({ points: seen.points, title: 'This product as an episode shows it: draw on these', own: true }));
  $('marks-shared').replaceChildren(...[...elsewhere, ...ownPrint].flatMap(({ points, title, own }) => points.map(([x, y]) => {
    const dot = h('span', { class: own ? 'shared-dot own-dot' : 'shared-dot', title });
    dot.style.left = `${x * 100}%`;
    dot.style.top = `${y * 100}%`;
    return dot;
  })));
}

/** Ask the API for boxes learnt from the placements approved as this product; they replace the drawn ones, unsaved. */
async function suggestMarks() {
  const { product, imageId } = state.marks;
  if (!product || !imageId || state.marks.suggesting) return;
  // Boxes drawn while the answer is on its way are the reviewer's: the answer then does not replace them.
  const asked = marksKey();
  state.marks.suggesting = true;
  renderMarks();
  marksSay('Looking at the placements approved as this product…');
  try {
    const { data } = await api('POST', `/v1/products/${encodeURIComponent(product.id)}/own-print/suggest`,
      { body: { own_print_image_id: imageId } });
    const suggestion = /** @type {MarksSuggestion} */ (data);
    if (!stillMarking(product.id) || marksKey() !== asked) return;
    if (!suggestion.boxes.length) {
      marksSay(`No boxes to suggest: ${suggestion.reason}`, true);
      return;
    }
    state.marks.boxes = suggestion.boxes.map((box) => /** @type {[number, number, number, number]} */ (box.map((v) => Math.round(v * 1000) / 1000)));
    // The answer carries the check of its boxes: shown at once, not asked again (unless rounding moved them).
    if (suggestion.check) state.marks.check = { key: marksKey(), result: suggestion.check, note: '', isError: false };
    const passing = suggestion.own_inside.filter((count) => count >= (suggestion.check?.shared_bar ?? 10)).length;
    const n = suggestion.placements_compared;
    marksSay(`Suggested ${suggestion.boxes.length} box${suggestion.boxes.length === 1 ? '' : 'es'} from ${n} `
      + `placement${n === 1 ? '' : 's'} approved as this product: ${passing} of ${n} match enough inside them, `
      + `another product at most ${suggestion.foreign_inside} keypoints. Save to use them.`);
  } catch (error) {
    if (!stillMarking(product.id)) return;
    const detail = error instanceof ApiError ? error.problem.detail : undefined;
    marksSay(`Could not suggest boxes: ${detail ?? errorText(error)}`, true);
  } finally {
    state.marks.suggesting = false;
    if (stillMarking(product.id)) renderMarks();
  }
}

/** The editor still shows this product (it may have been closed and opened on another meanwhile). @param {string} id */
const stillMarking = (id) => state.marks.product?.id === id;

async function saveMarks() {
  const { product, imageId, boxes } = state.marks;
  if (!product || (!imageId && boxes.length) || state.marks.saving) return;
  const body = boxes.length ? { own_print: boxes, own_print_image_id: imageId } : { own_print: null };
  // One save at a time: a second click would send the ETag the first one just made stale.
  state.marks.saving = true;
  renderMarks();
  try {
    const { data, etag, monitor } = await api('PATCH', `/v1/products/${encodeURIComponent(product.id)}`,
      { body, ifMatch: state.marks.etag ?? `"${product.version}"` });
    const saved = /** @type {MarkedProduct} */ (data);
    const where = saved.images.findIndex((image) => image.id === saved.own_print_image_id);
    const savedText = saved.own_print.length
      ? `Saved ${saved.own_print.length} box${saved.own_print.length === 1 ? '' : 'es'} on image ${where + 1}.`
      : 'Marks removed: its links are approved as any other product\'s.';
    // Changed marks re-link the placements the linker decided that name the product, in the background.
    if (monitor) void followRelink(monitor, saved, savedText);
    noteMarksInList(saved);
    if (!stillMarking(product.id)) return;
    state.marks.product = saved;
    state.marks.etag = etag ?? `"${saved.version}"`;
    marksSay(monitor
      ? `${savedText} Linking this product's placements the linker decided again with them…`
      : `${savedText}${saved.own_print.length ? ' They count from the next tag or link job.' : ''}`);
  } catch (error) {
    if (!stillMarking(product.id)) return;
    if (error instanceof ApiError && error.status === 412) {
      await reloadMarkedProduct(product.id);
      return;
    }
    // The problem's detail names the field and what is wrong with it; the title adds nothing to that.
    const detail = error instanceof ApiError ? error.problem.detail : undefined;
    marksSay(`Not saved: ${detail ?? errorText(error)}`, true);
  } finally {
    state.marks.saving = false;
    renderMarks();
  }
}

// How often, and for how long, the console follows the re-link a save started before leaving it to the job.
const RELINK_POLL_MS = 1000;
const RELINK_FOLLOW_MS = 180_000;

/**
 * Follow the link job saving the marks queued; say what it approved (in the editor if it still shows the
 * product, else in the console) and reload the queue, from which the approved placements have gone.
 * @param {string} monitor the job's path
 * @param {MarkedProduct} product
 * @param {string} savedText what the save said
 */
async function followRelink(monitor, product, savedText) {
  // Followed under the key that saved: after a sign-out, or under another brand's key, it stops quietly.
  const key = sessionStorage.getItem(KEY_STORAGE);
  const signedIn = () => key !== null && sessionStorage.getItem(KEY_STORAGE) === key;
  const tell = (/** @type {string} */ text, isError = false) => {
    if (!signedIn()) return;
    // In the editor while it is open on this product; once closed (or on another), in the console.
    if (/** @type {HTMLDialogElement} */ ($('marks')).open && stillMarking(product.id)) {
      marksSay(`${savedText} ${text}`, isError);
    } else {
      say(`Marks of ${product.title}: ${text}`, isError);
    }
  };
  const until = Date.now() + RELINK_FOLLOW_MS;
  try {
    for (;;) {
      if (!signedIn()) return;
      const { data } = await api('GET', monitor);
      if (data.state === 'failed') {
        tell(`Linking its placements again failed: ${data.error ?? 'no reason given'}.`, true);
        return;
      }
      if (data.state === 'done') {
        const n = data.placements_relinked;
        tell(n
          ? `${placements(n)} the linker decided linked again with them: ${relinkOutcome(data)}.`
          : 'No placement the linker decided names this product: they count from the next tag or link job.');
        const withdrawn = data.withdrawn ?? 0;
        if ((data.approved || withdrawn) && signedIn()) await reloadQueueKeeping(current()?.id);
        return;
      }
      if (Date.now() > until) {
        tell('Its placements are still being linked again; reload the queue once the link job is done.');
        return;
      }
      await new Promise((resolve) => { setTimeout(resolve, RELINK_POLL_MS); });
    }
  } catch (error) {
    tell(`Could not follow the re-link of its placements: ${errorText(error)}`, true);
  }
}

// ---- linking settings ----------------------------------------------------------------------------------

/**
 * The brand's linking settings as GET /v1/brands/me has them, or as the dialog's inputs hold them.
 * @typedef {{auto_approve_threshold: number, own_print_auto_approve: number, link_floor: number,
 *   require_print_evidence: boolean}} LinkingSettings
 */

/** @type {{saved: LinkingSettings | null, asked: number}} */
const linking = { saved: null, asked: 0 };

/** @param {string} text @param {boolean} [isError] */
function linkingSay(text, isError = false) {
  sayIn('linking-message', text, isError);
}

/** An input's number; NaN when it is empty or not one. @param {string} id */
const numberIn = (id) => {
  const text = /** @type {HTMLInputElement} */ ($(id)).value.trim();
  return text === '' ? Number.NaN : Number(text);
};

/** The dialog's values that differ from the saved ones: the body a preview or a save sends; null while
 * a box holds no number. */
function linkingChanges() {
  const saved = linking.saved;
  /** @type {Partial<LinkingSettings>} */
  const body = {};
  if (!saved) return body;
  if (['linking-threshold', 'linking-own-print', 'linking-floor'].some((id) => Number.isNaN(numberIn(id)))) return null;
  const asked = {
    auto_approve_threshold: numberIn('linking-threshold'),
    own_print_auto_approve: numberIn('linking-own-print'),
    link_floor: numberIn('linking-floor'),
  };
  for (const [name, value] of /** @type {[keyof typeof asked, number][]} */ (Object.entries(asked))) {
    if (value !== saved[name]) body[name] = value;
  }
  const evidence = /** @type {HTMLInputElement} */ ($('linking-evidence')).checked;
  if (evidence !== saved.require_print_evidence) body.require_print_evidence = evidence;
  return body;
}

async function openLinking() {
  linkingSay('');
  $('linking-preview').textContent = '';
  try {
    const { data } = await api('GET', '/v1/brands/me');
    linking.saved = /** @type {LinkingSettings} */ (data);
    /** @type {HTMLInputElement} */ ($('linking-threshold')).value = String(data.auto_approve_threshold);
    /** @type {HTMLInputElement} */ ($('linking-own-print')).value = String(data.own_print_auto_approve);
    /** @type {HTMLInputElement} */ ($('linking-floor')).value = String(data.link_floor);
    /** @type {HTMLInputElement} */ ($('linking-evidence')).checked = Boolean(data.require_print_evidence);
    /** @type {HTMLDialogElement} */ ($('linking')).showModal();
    await previewLinking();
  } catch (error) {
    say(`Could not read the linking settings: ${errorText(error)}`, true);
  }
}

/** Say what the dialog's values would do, from the placements' stored links (nothing changes). */
async function previewLinking() {
  const asked = ++linking.asked;
  const body = linkingChanges();
  if (!body) {
    $('linking-preview').textContent = 'Enter a number from 0 to 1 in each box.';
    return;
  }
  if (!Object.keys(body).length) {
    $('linking-preview').textContent = 'These are the saved settings.';
    return;
  }
  try {
    const { data } = await api('POST', '/v1/brands/me/linking-preview', { body });
    if (asked !== linking.asked) return; // a later change asked again
    const parts = [
      `would approve ${placements(data.would_approve)} and put them on the timeline`,
      `take ${data.would_withdraw} of the linker's approvals off it`,
      `leave ${data.stay_for_review} for review`,
    ];
    const unsure = data.not_previewed + data.other_index;
    $('linking-preview').textContent = `Saving ${parts.join(', ')}.` +
      (unsure ? ` ${placements(unsure)} will be linked again, which decides them.` : '') +
      (data.catalog_pending
        ? ' A link job or image fetch is waiting: if the catalog changed, saving links every placement again instead.'
        : '');
  } catch (error) {
    if (asked !== linking.asked) return;
    const detail = error instanceof ApiError ? error.problem.detail : undefined;
    $('linking-preview').textContent = `Not possible: ${detail ?? errorText(error)}`;
  }
}

async function saveLinking() {
  const body = linkingChanges();
  if (!body) {
    linkingSay('Enter a number from 0 to 1 in each box.', true);
    return;
  }
  if (!Object.keys(body).length) {
    linkingSay('Nothing to save: these are the saved settings.');
    return;
  }
  try {
    const { data, monitor } = await api('PATCH', '/v1/brands/me', { body });
    linking.saved = /** @type {LinkingSettings} */ (data);
    $('linking-preview').textContent = 'These are the saved settings.';
    if (!monitor) {
      linkingSay('Saved. They decide the placements of the next tag job.');
      return;
    }
    linkingSay('Saved. Deciding the placements the linker decided again…');
    for (const until = Date.now() + RELINK_FOLLOW_MS; Date.now() < until;) {
      const { data: job } = await api('GET', monitor);
      if (job.state === 'failed') {
        linkingSay(`Saved, but deciding the placements again failed: ${job.error ?? 'no reason given'}.`, true);
        return;
      }
      if (job.state === 'done') {
        const n = job.placements_relinked + (job.redecided ?? 0);
        linkingSay(n ? `Saved. ${placements(n)} decided again: ${relinkOutcome(job)}.` : 'Saved. No placement to decide again.');
        await reloadQueueKeeping(current()?.id);
        return;
      }
      await new Promise((resolve) => { setTimeout(resolve, RELINK_POLL_MS); });
    }
    linkingSay('Saved. The placements are still being decided again; reload the queue once the job is done.');
  } catch (error) {
    const detail = error instanceof ApiError ? error.problem.detail : undefined;
    linkingSay(`Not saved: ${detail ?? errorText(error)}`, true);
  }
}

/**
 * What a finished link job changed, in words: approvals it made, approvals kept, the linker's approvals
 * it moved to another product or withdrew, what is left for review. `auto_approved`: what this job approved; `approved` also counts
 * the approvals the new link kept and what a person approved meanwhile.
 * A job queued by a change of thresholds decides stored links again (`redecided`) besides any it links.
 * @param {{placements_relinked: number, approved: number, auto_approved?: number, withdrawn?: number,
 *   moved?: number, redecided?: number}} job
 */
function relinkOutcome(job) {
  const approvedNow = job.auto_approved ?? job.approved;
  const withdrawn = job.withdrawn ?? 0;
  const moved = job.moved ?? 0;
  const kept = job.approved - approvedNow - moved;
  const still = job.placements_relinked + (job.redecided ?? 0) - job.approved;
  const parts = [];
  if (approvedNow > 0) parts.push(`${approvedNow} approved and on the timeline`);
  if (kept > 0) parts.push(`${kept} still approved`);
  if (moved > 0) parts.push(`${moved} approval${moved === 1 ? '' : 's'} moved to another product`);
  if (withdrawn > 0) {
    parts.push(`${withdrawn} machine approval${withdrawn === 1 ? '' : 's'} withdrawn from the timeline and back in review`);
  }
  if (still > withdrawn) parts.push(`${still - withdrawn} still for review`);
  return parts.join(', ');
}

/** Reload the review queue, keeping the placement shown if it is still awaiting review. @param {string} [id] */
async function reloadQueueKeeping(id) {
  await loadQueue(true);
  const at = state.items.findIndex((p) => p.id === id);
  if (at > 0) await select(at);
}

/**
 * A save refused because someone changed the product since the editor loaded it: load the latest (its
 * images may have changed too) and keep the boxes drawn here, for the brand to check against it and save.
 * @param {string} productId
 */
async function reloadMarkedProduct(productId) {
  try {
    const { data, etag } = await api('GET', `/v1/products/${encodeURIComponent(productId)}`);
    if (!stillMarking(productId)) return;
    const latest = /** @type {MarkedProduct} */ (data);
    state.marks.product = latest;
    state.marks.etag = etag ?? `"${latest.version}"`;
    // The boxes stay on the image they were drawn on; if a colleague removed it, on the image the stored
    // marks are on, else the first: the message says so, and nothing is saved until the brand saves again.
    const kept = latest.images.some((image) => image.id === state.marks.imageId);
    if (!kept) {
      const stored = latest.images.find((image) => image.id === latest.own_print_image_id);
      state.marks.imageId = (stored ?? latest.images[0])?.id ?? null;
    }
    const where = latest.images.findIndex((image) => image.id === state.marks.imageId) + 1;
    const storedOn = latest.images.findIndex((image) => image.id === latest.own_print_image_id) + 1;
    const count = (/** @type {number} */ n) => `${n} box${n === 1 ? '' : 'es'}`;
    renderMarks();
    marksSay(`Not saved: someone changed this product since you opened it; it now has ${count(latest.own_print.length)}`
      + `${latest.own_print.length && storedOn ? ` on image ${storedOn}` : ''}. Yours are kept here`
      + `${kept || !where ? '' : `, on image ${where} (the one you chose was removed)`}: `
      + 'save again to put them in place of those, or close to keep them.', true);
  } catch (error) {
    marksSay(`Not saved: the product changed since you opened it, and reloading it failed: ${errorText(error)}`, true);
  }
}

// ---- episodes --------------------------------------------------------------------------------------------

// Episodes the dialog lists per page.
const EPISODES_PAGE = 25;

// How often a tag or transcode job started here is asked how far it is: every 2 s at first, then less
// often, at most every 15 s (a long episode's job runs for minutes).
const JOB_POLL_MS = 2000;
const JOB_POLL_MAX_MS = 15000;

/**
 * The brand's episodes as the dialog lists them; `tagging`: how far the tag jobs started in this tab are
 * (an episode stays `registered` or `tagged` until a worker takes its job, so the list alone cannot tell).
 * @type {{items: Episode[], total: number, confirming: string | null, busy: boolean, tagging: Map<string, number>}}
 */
const episodeList = { items: [], total: 0, confirming: null, busy: false, tagging: new Map() };

/** How far the transcodes followed in this tab are, by episode. @type {Map<string, number>} */
const episodeTranscodes = new Map();

/**
 * Each episode's results as shown under its row: the report, or what is said instead (loading, an error).
 * @type {Map<string, AnalyticsReport | string>}
 */
const episodeResults = new Map();

/**
 * The upload last sent: the same file (name, size, time modified) under the same title, sent again after
 * a dropped connection, even picked again, sends its Idempotency-Key again, so the API answers the
 * episode the first one registered, if it did.
 * @type {{key: string, fingerprint: string, request: XMLHttpRequest | null}}
 */
const upload = { key: '', fingerprint: '', request: null };

// Moves on at every sign-out: what a wait (an upload, an import, a job's poll) finds changed answered another
// key, and is dropped.
let keySession = 0;

/** Sign-out: close the dialog, stop the upload, forget the list and what was being followed. */
function forgetEpisodesOfThisSession() {
  keySession += 1;
  upload.request?.abort();
  Object.assign(upload, { key: '', fingerprint: '', request: null });
  Object.assign(episodeList, { items: [], total: 0, confirming: null, busy: false, tagging: new Map() });
  episodeResults.clear();
  episodeTranscodes.clear();
  $('episodes-totals').textContent = '';
  totalsReadAt = 0;
  /** @type {HTMLDialogElement} */ ($('draw')).close();
  forgetDrawing();
  /** @type {HTMLDialogElement} */ ($('episodes')).close();
  /** @type {HTMLFormElement} */ ($('episode-upload')).reset();
  $('episodes-list').replaceChildren();
  sayIn('episodes-message', '', false);
}

/** In the dialog while it is open, else in the console (a tag job followed after it was closed).
 * @param {string} text @param {boolean} [isError] */
function episodesSay(text, isError = false) {
  if (/** @type {HTMLDialogElement} */ ($('episodes')).open) sayIn('episodes-message', text, isError);
  else if (text) say(text, isError);
}

/** What an episode's row says of it besides its title: its state and length. @param {Episode} e */
function episodeFacts(e) {
  /** @type {Record<string, string>} */
  const states = {
    processing: 'being made playable',
    unplayable: `unplayable${e.media_error ? ` (${e.media_error})` : ''}`,
    registered: 'not tagged yet',
    tagging: 'being tagged',
    tagged: 'tagged',
    failed: 'its last tag job failed',
  };
  const length = e.duration_ms ? ` · ${(e.duration_ms / 1000).toFixed(1)} s` : '';
  const progress = episodeList.tagging.get(e.id);
  if (progress !== undefined) return `being tagged ${percent(progress)}${length}`;
  const transcoded = episodeTranscodes.get(e.id);
  if (e.status === 'processing' && transcoded !== undefined) return `being made playable ${percent(transcoded)}${length}`;
  return `${states[e.status ?? ''] ?? e.status ?? ''}${length}`;
}

async function openEpisodes() {
  if (!upload.request) sayIn('episodes-message', '', false); // an upload under way keeps its progress
  episodeList.confirming = null;
  episodeResults.clear(); // read again when asked: shoppers keep buying
  /** @type {HTMLDialogElement} */ ($('episodes')).showModal();
  await Promise.all([loadEpisodes(true), loadBrandTotals()]);
}

/** Money per currency, as the API gives it ({"EUR": "59.90"}): "59.90 EUR"; several joined with " + ".
 * @param {Record<string, string>} amounts */
const money = (amounts) => Object.entries(amounts).map(([currency, amount]) => `${amount} ${currency}`).join(' + ');

/** A funnel in one line: shown, tapped, Buy pressed, ordered, kept (and given back). @param {Funnel} f */
function funnelLine(f) {
  const count = (/** @type {number} */ n, /** @type {string} */ one, /** @type {string} */ many) => `${n} ${n === 1 ? one : many}`;
  const parts = [
    `shown ${count(f.impressions, 'time', 'times')}`,
    count(f.taps, 'tap', 'taps'),
    count(f.checkouts_started, 'Buy press', 'Buy presses'),
    count(f.orders_paid, 'order', 'orders'),
  ];
  const kept = money(f.revenue);
  const refunded = money(f.refunded);
  if (kept) parts.push(`${kept} kept`);
  if (refunded) parts.push(`${refunded} refunded`);
  return parts.join(' · ');
}

/**
 * The days the results are for, as the analytics routes' query: '' for all time, else `?since=` the first
 * UTC day of the last n (today included; the API counts UTC days).
 */
function resultsRangeQuery() {
  const days = Number(/** @type {HTMLSelectElement} */ ($('results-range')).value);
  if (!days) return '';
  const since = new Date(Date.now() - (days - 1) * 86_400_000).toISOString().slice(0, 10);
  return `?since=${since}`;
}

/** What the totals line calls the days chosen: "" for all time, else ", the last 7 days". */
function resultsRangeWords() {
  const select = /** @type {HTMLSelectElement} */ ($('results-range'));
  return select.value ? `, ${select.selectedOptions[0]?.textContent ?? ''}` : '';
}

// The brand's totals: read again when the dialog opens at most this often (for the same days).
const TOTALS_FRESH_MS = 60_000;
let totalsReadAt = 0;
let totalsReadFor = '';
// Moves on each time other days are chosen: an answer read for the days chosen before is dropped. (Not the
// query itself: "today" names another day after midnight, and an answer read just before is still wanted.)
let resultsDaysChosen = 0;

/** @param {boolean} [again] read them even if read a moment ago (the days changed) */
async function loadBrandTotals(again = false) {
  const session = keySession;
  const chosen = resultsDaysChosen;
  const query = resultsRangeQuery();
  const fresh = Date.now() - totalsReadAt < TOTALS_FRESH_MS && totalsReadFor === query;
  if (!again && fresh && $('episodes-totals').textContent) return;
  // Dropped when another key signed in, or other days were chosen, meanwhile (their own read says)
  const awaited = () => session === keySession && chosen === resultsDaysChosen;
  try {
    const { data } = await api('GET', `/v1/analytics/brands/me${query}`);
    if (!awaited()) return;
    $('episodes-totals').textContent = `All episodes${resultsRangeWords()}: ${funnelLine(data)}.`;
    totalsReadAt = Date.now();
    totalsReadFor = query;
  } catch (error) {
    if (!awaited()) return;
    if (!(error instanceof ApiError && error.status === 401)) {
      $('episodes-totals').textContent = `The brand's results could not be read: ${errorText(error)}`;
    }
  }
}

/** Other days chosen: the totals, and every episode's results shown, read again for them. */
function resultsRangeChanged() {
  resultsDaysChosen += 1;
  const shown = [...episodeResults.keys()];
  episodeResults.clear();
  void loadBrandTotals(true);
  for (const id of shown) {
    const e = episodeList.items.find((item) => item.id === id);
    if (e) void toggleResults(e);
  }
  renderEpisodes();
}

/** Show or hide an episode's results under its row, read when shown. @param {Episode} e */
async function toggleResults(e) {
  if (episodeResults.has(e.id)) {
    episodeResults.delete(e.id);
    renderEpisodes();
    return;
  }
  const session = keySession;
  const chosen = resultsDaysChosen;
  const asked = 'Reading its results…';
  episodeResults.set(e.id, asked);
  renderEpisodes();
  // Still waited for: the same key, the same days, and not hidden (or hidden and shown again) meanwhile
  const awaited = () => session === keySession && chosen === resultsDaysChosen && episodeResults.get(e.id) === asked;
  try {
    const { data } = await api('GET', `/v1/analytics/episodes/${encodeURIComponent(e.id)}${resultsRangeQuery()}`);
    if (!awaited()) return;
    episodeResults.set(e.id, /** @type {AnalyticsReport} */ (data));
  } catch (error) {
    if (!awaited()) return;
    if (error instanceof ApiError && error.status === 401) return;
    episodeResults.set(e.id, `Its results could not be read: ${errorText(error)}`);
  }
  renderEpisodes();
}

/** An episode's results: its funnel, then a row per placement that was shown, tapped or sold.
 * @param {AnalyticsReport | string} report */
function resultsNode(report) {
  if (typeof report === 'string') return h('div', { class: 'ep-results', role: 'status' }, [report]);
  const active = report.placements.filter((p) => p.impressions || p.taps || p.checkouts_started || p.orders_paid);
  if (!active.length) {
    const none = report.since || report.until ? 'was shown to a viewer on these days' : 'has been shown to a viewer yet';
    return h('div', { class: 'ep-results' }, [`${funnelLine(report)}. No hotspot of it ${none}.`]);
  }
  const cell = (/** @type {string} */ text) => h('td', {}, [text]);
  const head = ['Hotspot', 'Shown', 'Taps', 'Tap rate', 'Buy presses', 'Orders', 'Kept'];
  return h('div', { class: 'ep-results' }, [
    `${funnelLine(report)}.`,
    h('table', {}, [
      h('thead', {}, [h('tr', {}, head.map((name) => h('th', { scope: 'col' }, [name])))]),
      h('tbody', {}, active.map((p) => h('tr', { 'data-placement': p.placement_id }, [
        h('th', { scope: 'row' }, [p.product_title ?? `Unknown product (${p.label})`]),
        cell(String(p.impressions)),
        cell(String(p.taps)),
        cell(p.tap_rate == null ? '–' : percent(p.tap_rate)),
        cell(String(p.checkouts_started)),
        cell(String(p.orders_paid)),
        cell(money(p.revenue) || '–'),
      ]))),
    ]),
  ]);
}

/** @param {boolean} reset */
async function loadEpisodes(reset) {
  const session = keySession;
  try {
    const offset = reset ? 0 : episodeList.items.length;
    const { data } = await api('GET', `/v1/episodes?limit=${EPISODES_PAGE}&offset=${offset}`);
    if (session !== keySession) return;
    /** @type {Episode[]} */
    const listed = data?.items ?? [];
    episodeList.items = reset ? listed : [...episodeList.items, ...listed.filter((e) => !episodeList.items.some((o) => o.id === e.id))];
    episodeList.total = data?.total ?? episodeList.items.length;
    renderEpisodes();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    episodesSay(`Could not list the episodes: ${errorText(error)}`, true);
  }
}

function renderEpisodes() {
  const list = $('episodes-list');
  list.replaceChildren(...episodeList.items.map((e) => {
    const confirming = episodeList.confirming === e.id;
    /** @type {(Node | string)[]} */
    const actions = [];
    if (confirming) {
      const sure = h('button', { type: 'button', class: 'reject' }, ['Delete for good']);
      sure.addEventListener('click', () => void deleteEpisode(e));
      const keep = h('button', { type: 'button' }, ['Keep it']);
      keep.addEventListener('click', () => {
        episodeList.confirming = null;
        episodesSay('');
        renderEpisodes();
      });
      actions.push(h('span', { class: 'confirm' }, [`Delete “${e.title}”, its placements and its analytics?`]), ' ', sure, ' ', keep);
    } else {
      const taggable = e.status === 'registered' || e.status === 'tagged' || e.status === 'failed';
      if (taggable && !episodeList.tagging.has(e.id)) {
        const tag = h('button', { type: 'button' }, [e.status === 'registered' ? 'Tag' : 'Tag again']);
        tag.addEventListener('click', () => void tagEpisode(e));
        actions.push(tag, ' ');
      }
      if (e.status === 'unplayable') {
        const retry = h('button', { type: 'button' }, ['Transcode again']);
        retry.addEventListener('click', () => void retryTranscode(e));
        actions.push(retry, ' ');
      }
      if (e.status !== 'processing' && e.status !== 'unplayable') {
        const results = h('button', { type: 'button', 'aria-expanded': String(episodeResults.has(e.id)) }, ['Results']);
        results.addEventListener('click', () => void toggleResults(e));
        actions.push(results, ' ');
      }
      if (e.video_url) {
        const draw = h('button', { type: 'button', 'aria-label': `Add a hotspot to “${e.title}”…` }, ['Add a hotspot…']);
        draw.addEventListener('click', () => void openDraw(e));
        actions.push(draw, ' ');
      }
      const remove = h('button', { type: 'button', 'aria-label': `Delete “${e.title}”…` }, ['Delete…']);
      remove.addEventListener('click', () => {
        episodeList.confirming = e.id;
        episodesSay('');
        renderEpisodes();
        /** @type {HTMLElement | null} */ (list.querySelector(`li[data-episode="${CSS.escape(e.id)}"] button.reject`))?.focus();
      });
      actions.push(remove);
    }
    const report = episodeResults.get(e.id);
    return h('li', { 'data-episode': e.id }, [
      h('span', { class: 'ep-text' }, [h('strong', {}, [e.title]), ' ', h('span', { class: 'ep-facts' }, [episodeFacts(e)])]), ' ',
      h('span', { class: 'ep-actions' }, actions),
      ...(report === undefined ? [] : [' ', resultsNode(report)]),
    ]);
  }));
  $('episodes-none').hidden = episodeList.items.length > 0;
  $('episodes-more').hidden = episodeList.items.length >= episodeList.total;
}

/** @param {Episode} e */
async function deleteEpisode(e) {
  if (episodeList.busy) return;
  episodeList.busy = true;
  try {
    await api('DELETE', `/v1/episodes/${encodeURIComponent(e.id)}`);
    episodesSay(`Deleted “${e.title}”: its placements are off the timeline and out of the queue.`);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) {
      episodeList.confirming = null;
      renderEpisodes();
      if (!(error instanceof ApiError && error.status === 401)) episodesSay(`Not deleted: ${deleteRefusal(error)}`, true);
      return;
    }
    episodesSay(`“${e.title}” was already deleted.`);
  } finally {
    episodeList.busy = false;
  }
  await forgetEpisode(e);
}

/**
 * Why the API kept an episode, in the console's words where the console offers the way out.
 * @param {unknown} error
 */
function deleteRefusal(error) {
  const problem = error instanceof ApiError ? error.problem : {};
  if (problem.type?.endsWith('/already-sold')) {
    return 'shoppers started checkouts from its hotspots, so it stays with your sales records. ' +
      'Reject its placements in the queue to take its hotspots down.';
  }
  if (problem.type?.endsWith('/job-in-progress')) {
    return `${problem.detail ?? 'a job of the episode is under way'}.`;
  }
  return problem.detail ?? errorText(error);
}

/** Drop a deleted episode from the list, the empty queue's links and the queue itself. @param {Episode} e */
async function forgetEpisode(e) {
  episodeList.items = episodeList.items.filter((o) => o.id !== e.id);
  episodeList.total = Math.max(0, episodeList.total - 1);
  episodeList.confirming = null;
  state.episodes.delete(e.id);
  renderEpisodes();
  try {
    if (state.items.some((p) => p.episode_id === e.id)) {
      await reloadQueueKeeping(current()?.episode_id === e.id ? undefined : current()?.id);
    } else if (!state.items.length) {
      await renderDone();
    }
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) {
      say(`The episode is deleted, but the queue could not be loaded again: ${errorText(error)}`, true);
    }
  }
}

/** @param {Episode} e */
async function retryTranscode(e) {
  if (episodeList.busy) return;
  episodeList.busy = true;
  try {
    const { data: job } = await api('POST', `/v1/episodes/${encodeURIComponent(e.id)}/transcode-jobs`);
    episodesSay(`Transcoding “${e.title}” again; tag it once it is ready.`);
    e.status = 'processing';
    e.media_error = null;
    e.video_url = null;
    void followTranscode(e, `/v1/transcode-jobs/${encodeURIComponent(job.id)}`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    const detail = error instanceof ApiError ? error.problem.detail : undefined;
    episodesSay(`Not transcoded again: ${detail ?? errorText(error)}.`, true);
    await loadEpisodes(true); // what stands now (a colleague's retry, a deletion)
  } finally {
    episodeList.busy = false;
    renderEpisodes();
  }
}

/** A fresh Idempotency-Key; `crypto.randomUUID` needs a secure context, which plain HTTP is not. */
function newIdempotencyKey() {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * POST a file as the raw body, with upload progress (fetch reports none); a 401 signs out, as `api` does.
 * The request is kept in `upload.request`, so signing out aborts it.
 * @param {string} path
 * @param {File} file
 * @param {string} key the Idempotency-Key
 * @param {(fraction: number) => void} onProgress
 * @returns {Promise<{status: number, data: any}>}
 */
function sendFile(path, file, key, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    upload.request = xhr;
    xhr.open('POST', `${apiBase}${path}`);
    xhr.setRequestHeader('Accept', 'application/json, application/problem+json');
    xhr.setRequestHeader('Authorization', `Bearer ${sessionStorage.getItem(KEY_STORAGE) ?? ''}`);
    // The API tells a video by its content, never its type; it refuses only forms and JSON.
    xhr.setRequestHeader('Content-Type', file.type.startsWith('video/') ? file.type : 'application/octet-stream');
    xhr.setRequestHeader('Idempotency-Key', key);
    xhr.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener('load', () => {
      try {
        resolve({ status: xhr.status, data: answerOf(xhr.status, xhr.responseText) });
      } catch (error) {
        reject(error);
      }
    });
    xhr.addEventListener('error', () => {
      reject(new Error('the connection dropped before the API answered; upload the same file again to finish'));
    });
    xhr.addEventListener('abort', () => reject(new Error('the upload was stopped')));
    xhr.send(file);
  });
}

async function uploadEpisode() {
  const file = /** @type {HTMLInputElement} */ ($('upload-file')).files?.[0];
  const title = /** @type {HTMLInputElement} */ ($('upload-title')).value.trim();
  if (!file || !title) {
    episodesSay('Choose a video file and give the episode a title.', true);
    return;
  }
  if (upload.request) return;
  // The same file picked again is a new File object: it is known by what it is, not by the object.
  const fingerprint = JSON.stringify([file.name, file.size, file.lastModified, title]);
  if (upload.fingerprint !== fingerprint) Object.assign(upload, { key: newIdempotencyKey(), fingerprint });
  const session = keySession;
  const bar = /** @type {HTMLProgressElement} */ ($('upload-progress'));
  bar.value = 0;
  bar.hidden = false;
  /** @type {HTMLButtonElement} */ ($('upload-send')).disabled = true;
  episodesSay(`Uploading “${title}”…`);
  try {
    const path = `/v1/episodes/upload?title=${encodeURIComponent(title)}&filename=${encodeURIComponent(file.name)}`;
    const { data } = await sendFile(path, file, upload.key, (fraction) => {
      bar.value = fraction;
      episodesSay(`Uploading “${title}”: ${percent(fraction)}…`);
    });
    if (session !== keySession) return;
    const episode = /** @type {Episode & {transcode_job?: string | null}} */ (data);
    episodesSay(episode.status === 'processing'
      ? `Uploaded “${episode.title}”. It is being made playable in browsers; tag it once it is ready.`
      : `Uploaded “${episode.title}”. Tag it to find its products.`);
    Object.assign(upload, { key: '', fingerprint: '' });
    /** @type {HTMLFormElement} */ ($('episode-upload')).reset();
    await loadEpisodes(true);
    if (episode.status === 'processing' && episode.transcode_job) void followTranscode(episode, episode.transcode_job);
  } catch (error) {
    if (session !== keySession || (error instanceof ApiError && error.status === 401)) return;
    const detail = error instanceof ApiError ? error.problem.detail : undefined;
    episodesSay(`Not uploaded: ${detail ?? errorText(error)}`, true);
  } finally {
    if (session === keySession) {
      upload.request = null;
      bar.hidden = true;
      /** @type {HTMLButtonElement} */ ($('upload-send')).disabled = false;
    }
  }
}

/** @param {Episode} e */
async function tagEpisode(e) {
  if (episodeList.busy) return;
  episodeList.busy = true;
  try {
    const { data: job } = await api('POST', `/v1/episodes/${encodeURIComponent(e.id)}/tag-jobs`);
    episodeList.tagging.set(e.id, job.progress ?? 0);
    episodesSay(`Tagging “${e.title}”: its products go to the queue when the job is done.`);
    void followTagJob(e, job.id);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    const detail = error instanceof ApiError ? error.problem.detail : undefined;
    episodesSay(`Not tagged: ${detail ?? errorText(error)}.`, true);
    await loadEpisodes(true);
  } finally {
    episodeList.busy = false;
    renderEpisodes();
  }
}

/**
 * Poll a job (`/v1/tag-jobs/…`, `/v1/transcode-jobs/…`) until it is done or failed, less often as it goes
 * on (a long episode's job takes minutes); `onProgress` hears its progress on the way. Null once the
 * reviewer signed out, or when the job could not be read (said so).
 * @param {string} path
 * @param {string} what for the message when it cannot be read
 * @param {(progress: number) => void} onProgress
 * @param {(text: string, isError?: boolean) => void} [tell] where a failure to read it is said (the
 *   Episodes dialog's line, by default)
 * @returns {Promise<any>}
 */
async function finishedJob(path, what, onProgress, tell = episodesSay) {
  const session = keySession;
  for (let wait = JOB_POLL_MS; ; wait = Math.min(wait * 1.25, JOB_POLL_MAX_MS)) {
    await new Promise((resolve) => { setTimeout(resolve, wait); });
    if (session !== keySession) return null;
    try {
      const { data: job } = await api('GET', path);
      if (session !== keySession) return null;
      if (job.state === 'done' || job.state === 'failed') return job;
      onProgress(job.progress ?? 0);
    } catch (error) {
      if (session === keySession && !(error instanceof ApiError && error.status === 401)) {
        tell(`Could not follow ${what}: ${errorText(error)}`, true);
      }
      return null;
    }
  }
}

/** Set a listed episode's status (the list may have been loaded again since: found by id).
 * @param {string} id @param {Episode['status']} status @param {string | null} [mediaError] */
function listedStatus(id, status, mediaError = null) {
  const listed = episodeList.items.find((o) => o.id === id);
  if (listed) Object.assign(listed, { status, media_error: mediaError });
  renderEpisodes();
}

/**
 * Follow a tag job started here until it is done or failed, then say what it found and bring its
 * proposals into the queue (`takeEpisodeProposals`: the placement under review is left as it is).
 * @param {Episode} e
 * @param {string} jobId
 */
async function followTagJob(e, jobId) {
  const session = keySession;
  const job = await finishedJob(`/v1/tag-jobs/${encodeURIComponent(jobId)}`, `the tag job of “${e.title}”`, (progress) => {
    episodeList.tagging.set(e.id, progress);
    renderEpisodes();
  });
  if (session !== keySession) return;
  episodeList.tagging.delete(e.id);
  renderEpisodes();
  if (!job) return;
  if (job.state === 'failed') {
    // A failed re-tag keeps the episode tagged: the list says what the API says.
    episodesSay(`Tagging “${e.title}” did not finish: ${job.summary ?? job.error ?? 'no reason given'}`, true);
    await loadEpisodes(true);
    return;
  }
  listedStatus(e.id, 'tagged');
  const found = `Tagged “${e.title}”: ${job.summary ?? `${placements(job.placements_found)} found`}.`;
  try {
    const added = await takeEpisodeProposals(e.id);
    if (session !== keySession) return;
    episodesSay(added ? `${found} ${added} to review ${added === 1 ? 'is' : 'are'} in the queue.` : found);
  } catch (error) {
    if (session !== keySession || (error instanceof ApiError && error.status === 401)) return;
    episodesSay(`${found} The queue could not take its proposals (${errorText(error)}): reload the page.`, true);
  }
}

// A finished tag job's proposals are taken 200 at a time (the queue API's largest page), at most 10 pages.
const EPISODE_PROPOSALS_PAGE = 200;
const EPISODE_PROPOSALS_PAGES = 10;

/**
 * Bring an episode's proposals into the queue after its tag job, without disturbing the placement under
 * review (its edits, its clip): new ones join at the end, and ones a re-tag replaced leave. Only when the
 * placement shown was itself replaced is the queue loaded again. Returns how many of the episode's
 * proposals are in the queue now.
 * @param {string} episodeId
 */
async function takeEpisodeProposals(episodeId) {
  /** @type {ReviewPlacement[]} */
  const proposals = [];
  const session = keySession;
  let cursor = '';
  let pages = 0;
  // Every page of them (a long episode's job can propose hundreds), up to a bound that keeps the queue's
  // list one a browser draws at once; the queue's Load more brings any beyond it.
  do {
    const { data } = await api('GET', `/v1/review/queue?status=proposed&episode_id=${encodeURIComponent(episodeId)}`
      + `&limit=${EPISODE_PROPOSALS_PAGE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    if (session !== keySession) return 0; // signed out meanwhile: another key's pages are not this brand's
    proposals.push(...(data.items ?? []).filter((/** @type {ReviewPlacement} */ p) => !proposals.some((q) => q.id === p.id)));
    cursor = data.next_cursor ?? '';
    pages += 1;
  } while (cursor && pages < EPISODE_PROPOSALS_PAGES);
  const complete = !cursor;
  const ids = new Set(proposals.map((p) => p.id));
  const shown = current();
  if (complete && shown && shown.episode_id === episodeId && !ids.has(shown.id)) {
    await loadQueue(true); // the placement under review was replaced by the re-tag
    return proposals.length;
  }
  noteQueued(proposals);
  const wasEmpty = !state.items.length;
  const kept = state.items.filter((p) => p.episode_id !== episodeId || !complete || ids.has(p.id));
  state.items = [...kept, ...proposals.filter((p) => !kept.some((q) => q.id === p.id))];
  state.index = shown ? Math.max(0, state.items.findIndex((p) => p.id === shown.id)) : 0;
  renderQueue();
  if (wasEmpty && state.items.length) await select(0);
  return proposals.length;
}

/**
 * Follow the transcode that makes an episode playable, then say it can be tagged (or why it cannot).
 * @param {Episode} e
 * @param {string} path its `transcode_job`, or the job a retry started
 */
async function followTranscode(e, path) {
  const job = await finishedJob(path, `the transcode of “${e.title}”`, (progress) => {
    episodeTranscodes.set(e.id, progress);
    renderEpisodes();
  });
  episodeTranscodes.delete(e.id);
  if (!job) {
    renderEpisodes();
    return;
  }
  if (job.state === 'failed') {
    listedStatus(e.id, 'unplayable', job.error ?? null);
    episodesSay(`“${e.title}” could not be made playable: ${job.error ?? 'no reason given'}`, true);
    return;
  }
  listedStatus(e.id, 'registered');
  episodesSay(`“${e.title}” plays in browsers now: tag it to find its products.`);
  await refreshListed(e.id);
}

/**
 * Read a listed episode again (its video URL comes once it plays); the list stays as it was when it cannot.
 * @param {string} id
 */
async function refreshListed(id) {
  const session = keySession;
  try {
    const { data } = await api('GET', `/v1/episodes/${encodeURIComponent(id)}`);
    const listed = episodeList.items.find((o) => o.id === id);
    if (session !== keySession || !listed) return;
    Object.assign(listed, /** @type {Episode} */ (data));
    renderEpisodes();
  } catch {
    // The next listing brings it.
  }
}

// ---- episodes: a hotspot drawn by hand -------------------------------------------------------------------

// A drawn hotspot's span unless the person says otherwise, where the episode's shots are not known: from
// the frame it was drawn on, this long. Where they are, it is the shot the frame is in.
const DRAW_SPAN_MS = 3000;

/** @typedef {{start_ms: number, end_ms: number, approved: number, proposed: number}} Shot */

/**
 * The hotspot being drawn on an episode (a product the tagger missed). `box` is [x, y, w, h] in fractions of
 * the picture, drawn at `atMs`; `from` and `draft`: the drag under way; `spanTouched`: the person typed a
 * start or end, so a box drawn again keeps them.
 * `shots`: the episode's shots as its last tag job cut it (GET /v1/episodes/{id}/shots), null when not known.
 * `key`: the Idempotency-Key of the hotspot being drawn, kept until it is added, so pressing "Add hotspot"
 * again after a lost answer cannot add it twice.
 * @type {{episode: Episode | null, box: Box | null, atMs: number, product: {id: string, title: string} | null,
 *   spanTouched: boolean, sending: boolean, from: [number, number] | null, draft: Box | null, shots: Shot[] | null,
 *   key: string}}
 */
const drawing = {
  episode: null, box: null, atMs: 0, product: null, spanTouched: false, sending: false, from: null, draft: null,
  shots: null, key: '',
};

/** @param {string} text @param {boolean} [isError] */
function drawSay(text, isError = false) {
  sayIn('draw-message', text, isError);
}

/** Seconds as the span inputs and messages show them: "2.033", no trailing zeros. @param {number} ms */
const secondsInput = (ms) => String(ms / 1000);

function forgetDrawing() {
  Object.assign(drawing, {
    episode: null, box: null, atMs: 0, product: null, spanTouched: false, sending: false, from: null, draft: null,
    shots: null, key: newIdempotencyKey(),
  });
  $('draw-shots').replaceChildren();
  const video = /** @type {HTMLVideoElement} */ ($('draw-video'));
  video.pause();
  video.removeAttribute('src');
  video.load(); // stops fetching the video of an episode no longer drawn on
}

/**
 * Open the drawing dialog on an episode. Its listed video URL may have expired (it is signed), so the episode
 * is read again first; the dialog opens only on one that plays.
 * @param {Episode} e
 */
async function openDraw(e) {
  const session = keySession;
  /** @type {Episode} */
  let episode;
  try {
    const [{ data }] = await Promise.all([api('GET', `/v1/episodes/${encodeURIComponent(e.id)}`), loadMath()]);
    episode = data;
  } catch (error) {
    if (session !== keySession || (error instanceof ApiError && error.status === 401)) return;
    if (error instanceof ApiError && error.status === 404) {
      episodesSay(`“${e.title}” is no longer one of your episodes.`, true);
      await loadEpisodes(true);
      return;
    }
    episodesSay(`Could not open “${e.title}”: ${errorText(error)}`, true);
    return;
  }
  if (session !== keySession) return;
  const listed = episodeList.items.find((o) => o.id === e.id);
  if (listed) Object.assign(listed, episode);
  if (!episode.video_url) {
    renderEpisodes();
    episodesSay(`“${episode.title}” does not play yet, so there is no frame to draw on.`, true);
    return;
  }
  if (!math) {
    episodesSay('Drawing needs the overlay\'s timeline math, which did not load: reload the page.', true);
    return;
  }
  forgetDrawing();
  drawing.episode = episode;
  $('draw-title').textContent = `Add a hotspot to “${episode.title}”`;
  const video = /** @type {HTMLVideoElement} */ ($('draw-video'));
  video.src = new URL(episode.video_url, location.href).href;
  const seek = /** @type {HTMLInputElement} */ ($('draw-seek'));
  seek.max = String((episode.duration_ms ?? 0) / 1000);
  seek.value = '0';
  /** @type {HTMLFormElement} */ ($('draw-form')).reset();
  /** @type {HTMLInputElement} */ ($('draw-q')).value = '';
  $('draw-results').replaceChildren();
  drawSay('Pause where the product shows and drag over it to draw its box.');
  renderDrawing();
  void loadDrawShots(episode);
  const dialog = /** @type {HTMLDialogElement} */ ($('draw'));
  if (!dialog.open) dialog.showModal(); // a second click on the episode's button while its read was under way
  $('draw-play').focus();
}

/** How long the episode runs, in ms: as the API measured it, else as the browser does. */
function drawDurationMs() {
  const video = /** @type {HTMLVideoElement} */ ($('draw-video'));
  const listed = drawing.episode?.duration_ms ?? 0;
  return listed > 0 ? listed : Number.isFinite(video.duration) ? Math.round(video.duration * 1000) : 0;
}

/**
 * Where the picture is drawn inside the video element (object-fit letterboxes it), in element pixels, as the
 * clip box and the player map boxes; null before the video's size is known.
 */
function drawnPicture() {
  const video = /** @type {HTMLVideoElement} */ ($('draw-video'));
  if (!math || !video.videoWidth || !video.videoHeight) return null;
  const style = getComputedStyle(video);
  return math.renderedRect(video.clientWidth, video.clientHeight, video.videoWidth, video.videoHeight,
    /** @type {import('../types').ObjectFit} */ (style.objectFit), math.parseObjectPosition(style.objectPosition));
}

/**
 * The inverse of `boxToRect` for one point: a pointer over the video as fractions of the picture (what boxes
 * are normalized to), clamped to its edges, so a drag that strays into the letterbox bars stops at the frame.
 * @param {PointerEvent} event @param {import('../types').Rect} picture @returns {[number, number]}
 */
function pictureFraction(event, picture) {
  const at = $('draw-video').getBoundingClientRect();
  const clamp = (/** @type {number} */ v) => Math.min(1, Math.max(0, v));
  return [
    clamp((event.clientX - at.left - picture.x) / picture.width),
    clamp((event.clientY - at.top - picture.y) / picture.height),
  ];
}

/**
 * The box two corners span, [x, y, w, h], in thousandths of the frame (what the inputs show is what is sent;
 * the right and bottom edges are rounded, not the size, so the box never leaves the frame).
 * @param {[number, number]} a @param {[number, number]} b @returns {Box}
 */
function boxBetween(a, b) {
  const r = (/** @type {number} */ v) => Math.round(v * 1000) / 1000;
  const [x0, y0, x1, y1] = spanned(a, b).map(r);
  return [x0, y0, r(x1 - x0), r(y1 - y0)];
}

/** A box the API takes: a size, inside the frame. @param {Box} box */
const boxInFrame = ([x, y, w, hgt]) => w > 0 && hgt > 0 && x >= 0 && y >= 0 && x + w <= 1.0001 && y + hgt <= 1.0001;

/**
 * The default span for a box drawn at `atMs`: the shot it is in, where the shots are known; else from there,
 * DRAW_SPAN_MS long, within the episode.
 * @param {number} atMs @returns {[number, number]}
 */
function defaultSpan(atMs) {
  const shot = drawing.shots?.find((s) => s.start_ms <= atMs && atMs <= s.end_ms);
  if (shot && shot.end_ms > shot.start_ms) return [shot.start_ms, shot.end_ms];
  const duration = drawDurationMs();
  const start = Math.min(atMs, duration);
  const end = Math.min(start + DRAW_SPAN_MS, duration);
  // Drawn on the last frame: the span ends there instead of starting there.
  return end > start ? [start, end] : [Math.max(0, end - DRAW_SPAN_MS), end];
}

/** A box was drawn (or typed) on the frame at the playhead. @param {Box} box */
function boxDrawn(box) {
  const video = /** @type {HTMLVideoElement} */ ($('draw-video'));
  drawing.box = box;
  drawing.atMs = Math.round(video.currentTime * 1000);
  if (!drawing.spanTouched) {
    const [start, end] = defaultSpan(drawing.atMs);
    /** @type {HTMLInputElement} */ ($('draw-start')).value = secondsInput(start);
    /** @type {HTMLInputElement} */ ($('draw-end')).value = secondsInput(end);
  }
  renderDrawing();
}

/** The box, the inputs, the product and whether "Add hotspot" can be pressed, as `drawing` has them. */
function renderDrawing() {
  const boxEl = $('draw-box');
  const box = drawing.draft ?? drawing.box;
  const picture = drawnPicture();
  const video = /** @type {HTMLVideoElement} */ ($('draw-video'));
  const r = box && picture && math ? math.boxToRect(box, picture, video.clientWidth, video.clientHeight) : null;
  boxEl.hidden = !r;
  boxEl.classList.toggle('draft', Boolean(drawing.draft));
  if (r) Object.assign(boxEl.style, { left: `${r.x}px`, top: `${r.y}px`, width: `${r.width}px`, height: `${r.height}px` });
  ['draw-x', 'draw-y', 'draw-w', 'draw-h'].forEach((id, i) => {
    const input = /** @type {HTMLInputElement} */ ($(id));
    if (document.activeElement !== input) input.value = box ? String(box[i]) : '';
  });
  $('draw-kf').textContent = drawing.box
    ? `Box drawn at ${seconds(drawing.atMs)}; the player holds it over the span.`
    : 'No box yet: pause on a frame that shows the product and drag over it (or type the box).';
  $('draw-product').replaceChildren(...(drawing.product
    ? ['Product: ', h('strong', {}, [drawing.product.title])]
    : ['No product picked yet: find it in your catalog.']));
  for (const button of $('draw-results').querySelectorAll('button[data-product]')) {
    button.setAttribute('aria-pressed', String(button.getAttribute('data-product') === drawing.product?.id));
  }
  /** @type {HTMLButtonElement} */ ($('draw-send')).disabled = drawing.sending || !drawing.box || !drawing.product;
}

/**
 * The episode's shots, and which have no hotspot yet: where the products the tagger missed would be. A shot
 * button shows its middle frame, to draw on. Nothing is lost when they cannot be read: the span is then typed.
 * @param {Episode} episode
 */
async function loadDrawShots(episode) {
  const session = keySession;
  try {
    const { data } = await api('GET', `/v1/episodes/${encodeURIComponent(episode.id)}/shots`);
    if (session !== keySession || drawing.episode !== episode) return;
    drawing.shots = data.shots ?? null;
  } catch (error) {
    if (session !== keySession || drawing.episode !== episode || (error instanceof ApiError && error.status === 401)) return;
    drawing.shots = null;
  }
  renderDrawShots();
}

function renderDrawShots() {
  const shots = drawing.shots;
  const place = $('draw-shots');
  if (!shots) {
    place.replaceChildren('Tag the episode to list the shots that have no hotspot yet.');
    return;
  }
  const bare = shots.filter((shot) => !shot.approved);
  if (!bare.length) {
    place.replaceChildren(`Every one of its ${shots.length} shots has a hotspot.`);
    return;
  }
  const span = (/** @type {Shot} */ shot) => `${(shot.start_ms / 1000).toFixed(1)}–${(shot.end_ms / 1000).toFixed(1)} s`;
  place.replaceChildren(`${bare.length} of its ${shots.length} shots have no hotspot: `, ...bare.flatMap((shot) => {
    const go = h('button', {
      type: 'button', 'data-shot': String(shot.start_ms),
      'aria-label': `Show the shot ${span(shot)}${shot.proposed ? `, ${shot.proposed} awaiting review` : ''}`,
    }, [span(shot) + (shot.proposed ? ` (${shot.proposed} to review)` : '')]);
    go.addEventListener('click', () => {
      const video = /** @type {HTMLVideoElement} */ ($('draw-video'));
      video.pause();
      video.currentTime = (shot.start_ms + shot.end_ms) / 2000;
    });
    return [go, ' '];
  }));
}

/**
 * Follow a hotspot just drawn through its span (POST /v1/placements/{id}/follow-jobs): a worker finds the
 * product in the frames around the drawn one and its box moves with it. The dialog says how it went; the
 * hotspot is live meanwhile, with the box as drawn.
 * @param {ReviewPlacement} added @param {string} said what the dialog says of the hotspot already
 */
async function followDrawn(added, said) {
  const session = keySession;
  const episode = drawing.episode;
  const tell = (/** @type {string} */ text, isError = false) => {
    if (session === keySession && drawing.episode === episode) drawSay(`${said} ${text}`, isError);
  };
  let job;
  try {
    ({ data: job } = await api('POST', `/v1/placements/${encodeURIComponent(added.id)}/follow-jobs`));
  } catch (error) {
    if (session !== keySession || (error instanceof ApiError && error.status === 401)) return;
    const detail = error instanceof ApiError ? error.problem.detail : undefined;
    tell(`Its box was not followed: ${detail ?? errorText(error)}.`, true);
    return;
  }
  tell('Following the product through the span…');
  const done = await finishedJob(`/v1/follow-jobs/${encodeURIComponent(job.id)}`, 'the hotspot\'s box',
    (progress) => tell(`Following the product through the span… ${percent(progress)}`), (text, isError) => tell(text, isError));
  if (!done) return;
  if (done.state === 'failed') tell(`Its box was not followed: ${done.error ?? 'no reason given'}.`, true);
  else if (done.keyframes > 0) tell(`Its box follows the product: ${done.summary}.`);
  else tell(`Its box stays where it was drawn: ${(done.summary ?? '').replace(/^nothing stored: /, '')}.`);
}

/** The playhead's time in the controls under the video. */
function renderDrawTime() {
  const video = /** @type {HTMLVideoElement} */ ($('draw-video'));
  const seek = /** @type {HTMLInputElement} */ ($('draw-seek'));
  seek.value = String(video.currentTime);
  $('draw-time').textContent = `${seconds(video.currentTime * 1000)} of ${seconds(drawDurationMs())}`;
  $('draw-play').textContent = video.paused ? 'Play' : 'Pause';
}

function enableHotspotDrawing() {
  const layer = $('draw-layer');
  const video = /** @type {HTMLVideoElement} */ ($('draw-video'));
  layer.addEventListener('pointerdown', (event) => {
    const picture = drawnPicture();
    if (event.button !== 0 || !drawing.episode || !picture) return;
    event.preventDefault();
    // The box belongs to the frame under it: the video stops there.
    video.pause();
    layer.setPointerCapture(event.pointerId);
    drawing.from = pictureFraction(event, picture);
    drawing.draft = null;
  });
  layer.addEventListener('pointermove', (event) => {
    const picture = drawnPicture();
    if (!drawing.from || !picture) return;
    drawing.draft = boxBetween(drawing.from, pictureFraction(event, picture));
    renderDrawing();
  });
  layer.addEventListener('pointerup', (event) => {
    const picture = drawnPicture();
    if (!drawing.from || !picture) return;
    const box = boxBetween(drawing.from, pictureFraction(event, picture));
    drawing.from = null;
    drawing.draft = null;
    if (box[2] >= MIN_MARK && box[3] >= MIN_MARK) {
      boxDrawn(box);
      drawSay(drawing.product ? 'Box drawn: add the hotspot when the span is right.' : 'Box drawn: now find the product.');
    } else {
      renderDrawing();
      drawSay('Drag over the product to draw its box (a click draws none).');
    }
  });
  const abandon = () => {
    if (!drawing.from) return;
    drawing.from = null;
    drawing.draft = null;
    renderDrawing();
  };
  layer.addEventListener('pointercancel', abandon);
  layer.addEventListener('lostpointercapture', abandon);
  for (const type of ['timeupdate', 'seeked', 'play', 'pause', 'loadedmetadata']) video.addEventListener(type, renderDrawTime);
  // The picture's place in the element is known once the video's size is, and moves when the element resizes.
  video.addEventListener('loadedmetadata', renderDrawing);
  new ResizeObserver(() => renderDrawing()).observe(video);
  $('draw-seek').addEventListener('input', () => {
    video.pause();
    video.currentTime = Number(/** @type {HTMLInputElement} */ ($('draw-seek')).value);
  });
  // The scrubber moves freely (its arrow keys by a hundredth of the episode); these step one frame.
  const step = (/** @type {number} */ frames) => {
    const fps = drawing.episode?.fps && drawing.episode.fps > 0 ? drawing.episode.fps : 30;
    video.pause();
    const frame = Math.round(video.currentTime * fps) + frames;
    video.currentTime = Math.min(Math.max(0, frame / fps), drawDurationMs() / 1000);
  };
  $('draw-back').addEventListener('click', () => step(-1));
  $('draw-forward').addEventListener('click', () => step(1));
  $('draw-play').addEventListener('click', () => {
    if (video.paused) video.play().catch(() => { /* refused: the scrubber still seeks */ });
    else video.pause();
  });
  for (const id of ['draw-start', 'draw-end']) $(id).addEventListener('input', () => { drawing.spanTouched = true; });
  for (const id of ['draw-x', 'draw-y', 'draw-w', 'draw-h']) {
    $(id).addEventListener('input', () => {
      const box = /** @type {Box} */ (['draw-x', 'draw-y', 'draw-w', 'draw-h'].map((i) => Number(/** @type {HTMLInputElement} */ ($(i)).value)));
      if (!box.every(Number.isFinite) || !boxInFrame(box)) return;
      // A typed box keeps the frame it was drawn on; typed first, it is the frame at the playhead.
      if (drawing.box) {
        drawing.box = box;
        renderDrawing();
      } else {
        boxDrawn(box);
      }
    });
  }
  $('draw-search').addEventListener('submit', (event) => {
    event.preventDefault();
    void findDrawnProduct(/** @type {HTMLInputElement} */ ($('draw-q')).value.trim());
  });
  $('draw-form').addEventListener('submit', (event) => {
    event.preventDefault();
    void sendDrawing();
  });
  $('draw-close').addEventListener('click', () => /** @type {HTMLDialogElement} */ ($('draw')).close());
  $('draw').addEventListener('close', () => {
    video.pause();
    drawing.from = null;
    drawing.draft = null;
  });
}

/** Catalog search for the product the hotspot sells. @param {string} q */
async function findDrawnProduct(q) {
  const results = $('draw-results');
  const session = keySession;
  const episode = drawing.episode;
  try {
    const { data } = await api('GET', `/v1/products?q=${encodeURIComponent(q)}&limit=20`);
    if (session !== keySession || drawing.episode !== episode) return;
    /** @type {CatalogProduct[]} */
    const items = data?.items ?? [];
    results.replaceChildren(...items.map((product) => {
      const button = h('button', {
        type: 'button', 'data-product': product.id, 'aria-pressed': String(product.id === drawing.product?.id),
        'aria-label': `Pick “${product.title}”`,
      }, ['Pick']);
      button.addEventListener('click', () => {
        drawing.product = { id: product.id, title: product.title };
        renderDrawing();
        drawSay(drawing.box ? `“${product.title}” picked: add the hotspot when the span is right.`
          : `“${product.title}” picked: now draw its box.`);
      });
      return h('li', {}, [
        product.images?.[0] ? h('img', { src: product.images[0].url, alt: '' }) : '',
        product.vendor ? `${product.title} · ${product.vendor} ` : `${product.title} `, button,
      ]);
    }));
    if (!items.length) results.replaceChildren(h('li', { class: 'empty' }, [`No products match “${q}”.`]));
  } catch (error) {
    if (session !== keySession || (error instanceof ApiError && error.status === 401)) return;
    results.replaceChildren(h('li', { class: 'error' }, [errorText(error)]));
  }
}

/** A span input in ms, or null when it holds no number. @param {string} id */
function msIn(id) {
  const text = /** @type {HTMLInputElement} */ ($(id)).value.trim();
  const value = Number(text);
  return text && Number.isFinite(value) ? Math.round(value * 1000) : null;
}

/**
 * Why the API refused a drawn hotspot, in the dialog's words: the field messages of a 422 (naming the
 * product, the span or the box), else its detail.
 * @param {unknown} error @param {Episode} episode @param {string} productTitle
 */
function drawRefusal(error, episode, productTitle) {
  if (!(error instanceof ApiError)) return errorText(error);
  if (error.status === 404) return `“${episode.title}” is no longer one of your episodes.`;
  /** @type {{field?: string, message?: string}[]} */
  const errors = problemErrors(error.problem);
  if (error.status === 422 && errors.length) {
    /** @type {Record<string, string>} */
    const names = { product_id: `“${productTitle}”`, start_ms: 'The start', end_ms: 'The end', keyframes: 'The box' };
    return errors.map(({ field = '', message = 'is refused' }) => {
      const name = names[field.replace(/^body\./, '').split('.')[0]] ?? field;
      return `${name}: ${message}.`;
    }).join(' ');
  }
  const detail = error.problem.detail ?? errorText(error);
  return `${detail.charAt(0).toUpperCase()}${detail.slice(1)}${detail.endsWith('.') ? '' : '.'}`;
}

/** Add the hotspot drawn: approved, and on the episode's timeline, at once. */
async function sendDrawing() {
  const { episode, box, product } = drawing;
  if (!episode || drawing.sending) return;
  if (!box || !product) {
    drawSay(box ? 'Pick the product first.' : 'Draw the box first: pause on the product and drag over it.', true);
    return;
  }
  const start = msIn('draw-start');
  const end = msIn('draw-end');
  if (start === null || end === null || start < 0) {
    drawSay('Give the start and the end in seconds.', true);
    return;
  }
  if (end <= start) {
    drawSay('The end must come after the start.', true);
    return;
  }
  if (drawing.atMs < start || drawing.atMs > end) {
    // The box belongs to the frame it was drawn on: moved to another time, it would frame something else.
    drawSay(`The box was drawn at ${seconds(drawing.atMs)}, outside the span: draw it on a frame between `
      + `${seconds(start)} and ${seconds(end)}, or widen the span.`, true);
    return;
  }
  const session = keySession;
  drawing.sending = true;
  renderDrawing();
  drawSay(`Adding “${product.title}”…`);
  try {
    const { data } = await api('POST', `/v1/episodes/${encodeURIComponent(episode.id)}/placements`, {
      body: {
        product_id: product.id, start_ms: start, end_ms: end,
        keyframes: [{ t_ms: drawing.atMs, box }],
      },
      idempotencyKey: drawing.key,
    });
    if (session !== keySession || drawing.episode !== episode) return;
    /** @type {ReviewPlacement} */
    const added = data;
    const span = (/** @type {number} */ ms) => `${(ms / 1000).toFixed(1)} s`;
    const said = `Added “${added.chosen_product_title ?? product.title}” from ${span(added.start_ms)} to ${span(added.end_ms)}: `
      + 'it is on the timeline.';
    drawSay(said);
    // Pressing again would add the same hotspot twice: the next one starts from a new box, under a new key.
    drawing.box = null;
    drawing.key = newIdempotencyKey();
    void loadDrawShots(episode);
    if (/** @type {HTMLInputElement} */ ($('draw-follow')).checked) void followDrawn(added, said);
    state.episodes.delete(episode.id);
    state.episodes.set(episode.id, episode.title);
    if (!$('done').hidden) void renderDone().catch(() => {});
  } catch (error) {
    if (session !== keySession || (error instanceof ApiError && error.status === 401)) return;
    if (error instanceof ApiError && error.problem.type?.endsWith('/idempotency-key-reused')) {
      // An earlier press of this drawing was stored though its answer was lost, and the drawing changed
      // since: that hotspot is live; what is on screen now is a new one, under a new key.
      drawing.key = newIdempotencyKey();
      void loadDrawShots(episode);
      drawSay('An earlier press already added this drawing as it was then (its answer was lost on the way): that '
        + 'hotspot is on the timeline. Press "Add hotspot" again to add this one as well.', true);
      return;
    }
    drawSay(`Not added. ${drawRefusal(error, episode, product.title)}`, true);
  } finally {
    if (session === keySession) {
      drawing.sending = false;
      renderDrawing();
    }
  }
}

// ---- catalog ---------------------------------------------------------------------------------------------

// The errors of a refused import the dialog lists (the API lists them all; the rest are counted).
const IMPORT_ERRORS_SHOWN = 50;

/** @param {string} text @param {boolean} [isError] */
function catalogSay(text, isError = false) {
  sayIn('catalog-message', text, isError);
}

async function openCatalog() {
  catalogSay('');
  $('catalog-errors').hidden = true;
  productList.confirming = null;
  /** @type {HTMLDialogElement} */ ($('catalog')).showModal();
  // Read again at every opening: a shop sync or a colleague may have changed it (typed drafts are kept).
  await Promise.all([countProducts(), loadProducts(true)]);
}

async function countProducts() {
  const session = keySession;
  try {
    const { data } = await api('GET', '/v1/products?limit=1');
    if (session !== keySession) return;
    const n = data?.total ?? 0;
    $('catalog-count').textContent = n ? `${n} product${n === 1 ? '' : 's'} in the catalog.` : 'The catalog is empty.';
  } catch (error) {
    if (session === keySession && !(error instanceof ApiError && error.status === 401)) {
      $('catalog-count').textContent = `The catalog could not be read: ${errorText(error)}`;
    }
  }
}

/** What the file is, for the API: by its type, else its name (a browser may give a CSV no type). @param {File} file */
function catalogType(file) {
  if (file.type.includes('json') || /\.json$/i.test(file.name)) return 'application/json';
  return 'text/csv';
}

async function importCatalog() {
  const file = /** @type {HTMLInputElement} */ ($('catalog-file')).files?.[0];
  if (!file) {
    catalogSay('Choose a CSV or JSON file.', true);
    return;
  }
  const send = /** @type {HTMLButtonElement} */ ($('catalog-send'));
  if (send.disabled) return;
  send.disabled = true;
  const errors = $('catalog-errors');
  errors.hidden = true;
  catalogSay(`Importing ${file.name}…`);
  const session = keySession;
  try {
    const { data } = await api('POST', '/v1/catalog/import', { raw: file, contentType: catalogType(file) });
    if (session !== keySession) return;
    const images = data.imported_images;
    catalogSay(`Imported ${data.imported_products} product${data.imported_products === 1 ? '' : 's'} with ` +
      `${data.imported_variants} variant${data.imported_variants === 1 ? '' : 's'}` +
      (images ? ` and ${images} image${images === 1 ? '' : 's'}: they are fetched and indexed in the background.` : ' and no image: add images for the linker to find them.'));
    /** @type {HTMLFormElement} */ ($('catalog-import')).reset();
    await Promise.all([countProducts(), loadProducts(true)]);
  } catch (error) {
    if (session !== keySession || (error instanceof ApiError && error.status === 401)) return;
    if (error instanceof ApiError && error.status === 413) {
      catalogSay(`Not imported: ${file.name} is larger than this server takes in one import ` +
        `(${error.problem.detail ?? 'its size limit'}). Split it into several files: each imports on its own.`, true);
      return;
    }
    const problem = error instanceof ApiError ? error.problem : {};
    /** @type {{line: number | string, field: string, message: string}[]} */
    const listed = problemErrors(problem);
    catalogSay(`Not imported: ${problem.detail ?? errorText(error)}`, true);
    if (listed.length) {
      const shown = listed.slice(0, IMPORT_ERRORS_SHOWN).map((e) => h('li', {}, [
        `Line ${e.line}${e.field ? `, ${e.field}` : ''}: ${e.message}`,
      ]));
      if (listed.length > IMPORT_ERRORS_SHOWN) shown.push(h('li', {}, [`…and ${listed.length - IMPORT_ERRORS_SHOWN} more.`]));
      errors.replaceChildren(...shown);
      errors.hidden = false;
    }
  } finally {
    send.disabled = false;
  }
}

// ---- catalog: the products ------------------------------------------------------------------------------

// Products the dialog lists per page.
const PRODUCTS_PAGE = 25;

/**
 * A product as GET /v1/products lists it, what the catalog list shows and edits of it.
 * @typedef {object} ListedProduct
 * @property {string} id
 * @property {string} title
 * @property {string} vendor
 * @property {{id: string, url: string, indexed: boolean, fetch_error: string | null, fetch_retry_at?: string | null}[]} images
 * @property {ListedVariant[]} variants
 * @property {unknown[]} own_print the boxes around the print only it has (the catalog list counts them)
 */
/** @typedef {{id: string, sku: string, title: string, price: string, currency: string, available: boolean}} ListedVariant */

/**
 * The products the dialog lists (`query`: the search the list on screen answers; `asked` moves on with every
 * read, so a slow answer to an older one is dropped; `resetting`: a new search is on its way, and Load more
 * waits for it), the product whose deletion waits for a second click, and what was typed into each variant's
 * row and not saved yet: only the fields the brand changed, kept across reloads of the list (a field it did
 * not touch is never sent, so a shop sync's change to it meanwhile stands).
 * @type {{items: ListedProduct[], total: number, query: string, asked: number, resetting: boolean,
 *   confirming: string | null, busy: boolean, drafts: Map<string, {price?: string, available?: boolean}>,
 *   saving: Set<string>}}
 */
const productList = {
  items: [], total: 0, query: '', asked: 0, resetting: false, confirming: null, busy: false, drafts: new Map(), saving: new Set(),
};

/** Sign-out: nothing of this brand's catalog stays on screen or in memory. */
function forgetProductsOfThisSession() {
  Object.assign(productList, { items: [], total: 0, query: '', resetting: false, confirming: null, busy: false });
  productList.asked += 1;
  productList.drafts.clear();
  productList.saving.clear();
  /** @type {HTMLInputElement} */ ($('catalog-q')).value = '';
  $('catalog-products').replaceChildren();
  $('catalog-none').hidden = true;
  $('catalog-more').hidden = true;
}

/** The first page of what the search box asks (`reset`), or the next page of the list on screen. @param {boolean} reset */
async function loadProducts(reset) {
  if (!reset && productList.resetting) return;
  const session = keySession;
  const asked = ++productList.asked;
  const query = reset ? /** @type {HTMLInputElement} */ ($('catalog-q')).value.trim() : productList.query;
  const offset = reset ? 0 : productList.items.length;
  const q = query ? `&q=${encodeURIComponent(query)}` : '';
  if (reset) productList.resetting = true;
  try {
    const { data } = await api('GET', `/v1/products?limit=${PRODUCTS_PAGE}&offset=${offset}${q}`);
    if (session !== keySession || asked !== productList.asked) return;
    /** @type {ListedProduct[]} */
    const listed = data?.items ?? [];
    productList.items = reset ? listed : [...productList.items, ...listed.filter((p) => !productList.items.some((o) => o.id === p.id))];
    productList.total = data?.total ?? productList.items.length;
    productList.query = query;
    if (reset) productList.confirming = null;
    renderProducts();
  } catch (error) {
    if (session !== keySession || asked !== productList.asked) return;
    if (!(error instanceof ApiError && error.status === 401)) catalogSay(`Could not list the products: ${errorText(error)}`, true);
  } finally {
    if (session === keySession && asked === productList.asked) productList.resetting = false;
  }
}

/** What a variant's row holds now: the fields typed and not saved, else what the catalog has. @param {ListedVariant} v */
function variantDraft(v) {
  const draft = productList.drafts.get(v.id) ?? {};
  return { price: draft.price ?? v.price, available: draft.available ?? v.available };
}

/** A price as the API reads it ("4.99", "4.", ".5"; spaces around it are dropped), or null. @param {string} text */
const priceOf = (text) => (/^(\d+(\.\d*)?|\.\d+)$/.test(text.trim()) ? text.trim() : null);

/**
 * What a save of the row would send: the fields typed that differ from the catalog (a price typed as 4.9 for
 * 4.90 is no change); empty when there is nothing to save.
 * @param {ListedVariant} v
 * @returns {{price?: string, available?: boolean}}
 */
function variantChanges(v) {
  const draft = productList.drafts.get(v.id) ?? {};
  /** @type {{price?: string, available?: boolean}} */
  const changes = {};
  if (draft.price !== undefined) {
    const typed = draft.price.trim();
    const price = priceOf(typed);
    if (price === null ? typed !== v.price : Number(price) !== Number(v.price)) changes.price = typed;
  }
  if (draft.available !== undefined && draft.available !== v.available) changes.available = draft.available;
  return changes;
}

/** A row's Save button: enabled while there is something to save and no save is on its way.
 * @param {HTMLButtonElement} save @param {ListedVariant} v */
function showSaveState(save, v) {
  const saving = productList.saving.has(v.id);
  save.textContent = saving ? 'Saving…' : 'Save';
  save.disabled = saving || Object.keys(variantChanges(v)).length === 0;
}

/** The Save button of the variant's row on screen, brought up to date. @param {ListedVariant} v */
function refreshSave(v) {
  const save = /** @type {HTMLButtonElement | null} */ ($('catalog-products').querySelector(`li[data-variant="${CSS.escape(v.id)}"] button`));
  if (save) showSaveState(save, v);
}

/** A variant's row: SKU and name, price, availability and its Save button. @param {ListedVariant} v */
function variantRow(v) {
  const draft = variantDraft(v);
  const price = h('input', {
    type: 'text', inputmode: 'decimal', class: 'price', value: draft.price, 'aria-label': `Price of ${v.sku} (${v.currency})`,
  });
  const available = h('input', { type: 'checkbox', 'aria-label': `${v.sku} available` });
  available.checked = draft.available;
  const save = h('button', { type: 'button', 'aria-label': `Save ${v.sku}` }, ['Save']);
  price.addEventListener('input', () => {
    productList.drafts.set(v.id, { ...productList.drafts.get(v.id), price: price.value });
    refreshSave(v);
  });
  available.addEventListener('change', () => {
    productList.drafts.set(v.id, { ...productList.drafts.get(v.id), available: available.checked });
    refreshSave(v);
  });
  price.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') void saveVariant(v);
  });
  save.addEventListener('click', () => void saveVariant(v));
  showSaveState(save, v);
  return h('li', { 'data-variant': v.id }, [
    h('span', { class: 'v-name' }, [[v.title, v.sku].filter(Boolean).join(' · ')]), ' ',
    h('label', { class: 'v-price' }, [price, ` ${v.currency}`]), ' ',
    h('label', { class: 'v-available' }, [available, ' available']), ' ',
    save,
  ]);
}

/** The product's image trouble as a line of its row, or nothing. @param {ListedProduct} p */
function imageNote(p) {
  const trouble = imageTrouble(p);
  return trouble ? [h('span', { class: `p-images${trouble.bad ? ' error' : ''}` }, [trouble.text])] : [];
}

/**
 * What the linker has to find the product by, when that is a problem: no image at all, images whose URL
 * could not be fetched (and whether it is tried again), or images still on their way. Null when one is held.
 * @param {ListedProduct} p
 * @returns {{text: string, bad: boolean} | null}
 */
function imageTrouble(p) {
  if (!p.images.length) return { text: 'no image: the linker cannot find it in episodes; add its packshot', bad: true };
  if (p.images.some((image) => image.indexed)) return null;
  const failed = p.images.find((image) => image.fetch_error);
  if (failed) {
    const again = failed.fetch_retry_at ? ' (tried again later)' : ' (add the image again)';
    return { text: `its image could not be fetched: ${failed.fetch_error}${again}`, bad: true };
  }
  return { text: 'its image is being fetched', bad: false };
}

/**
 * Where the focus is in the product list: its row (a variant's, else a product's) and the control's label, and
 * the caret of a price being typed. The rows are drawn anew when the list is read again (Find, Load more, a
 * deletion, a product's marks saved); without this a brand typing a price would lose the field.
 * @param {HTMLElement} list
 * @returns {{row: string, label: string, caret: [number | null, number | null] | null} | null}
 */
function focusInProducts(list) {
  const active = document.activeElement;
  if (!(active instanceof HTMLElement) || !list.contains(active)) return null;
  const label = active.getAttribute('aria-label');
  const row = active.closest('li[data-variant], li[data-product]');
  if (!label || !(row instanceof HTMLElement)) return null;
  const key = row.dataset.variant ? `li[data-variant="${CSS.escape(row.dataset.variant)}"]` : `li[data-product="${CSS.escape(row.dataset.product ?? '')}"]`;
  const caret = active instanceof HTMLInputElement && active.type === 'text' ? /** @type {[number | null, number | null]} */ ([active.selectionStart, active.selectionEnd]) : null;
  return { row: key, label, caret };
}

/** Put the focus back where `focusInProducts` found it, when that control is still on screen.
 * @param {HTMLElement} list @param {ReturnType<typeof focusInProducts>} focused */
function restoreFocusInProducts(list, focused) {
  if (!focused) return;
  const control = list.querySelector(`${focused.row} [aria-label="${CSS.escape(focused.label)}"]`);
  if (!(control instanceof HTMLElement)) return;
  control.focus();
  if (focused.caret && control instanceof HTMLInputElement) control.setSelectionRange(focused.caret[0], focused.caret[1]);
}

function renderProducts() {
  const list = $('catalog-products');
  const focused = focusInProducts(list);
  list.replaceChildren(...productList.items.map((p) => {
    /** @type {(Node | string)[]} */
    const actions = [];
    if (productList.confirming === p.id) {
      const sure = h('button', { type: 'button', class: 'reject' }, ['Delete for good']);
      sure.addEventListener('click', () => void deleteProduct(p));
      const keep = h('button', { type: 'button' }, ['Keep it']);
      keep.addEventListener('click', () => {
        productList.confirming = null;
        catalogSay('');
        renderProducts();
        focusDeleteOf(p.id);
      });
      actions.push(h('span', { class: 'confirm' }, [`Delete “${p.title}”? Its hotspots come down, and placements that name it are linked again.`]), ' ', sure, ' ', keep);
    } else {
      const remove = h('button', { type: 'button', 'aria-label': `Delete “${p.title}”…` }, ['Delete…']);
      remove.addEventListener('click', () => {
        productList.confirming = p.id;
        catalogSay('');
        renderProducts();
        /** @type {HTMLElement | null} */ (productRow(p.id)?.querySelector('button.reject'))?.focus();
      });
      const marks = h('button', { type: 'button', 'aria-label': `Mark the own print of “${p.title}”…` }, ['Own print…']);
      marks.addEventListener('click', () => void openMarks(p.id, catalogSay));
      actions.push(marks, ' ', remove);
    }
    const boxes = p.own_print.length;
    return h('li', { 'data-product': p.id }, [
      packshot(p.images[0]?.url),
      h('div', { class: 'p-text' }, [
        h('span', {}, [
          h('strong', {}, [p.title]), p.vendor ? ` ${p.vendor}` : '', ' ',
          h('span', { class: 'ep-facts' }, [boxes ? `· own print marked (${boxes} box${boxes === 1 ? '' : 'es'})` : '· own print not marked']),
        ]),
        ...imageNote(p),
        p.variants.length
          ? h('ul', { class: 'variants', 'aria-label': `Variants of ${p.title}` }, p.variants.map(variantRow))
          : h('span', { class: 'ep-facts' }, ['No variant: nothing of it can be bought.']),
      ]),
      h('span', { class: 'ep-actions' }, actions),
    ]);
  }));
  const none = $('catalog-none');
  none.textContent = productList.query ? `No product matches “${productList.query}”.` : 'No products yet: import some above.';
  none.hidden = productList.items.length > 0;
  $('catalog-more').hidden = productList.items.length >= productList.total;
  restoreFocusInProducts(list, focused);
}

/** A product's row in the catalog list, when it is on screen. @param {string} productId */
function productRow(productId) {
  return $('catalog-products').querySelector(`li[data-product="${CSS.escape(productId)}"]`);
}

/** Whether the focus is in a product's row of the list. @param {string} productId */
function focusIsInProduct(productId) {
  return Boolean(productRow(productId)?.contains(document.activeElement));
}

/** Back to a product's Delete… button once its confirmation is gone (kept, or refused by the API). @param {string} productId */
function focusDeleteOf(productId) {
  /** @type {HTMLElement | null} */ (productRow(productId)?.querySelector('.ep-actions button:last-child'))?.focus();
}

/** A product's marks saved in the editor: the catalog list shows how many it has now. @param {MarkedProduct} saved */
function noteMarksInList(saved) {
  const listed = productList.items.find((p) => p.id === saved.id);
  if (!listed) return;
  listed.own_print = saved.own_print;
  if (/** @type {HTMLDialogElement} */ ($('catalog')).open) renderProducts();
}

/**
 * Save what was typed in a variant's row: only the fields changed. The row is not drawn again (the brand may
 * be typing in it or another): its Save button says how the save went, and what was typed during it stays.
 * @param {ListedVariant} v
 */
async function saveVariant(v) {
  if (productList.saving.has(v.id)) return;
  const body = variantChanges(v);
  if (!Object.keys(body).length) return;
  if (body.price !== undefined && priceOf(body.price) === null) {
    catalogSay(`Not saved: the price of ${v.sku} must be a number such as 4.99.`, true);
    return;
  }
  if (body.price !== undefined) body.price = /** @type {string} */ (priceOf(body.price));
  const session = keySession;
  productList.saving.add(v.id);
  refreshSave(v);
  try {
    const { data } = await api('PATCH', `/v1/variants/${encodeURIComponent(v.id)}`, { body });
    if (session !== keySession) return;
    const saved = /** @type {ListedVariant} */ (data);
    // The list may have been read again during the save: the variant shown now is updated, not only the
    // one the save started from.
    for (const shown of [v, ...productList.items.flatMap((p) => p.variants).filter((o) => o.id === v.id && o !== v)]) {
      Object.assign(shown, { price: saved.price, available: saved.available, currency: saved.currency });
    }
    // What was typed during the save stays a draft; what was sent and is now the catalog is no draft.
    const draft = productList.drafts.get(v.id) ?? {};
    const left = { ...draft };
    if (body.price !== undefined && priceOf(draft.price ?? '') === body.price) delete left.price;
    if (body.available !== undefined && draft.available === body.available) delete left.available;
    if (Object.keys(left).length) productList.drafts.set(v.id, left);
    else productList.drafts.delete(v.id);
    const news = [];
    if (body.price !== undefined) news.push(`${saved.price} ${saved.currency}`);
    if (body.available !== undefined) news.push(saved.available ? 'on sale again' : 'sold out: its hotspots say so and take no order');
    catalogSay(`Saved ${saved.sku}: ${news.join(', ')}. Players show it from their next timeline read.`);
  } catch (error) {
    if (session !== keySession || (error instanceof ApiError && error.status === 401)) return;
    if (error instanceof ApiError && error.status === 404) {
      catalogSay(`${v.sku} is no longer in the catalog (deleted elsewhere): the list is read again.`, true);
      productList.drafts.delete(v.id);
      productList.saving.delete(v.id);
      await loadProducts(true);
      return;
    }
    const problem = error instanceof ApiError ? error.problem : {};
    catalogSay(`Not saved: ${problem.detail ?? errorText(error)}`, true);
  } finally {
    if (session === keySession) {
      productList.saving.delete(v.id);
      refreshSave(v);
    }
  }
}

/** @param {ListedProduct} p */
async function deleteProduct(p) {
  if (productList.busy) return;
  productList.busy = true;
  const session = keySession;
  /** @type {string | null} */
  let monitor = null;
  try {
    ({ monitor } = await api('DELETE', `/v1/products/${encodeURIComponent(p.id)}`));
    if (session !== keySession) return;
    catalogSay(`Deleted “${p.title}”: its hotspots are down, and any placement that named it is linked again.`);
  } catch (error) {
    if (session !== keySession || (error instanceof ApiError && error.status === 401)) return;
    if (!(error instanceof ApiError && error.status === 404)) {
      productList.confirming = null;
      const wasInRow = focusIsInProduct(p.id);
      renderProducts();
      // Back to its Delete… button only from its own confirmation; a brand typing elsewhere meanwhile stays there.
      if (wasInRow) focusDeleteOf(p.id);
      const problem = error instanceof ApiError ? error.problem : {};
      catalogSay(problem.type?.endsWith('/already-sold')
        ? `Not deleted: shoppers started checkouts for “${p.title}”, so it stays with your sales records. ` +
          'Untick “available” on its variants to stop selling it.'
        : `Not deleted: ${problem.detail ?? errorText(error)}`, true);
      return;
    }
    catalogSay(`“${p.title}” was already deleted.`);
  } finally {
    productList.busy = false;
  }
  productList.items = productList.items.filter((o) => o.id !== p.id);
  productList.total = Math.max(0, productList.total - 1);
  productList.confirming = null;
  for (const v of p.variants) productList.drafts.delete(v.id);
  const wasInRow = focusIsInProduct(p.id);
  renderProducts();
  // Its row, and the button pressed, are gone: the search box is where a keyboard goes on from.
  if (wasInRow) $('catalog-q').focus();
  await countProducts();
  await queueAfterProductDeleted(p.id, monitor, session);
}

/**
 * The queue after a product's deletion. Approved placements of it came back to review: they join the queue's
 * end at once, the placement under review and its unsaved edits untouched. Where the queue named the product
 * (a pick, a candidate), it is read again once the link job that decides those placements again is done.
 * @param {string} productId @param {string | null} monitor @param {number} session
 */
async function queueAfterProductDeleted(productId, monitor, session) {
  const names = (/** @type {ReviewPlacement} */ q) => q.chosen_product_id === productId
    || q.sku_candidates.some((c) => c.product_id === productId);
  const named = state.items.some(names);
  try {
    await takeNewProposals(session);
    if (!monitor || session !== keySession) return;
    const job = await finishedJob(monitor, 'the re-link of its placements', () => {}, catalogSay);
    if (!job || session !== keySession) return;
    if (job.state === 'failed') {
      catalogSay(`The product is deleted, but linking its placements again failed: ${job.error ?? 'no reason given'}.`, true);
      return;
    }
    if (named) await reloadQueueKeeping(current()?.id);
    else await takeNewProposals(session);
  } catch (error) {
    if (session === keySession && !(error instanceof ApiError && error.status === 401)) {
      say(`The product is deleted, but the queue could not be loaded again: ${errorText(error)}`, true);
    }
  }
}

/**
 * Proposals the queue does not show yet (back in review after a deletion, or proposed by a job) join its end,
 * from the first page the API lists; nothing shown is moved or dropped.
 * @param {number} session
 */
async function takeNewProposals(session) {
  const { data } = await api('GET', `/v1/review/queue?status=proposed&limit=${EPISODE_PROPOSALS_PAGE}`);
  if (session !== keySession) return;
  /** @type {ReviewPlacement[]} */
  const fresh = (data.items ?? []).filter((/** @type {ReviewPlacement} */ p) => !state.items.some((q) => q.id === p.id));
  if (!fresh.length) return;
  noteQueued(fresh);
  const wasEmpty = !state.items.length;
  state.items = [...state.items, ...fresh];
  renderQueue();
  if (wasEmpty) await select(0);
}

// ---- keyboard --------------------------------------------------------------------------------------------

/** @param {KeyboardEvent} event */
function onKey(event) {
  const target = /** @type {HTMLElement} */ (event.target);
  const typing = target.matches('input, textarea, select');
  if (event.key === 'Escape' && typing) {
    target.blur();
    return;
  }
  if (typing || event.ctrlKey || event.metaKey || event.altKey || $('console').hidden) return;
  // A dialog open over the console takes the keys (Esc closes it): no approving behind it.
  if (document.querySelector('dialog[open]')) return;
  const video = /** @type {HTMLVideoElement} */ ($('clip-video'));
  const p = current();
  /** @type {Record<string, () => unknown>} */
  const actions = {
    j: () => select(state.index + 1),
    ArrowDown: () => select(state.index + 1),
    k: () => select(state.index - 1),
    ArrowUp: () => select(state.index - 1),
    a: () => decide('approve'),
    r: () => decide('reject'),
    s: () => saveEdits(),
    '/': () => $('search-q').focus(),
    '?': () => /** @type {HTMLDialogElement} */ ($('help')).showModal(),
    ' ': () => (video.paused ? video.play().catch(() => {}) : video.pause()),
    '[': () => {
      /** @type {HTMLInputElement} */ ($('edit-start')).value = String(Math.round(video.currentTime * 1000));
    },
    ']': () => {
      /** @type {HTMLInputElement} */ ($('edit-end')).value = String(Math.round(video.currentTime * 1000));
    },
  };
  const digit = Number(event.key);
  if (p && Number.isInteger(digit) && digit >= 1 && digit <= 5 && p.sku_candidates[digit - 1]) {
    event.preventDefault();
    relink(p.sku_candidates[digit - 1].product_id, p.sku_candidates[digit - 1].title);
    return;
  }
  const action = actions[event.key.length === 1 ? event.key.toLowerCase() : event.key] ?? actions[event.key];
  if (action) {
    event.preventDefault();
    action();
  }
}

// ---- wiring ----------------------------------------------------------------------------------------------

function wire() {
  $('sign-in-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const key = /** @type {HTMLInputElement} */ ($('api-key')).value.trim();
    if (!key) return;
    sessionStorage.setItem(KEY_STORAGE, key);
    $('sign-in-error').textContent = '';
    start();
  });
  $('sign-out').addEventListener('click', () => signOut());
  $('approve').addEventListener('click', () => decide('approve'));
  $('reject').addEventListener('click', () => decide('reject'));
  $('load-more').addEventListener('click', () => loadQueue(false).catch((e) => say(errorText(e), true)));
  $('help-open').addEventListener('click', () => /** @type {HTMLDialogElement} */ ($('help')).showModal());
  $('linking-open').addEventListener('click', () => void openLinking());
  $('linking-close').addEventListener('click', () => /** @type {HTMLDialogElement} */ ($('linking')).close());
  $('episodes-open').addEventListener('click', () => void openEpisodes());
  $('episodes-close').addEventListener('click', () => /** @type {HTMLDialogElement} */ ($('episodes')).close());
  $('episodes-more').addEventListener('click', () => void loadEpisodes(false));
  $('results-range').addEventListener('change', resultsRangeChanged);
  $('catalog-open').addEventListener('click', () => void openCatalog());
  $('catalog-close').addEventListener('click', () => /** @type {HTMLDialogElement} */ ($('catalog')).close());
  $('catalog-import').addEventListener('submit', (event) => {
    event.preventDefault();
    void importCatalog();
  });
  $('catalog-search').addEventListener('submit', (event) => {
    event.preventDefault();
    void loadProducts(true);
  });
  $('catalog-more').addEventListener('click', () => void loadProducts(false));
  $('episode-upload').addEventListener('submit', (event) => {
    event.preventDefault();
    void uploadEpisode();
  });
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let previewSoon;
  $('linking-form').addEventListener('input', () => {
    // One preview once typing pauses, not one per keystroke.
    clearTimeout(previewSoon);
    previewSoon = setTimeout(() => void previewLinking(), 250);
  });
  $('linking-form').addEventListener('submit', (event) => {
    event.preventDefault();
    void saveLinking();
  });
  $('search').addEventListener('submit', (event) => {
    event.preventDefault();
    search(/** @type {HTMLInputElement} */ ($('search-q')).value.trim());
  });
  $('edit').addEventListener('submit', (event) => {
    event.preventDefault();
    saveEdits();
  });
  for (const id of ['box-x', 'box-y', 'box-w', 'box-h']) {
    $(id).addEventListener('input', () => {
      state.draftBox = boxFromInputs();
      drawBox();
    });
  }
  $('bulk').addEventListener('submit', (event) => {
    event.preventDefault();
    bulkApprove();
  });
  const video = /** @type {HTMLVideoElement} */ ($('clip-video'));
  for (const type of ['timeupdate', 'seeked', 'loadeddata']) video.addEventListener(type, onClipTime);
  // A span running to the very end of the episode loops too.
  video.addEventListener('ended', () => {
    const p = current();
    if (!p) return;
    video.currentTime = editedSpan(p)[0] / 1000;
    video.play().catch(() => {});
  });
  new ResizeObserver(() => drawBox()).observe(video);
  enableBoxDrag();
  enableMarkDrawing();
  enableHotspotDrawing();
  $('marks-open').addEventListener('click', () => void openMarks());
  $('marks-save').addEventListener('click', () => saveMarks());
  $('marks-suggest').addEventListener('click', () => { void suggestMarks(); });
  $('marks-clear').addEventListener('click', () => {
    state.marks.boxes = [];
    renderMarks();
    marksSay('All boxes removed; save to keep the change.');
  });
  $('marks-close').addEventListener('click', () => /** @type {HTMLDialogElement} */ ($('marks')).close());
  document.addEventListener('keydown', onKey);
}

wire();
if (sessionStorage.getItem(KEY_STORAGE)) start();
else signOut();
