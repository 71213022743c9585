// Unit tests for the pure timeline math: given/when/then, whole values compared.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import {
  boxToRect, checkoutFailure, defaultVariant, formatPrice, interpolateBox, isValidKeyframe, isValidPlacement,
  layoutLabels, parseObjectPosition, parseTimeline, pickHotspots, renderedRect,
} from '../timeline-math.js';

/** A timeline variant as the API sends it. */
const variant = (overrides = {}) => ({
  id: 'var_1', sku: 'SKU-1', title: '330 ml', price: '4.99', currency: 'EUR', available: true, ...overrides,
});

/** A placement as the API sends it; every field overridable. */
const placement = (overrides = {}) => ({
  id: 'pl_1',
  start_ms: 1000,
  end_ms: 3000,
  label: 'bottle',
  keyframes: [
    { t_ms: 1000, box: [0.1, 0.2, 0.2, 0.1] },
    { t_ms: 3000, box: [0.5, 0.6, 0.2, 0.1] },
  ],
  product: { id: 'prod_1', title: 'Sparkling Water', brand: 'Aqua', image_url: null, variants: [variant()] },
  ...overrides,
});

const timeline = (placements) => ({
  version: 1,
  episode: { id: 'ep_1', duration_ms: 10000, width: 1080, height: 1920 },
  placements,
});

const closeTo = (actual, expected, epsilon = 1e-9) => {
  assert.equal(actual.length, expected.length);
  actual.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < epsilon, `index ${i}: ${v} != ${expected[i]}`));
};

describe('interpolateBox', () => {
  const keyframes = [
    { t_ms: 1000, box: [0.1, 0.2, 0.2, 0.1] },
    { t_ms: 2000, box: [0.3, 0.2, 0.2, 0.3] },
    { t_ms: 4000, box: [0.7, 0.6, 0.2, 0.3] },
  ];

  test('halfway between two keyframes gives the linear midpoint', () => {
    closeTo(interpolateBox(keyframes, 1500), [0.2, 0.2, 0.2, 0.2]);
  });

  test('a quarter into an uneven gap weights the later keyframe by a quarter', () => {
    closeTo(interpolateBox(keyframes, 2500), [0.4, 0.3, 0.2, 0.3]);
  });

  test('exactly on a keyframe returns that keyframe box', () => {
    assert.deepEqual(interpolateBox(keyframes, 2000), [0.3, 0.2, 0.2, 0.3]);
  });

  test('before the first and after the last keyframe the box is held', () => {
    assert.deepEqual(interpolateBox(keyframes, 0), [0.1, 0.2, 0.2, 0.1]);
    assert.deepEqual(interpolateBox(keyframes, 9000), [0.7, 0.6, 0.2, 0.3]);
  });

  test('a single keyframe is a static box', () => {
    assert.deepEqual(interpolateBox([{ t_ms: 5, box: [0, 0, 1, 1] }], 100), [0, 0, 1, 1]);
  });

  test('a keyframe per frame is searched, not scanned, and stays exact', () => {
    const dense = Array.from({ length: 9000 }, (_, i) => ({ t_ms: i * 33, box: [i / 9000, 0, 0.01, 0.01] }));
    closeTo(interpolateBox(dense, 4500 * 33 + 16.5), [4500.5 / 9000, 0, 0.01, 0.01]);
  });
});

describe('renderedRect', () => {
  test('contain: a 9:16 video in a wider box is pillarboxed and centred', () => {
    assert.deepEqual(renderedRect(800, 640, 1080, 1920, 'contain'), { x: 220, y: 0, width: 360, height: 640 });
  });

  test('contain: a 9:16 video in a taller box is letterboxed', () => {
    assert.deepEqual(renderedRect(360, 800, 1080, 1920, 'contain'), { x: 0, y: 80, width: 360, height: 640 });
  });

  test('cover: a 9:16 video in a square box overflows vertically and is centred', () => {
    assert.deepEqual(renderedRect(400, 400, 1080, 1920, 'cover'), { x: 0, y: -155.55555555555554, width: 400, height: 711.1111111111111 });
  });

  test('cover with object-position top keeps the top edge', () => {
    // (400 - 711.1) * 0 is -0, which strict equality tells apart from 0.
    assert.deepEqual(renderedRect(400, 400, 1080, 1920, 'cover', [0.5, 0]), { x: 0, y: -0, width: 400, height: 711.1111111111111 });
  });

  test('fill stretches to the element', () => {
    assert.deepEqual(renderedRect(300, 300, 1080, 1920, 'fill'), { x: 0, y: 0, width: 300, height: 300 });
  });

  test('none keeps intrinsic size; scale-down only shrinks', () => {
    assert.deepEqual(renderedRect(200, 200, 100, 50, 'none'), { x: 50, y: 75, width: 100, height: 50 });
    assert.deepEqual(renderedRect(200, 200, 100, 50, 'scale-down'), { x: 50, y: 75, width: 100, height: 50 });
    assert.deepEqual(renderedRect(50, 50, 100, 50, 'scale-down'), { x: 0, y: 12.5, width: 50, height: 25 });
  });

  test('unknown intrinsic size (metadata not loaded) falls back to the element box', () => {
    assert.deepEqual(renderedRect(360, 640, 0, 0, 'contain'), { x: 0, y: 0, width: 360, height: 640 });
  });
});

describe('parseObjectPosition', () => {
  test('computed percentages are read, pixel offsets and junk fall back to centre', () => {
    assert.deepEqual(parseObjectPosition('50% 50%'), [0.5, 0.5]);
    assert.deepEqual(parseObjectPosition('0% 100%'), [0, 1]);
    assert.deepEqual(parseObjectPosition('left top'), [0.5, 0.5]);
    assert.deepEqual(parseObjectPosition('10px 25%'), [0.5, 0.25]);
    assert.deepEqual(parseObjectPosition(''), [0.5, 0.5]);
  });
});

describe('boxToRect', () => {
  test('maps a normalized box through a pillarboxed rendered rect', () => {
    const rendered = { x: 220, y: 0, width: 360, height: 640 };
    assert.deepEqual(boxToRect([0.5, 0.25, 0.25, 0.25], rendered, 800, 640), { x: 400, y: 160, width: 90, height: 160 });
  });

  test('clips a box that overflows the element under cover', () => {
    const rendered = { x: 0, y: -100, width: 400, height: 600 };
    assert.deepEqual(boxToRect([0.25, 0, 0.5, 0.5], rendered, 400, 400), { x: 100, y: 0, width: 200, height: 200 });
  });

  test('a box entirely in the cropped-away area is not visible', () => {
    const rendered = { x: 0, y: -100, width: 400, height: 600 };
    assert.equal(boxToRect([0.25, 0.05, 0.5, 0.1], rendered, 400, 400), null);
  });
});

describe('pickHotspots', () => {
  // A 100 x 200 element showing the whole picture (contain, no bars), so boxes map to pixels directly.
  const frame = { x: 0, y: 0, width: 100, height: 200 };
  // Each placement sells a product of its own unless the test gives it one.
  const at = (id, box, span = {}) => placement({
    id, start_ms: 0, end_ms: 1000, keyframes: [{ t_ms: 0, box }], product: { ...placement().product, id: `prod_${id}` }, ...span,
  });
  const pick = (placements, tMs = 500, limit = 9, shown = new Set(), rendered = frame) =>
    pickHotspots(placements, tMs, rendered, 100, 200, limit, shown).map((h) => h.p.id);

  test('start is inclusive, end is exclusive, and later starts are not looked at', () => {
    const placements = [
      at('a', [0.4, 0.4, 0.2, 0.2], { start_ms: 0, end_ms: 1000 }),
      at('b', [0.4, 0.4, 0.2, 0.2], { start_ms: 500, end_ms: 3000 }),
      at('c', [0.4, 0.4, 0.2, 0.2], { start_ms: 4000, end_ms: 6000 }),
    ];
    assert.deepEqual(pick(placements, 1000), ['b']);
    assert.deepEqual(pick(placements, 0), ['a']);
    assert.deepEqual(pick(placements, -1), []);
    assert.deepEqual(pick(placements, 6000), []);
  });

  test('a crowded moment keeps the most prominent: large and central first, small and peripheral last', () => {
    // Given seven placements at once, as the demo's 7.0 s shelf shot has
    const placements = [
      at('large_left', [0, 0.3, 0.3, 0.3]),
      at('corner_small', [0.0, 0.0, 0.1, 0.05]),
      at('top_right', [0.8, 0.05, 0.15, 0.1]),
      at('central_large', [0.3, 0.35, 0.4, 0.3]),
      at('bottom_small', [0.45, 0.9, 0.1, 0.05]),
      at('mid_medium', [0.55, 0.2, 0.25, 0.15]),
      at('low_medium', [0.1, 0.7, 0.25, 0.15]),
    ];
    // When the SDK has room for three dots, the large central carton leads, not the earliest to start
    assert.deepEqual(pick(placements, 500, 3), ['central_large', 'large_left', 'mid_medium']);
  });

  test('a box the frame crops counts only its visible share, twice: as size and as visible fraction', () => {
    // cover: a 16:9 picture in the portrait element, so only its middle 28 % (x 0.36 to 0.64) is on screen
    const cover = renderedRect(100, 200, 1600, 900, 'cover');
    const edge = at('edge', [0.1, 0.4, 0.4, 0.2]); // its on-screen part is the larger, but it is 65 % cut off
    const inner = at('inner', [0.42, 0.3, 0.12, 0.1]); // smaller on screen, but entirely there
    assert.deepEqual(pick([edge, inner], 500, 1, new Set(), cover), ['inner']);
    // and a box entirely outside the visible part is no hotspot at all
    assert.deepEqual(pick([at('gone', [0.0, 0.4, 0.2, 0.2])], 500, 9, new Set(), cover), []);
  });

  test('a product the frame edge cuts (its visible box touches the edge) counts half', () => {
    const atEdge = at('at_edge', [0, 0.4, 0.3, 0.2]); // larger, but cut by the left edge
    const inside = at('inside', [0.55, 0.15, 0.25, 0.12]);
    assert.deepEqual(pick([atEdge, inside], 500, 1), ['inside']);
    // (moved a little inside the frame, the same box wins)
    assert.deepEqual(pick([at('at_edge', [0.02, 0.4, 0.3, 0.2]), inside], 500, 1), ['at_edge']);
  });

  test("the demo's 7.0 s shot: the large Arla carton gets a dot, the carton the phone's edge cuts does not", () => {
    // The demo episode (540 x 960) in the phone player (382 x 828, cover): boxes from its public timeline,
    // each carton taken as a product of its own so that only prominence and the edge decide
    const phone = renderedRect(382, 828, 540, 960, 'cover');
    const shot = [
      at('god_morgon_left', [0.082, 0.5161, 0.2604, 0.4356]),
      at('god_morgon_middle', [0.2937, 0.5213, 0.2921, 0.3641]),
      at('god_morgon_right', [0.4854, 0.5354, 0.3354, 0.371]),
      at('arla_yoghurt', [0.4051, 0.0249, 0.2537, 0.321]),
    ];
    const picked = pickHotspots(shot, 500, phone, 382, 828, 3, new Set()).map((h) => h.p.id);
    assert.deepEqual(picked.sort(), ['arla_yoghurt', 'god_morgon_middle', 'god_morgon_right']);
  });

  test('what is already on screen keeps its dot against a near tie, not against a clearly better one', () => {
    const a = at('a', [0.3, 0.3, 0.2, 0.2]);
    const b = at('b', [0.5, 0.5, 0.2, 0.2]); // the same size, as central: a near tie
    const big = at('big', [0.25, 0.25, 0.5, 0.5]);
    assert.deepEqual(pick([a, b], 500, 1, new Set(['b'])), ['b']);
    assert.deepEqual(pick([a, b], 500, 1, new Set(['a'])), ['a']);
    assert.deepEqual(pick([a, big], 500, 1, new Set(['a'])), ['big']);
  });

  test('a product on screen twice (a shelf row of one carton) gets one dot, its most prominent', () => {
    // Given two placements of one product and one of another, as tagging a shelf row gives
    const bravo = { ...placement().product, id: 'prod_bravo' };
    const placements = [
      at('bravo_left', [0.05, 0.3, 0.2, 0.2], { product: bravo }),
      at('bravo_central', [0.35, 0.35, 0.3, 0.3], { product: bravo }),
      at('arla', [0.7, 0.1, 0.2, 0.2]),
    ];
    // Then the central carton carries the product's dot and the slot it frees goes to the other product
    assert.deepEqual(pick(placements, 500, 2), ['bravo_central', 'arla']);
    assert.deepEqual(pick(placements, 500, 9), ['bravo_central', 'arla']);
    // and the carton whose dot is already on screen keeps it against a near tie, as any dot does
    const twin = at('bravo_twin', [0.36, 0.35, 0.3, 0.3], { product: bravo });
    assert.deepEqual(pick([placements[1], twin], 500, 9, new Set(['bravo_twin'])), ['bravo_twin']);
    assert.deepEqual(pick([placements[1], twin], 500, 9, new Set(['bravo_central'])), ['bravo_central']);
  });

  test("the demo's 7.0 s shelf shot: its three God Morgon Orange Juice cartons share one dot", () => {
    // `reelcart demo` links three cartons of its 6-8.7 s shelf shot to God Morgon Orange Juice
    const phone = renderedRect(382, 828, 540, 960, 'cover');
    const orange = { ...placement().product, id: 'prod_god_morgon_orange' };
    const shot = [
      at('god_morgon_left', [0.082, 0.5161, 0.2604, 0.4356], { product: orange }),
      at('god_morgon_middle', [0.2937, 0.5213, 0.2921, 0.3641], { product: orange }),
      at('god_morgon_right', [0.4854, 0.5354, 0.3354, 0.371], { product: orange }),
      at('arla_yoghurt', [0.4051, 0.0249, 0.2537, 0.321]),
    ];
    const picked = pickHotspots(shot, 500, phone, 382, 828, 3, new Set()).map((h) => h.p.id);
    assert.equal(picked.length, 2);
    assert.deepEqual(picked.filter((id) => id.startsWith('god_morgon')).length, 1);
    assert.ok(picked.includes('arla_yoghurt'));
  });

  test('each pick carries the visible rectangle the dot is centred on', () => {
    const [hotspot] = pickHotspots([at('a', [0.1, 0.1, 0.2, 0.1])], 500, frame, 100, 200, 3, new Set());
    closeTo(Object.values(hotspot.r), [10, 20, 20, 20]);
  });
});

describe('layoutLabels', () => {
  const overlap = (a, b) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
  const inside = (r, w, h) => r.x >= 0 && r.y >= 0 && r.x + r.width <= w && r.y + r.height <= h;

  test('a lone label sits centred above its dot', () => {
    assert.deepEqual(layoutLabels([{ x: 100, y: 100, width: 60, height: 18 }], 300, 400), [{ x: 70, y: 64, width: 60, height: 18 }]);
  });

  test('near an edge the label slides inside the frame; with no room above it goes below', () => {
    const [left, top] = layoutLabels(
      [{ x: 10, y: 200, width: 80, height: 18 }, { x: 200, y: 20, width: 80, height: 18 }], 300, 400,
    );
    assert.deepEqual(left, { x: 4, y: 164, width: 80, height: 18 });
    assert.deepEqual(top, { x: 160, y: 38, width: 80, height: 18 });
  });

  test('a label wider than the frame is narrowed to fit', () => {
    assert.deepEqual(layoutLabels([{ x: 50, y: 100, width: 160, height: 18 }], 120, 400), [{ x: 4, y: 64, width: 112, height: 18 }]);
  });

  test('labels of dots side by side never overlap: the second goes below, or is left out', () => {
    // Given three dots so close that their labels would share the space above them
    const items = [
      { x: 100, y: 100, width: 90, height: 18 },
      { x: 120, y: 104, width: 90, height: 18 },
      { x: 140, y: 98, width: 90, height: 18 },
    ];
    const labels = layoutLabels(items, 300, 400);
    // Then the first (most prominent) keeps the best spot, the next goes below, the third has none left
    assert.deepEqual(labels[0], { x: 55, y: 64, width: 90, height: 18 });
    assert.deepEqual(labels[1], { x: 75, y: 122, width: 90, height: 18 });
    assert.equal(labels[2], null);
  });

  test('on random crowded frames no two labels overlap, none covers a dot, none leaves the frame', () => {
    let seed = 7;
    const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    for (let round = 0; round < 500; round += 1) {
      const w = 120 + random() * 400;
      const h = 200 + random() * 600;
      const items = Array.from({ length: 1 + Math.floor(random() * 5) }, () => ({
        x: random() * w, y: random() * h, width: 20 + random() * 160, height: 18,
      }));
      const labels = layoutLabels(items, w, h);
      const placed = labels.filter(Boolean);
      for (const r of placed) assert.ok(inside(r, w, h), JSON.stringify({ r, w, h }));
      for (const [i, a] of placed.entries()) {
        for (const b of placed.slice(i + 1)) assert.ok(!overlap(a, b), JSON.stringify({ a, b }));
        for (const { x, y } of items) assert.ok(!overlap(a, { x: x - 12, y: y - 12, width: 24, height: 24 }));
      }
    }
  });
});

describe('validity filtering', () => {
  test('a well-formed placement is valid', () => {
    assert.equal(isValidPlacement(placement()), true);
  });

  test('zero-length and inverted spans are skipped', () => {
    assert.equal(isValidPlacement(placement({ start_ms: 1000, end_ms: 1000 })), false);
    assert.equal(isValidPlacement(placement({ start_ms: 2000, end_ms: 1000 })), false);
  });

  test('keyframes out of the frame, without area or with non-numbers are invalid', () => {
    assert.equal(isValidKeyframe({ t_ms: 0, box: [0.9, 0.1, 0.2, 0.1] }), false);
    assert.equal(isValidKeyframe({ t_ms: 0, box: [-0.1, 0.1, 0.2, 0.1] }), false);
    assert.equal(isValidKeyframe({ t_ms: 0, box: [0.1, 0.1, 0, 0.1] }), false);
    assert.equal(isValidKeyframe({ t_ms: 0, box: [0.1, 0.1, 0.2] }), false);
    assert.equal(isValidKeyframe({ t_ms: 0, box: [0.1, '0.1', 0.2, 0.1] }), false);
    assert.equal(isValidKeyframe({ t_ms: Number.NaN, box: [0.1, 0.1, 0.2, 0.1] }), false);
  });

  test('times and sizes must be finite numbers: numeric strings, booleans, null and infinities are not', () => {
    for (const t of ['1000', true, null, undefined, Infinity, -Infinity]) {
      assert.equal(isValidKeyframe({ t_ms: t, box: [0.1, 0.1, 0.2, 0.1] }), false, String(t));
      assert.equal(isValidPlacement(placement({ start_ms: t })), false, String(t));
      assert.equal(parseTimeline({ version: 1, episode: { id: 'ep', width: t, height: 16 }, placements: [] }), null);
    }
    assert.equal(parseTimeline({ version: 1, episode: { id: 'ep', duration_ms: '4000', width: 9, height: 16 }, placements: [] })
      .episode.duration_ms, 0);
  });

  test('a price is a non-empty string holding a finite decimal', () => {
    const valid = (price) => isValidPlacement(placement({ product: { ...placement().product, variants: [variant({ price })] } }));
    for (const price of ['4.99', '0', '1249.50']) assert.equal(valid(price), true, price);
    for (const price of [4.99, '', 'free', 'Infinity', 'NaN', null]) assert.equal(valid(price), false, String(price));
  });

  test('rounding spill at the frame edge is tolerated', () => {
    assert.equal(isValidKeyframe({ t_ms: 0, box: [0.8, 0.9, 0.2004, 0.1] }), true);
  });

  test('one bad keyframe skips the whole placement', () => {
    const bad = placement({ keyframes: [{ t_ms: 1000, box: [0.1, 0.1, 0.1, 0.1] }, { t_ms: 2000, box: [0.95, 0.1, 0.1, 0.1] }] });
    assert.equal(isValidPlacement(bad), false);
  });

  test('a product without valid variants is skipped', () => {
    const base = placement();
    assert.equal(isValidPlacement({ ...base, product: { ...base.product, variants: [] } }), false);
    assert.equal(isValidPlacement({ ...base, product: { ...base.product, variants: [variant({ price: 'free' })] } }), false);
    assert.equal(isValidPlacement({ ...base, product: { ...base.product, variants: [variant({ currency: 'eur' })] } }), false);
  });
});

describe('parseTimeline', () => {
  test('keeps valid placements sorted by start, sorts keyframes, drops the rest', () => {
    const late = placement({ id: 'late', start_ms: 5000, end_ms: 6000, keyframes: [
      { t_ms: 5500, box: [0.2, 0.2, 0.1, 0.1] }, { t_ms: 5000, box: [0.1, 0.1, 0.1, 0.1] },
    ] });
    const early = placement({ id: 'early' });
    const zeroLength = placement({ id: 'zero', start_ms: 2000, end_ms: 2000 });

    const parsed = parseTimeline(timeline([late, zeroLength, early, 'junk', null]));

    assert.deepEqual(parsed, timeline([
      early,
      { ...late, keyframes: [{ t_ms: 5000, box: [0.1, 0.1, 0.1, 0.1] }, { t_ms: 5500, box: [0.2, 0.2, 0.1, 0.1] }] },
    ]));
  });

  test('a malformed envelope is rejected as a whole', () => {
    for (const raw of [null, 'x', [], {}, { ...timeline([]), version: 2 }, { ...timeline([]), placements: {} },
      { ...timeline([]), episode: { id: 'e', width: 0, height: 10 } }]) {
      assert.equal(parseTimeline(raw), null, JSON.stringify(raw));
    }
  });

  test('a missing duration is read as zero, not a crash', () => {
    const raw = { version: 1, episode: { id: 'ep', width: 9, height: 16 }, placements: [] };
    assert.deepEqual(parseTimeline(raw), { version: 1, episode: { id: 'ep', duration_ms: 0, width: 9, height: 16 }, placements: [] });
  });
});

describe('product helpers', () => {
  test('the first available variant is preselected, else the first', () => {
    const product = placement().product;
    const sold = variant({ id: 'a', available: false });
    const inStock = variant({ id: 'b' });
    assert.deepEqual(defaultVariant({ ...product, variants: [sold, inStock] }), inStock);
    assert.deepEqual(defaultVariant({ ...product, variants: [sold] }), sold);
  });

  test('prices follow the locale and currency', () => {
    assert.equal(formatPrice({ price: '4.99', currency: 'EUR' }, 'en-IE'), '€4.99');
    assert.equal(formatPrice({ price: '4.99', currency: 'EUR' }, 'de-DE'), '4,99\u00a0€');
    assert.equal(formatPrice({ price: '1200', currency: 'JPY' }, 'ja-JP'), '￥1,200');
  });

  test('a Swedish shopper sees Swedish kronor the Swedish way, an American one the American way', () => {
    assert.equal(formatPrice({ price: '1249.50', currency: 'SEK' }, 'sv-SE'), '1\u00a0249,50\u00a0kr');
    assert.equal(formatPrice({ price: '1249.50', currency: 'SEK' }, 'en-US'), 'SEK\u00a01,249.50');
  });

  test('a list of locales (navigator.languages, then <html lang>) uses the first valid tag', () => {
    assert.equal(formatPrice({ price: '1249.50', currency: 'SEK' }, ['sv-SE', 'en-US']), '1\u00a0249,50\u00a0kr');
    // "en_US" is no BCP 47 tag (Intl throws on it) and "" is what a page without lang gives: both skipped
    assert.equal(formatPrice({ price: '1249.50', currency: 'SEK' }, ['en_US', '', 'sv-SE']), '1\u00a0249,50\u00a0kr');
  });

  test('an unknown currency code degrades to plain text', () => {
    assert.equal(formatPrice({ price: '4.99', currency: 'XXXX' }, 'en'), '4.99 XXXX');
  });
});

describe('checkoutFailure', () => {
  const type = (slug) => `https://reelcart.dev/problems/${slug}`;

  test('sold out is said as such', () => {
    assert.equal(checkoutFailure({ type: type('variant-unavailable') }), 'Sorry, this just sold out.');
  });

  test('a placement or variant that went away is no longer for sale', () => {
    for (const slug of ['not-found', 'placement-not-shoppable', 'variant-not-in-placement']) {
      assert.equal(checkoutFailure({ type: type(slug) }), 'This product is no longer for sale.', slug);
    }
  });

  test('a shop that cannot take orders is not asked to be retried', () => {
    for (const slug of ['provider-not-connected', 'commerce-not-configured', 'stored-token-unreadable', 'variant-not-synced']) {
      assert.equal(checkoutFailure({ type: type(slug) }), 'This shop is not taking orders right now.', slug);
    }
    // a provider refusal that will not change on retry (e.g. credentials revoked)
    assert.equal(checkoutFailure({ type: type('provider-error'), retryable: false }), 'This shop is not taking orders right now.');
  });

  test('a provider outage is worth retrying', () => {
    for (const slug of ['provider-error', 'provider-timeout']) {
      assert.equal(checkoutFailure({ type: type(slug), retryable: true }), 'Payment is briefly unavailable. Please try again.', slug);
    }
  });

  test('anything else (a 500, no network) is a plain retry', () => {
    assert.equal(checkoutFailure({ type: type('internal-server-error') }), 'Checkout could not start. Please try again.');
    assert.equal(checkoutFailure(new TypeError('Failed to fetch')), 'Checkout could not start. Please try again.');
  });
});

describe("the README's checkout error table", () => {
  // Each row: the problem types /v1/checkout sends for a cause, `retryable`, and what the sheet says.
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const header = readme.indexOf('| cause | status | `type` slug | `retryable` | the sheet says |');
  const rows = readme.slice(header).split('\n').slice(2).filter((line, i, all) => all.slice(0, i + 1).every((l) => l.startsWith('|')));

  test('is there', () => {
    assert.ok(header > 0 && rows.length >= 8, 'README.md lost its checkout error table');
  });

  test('says, row by row, what checkoutFailure makes the sheet say', () => {
    let said = '';
    for (const row of rows) {
      const [, , , types, retryable, says] = row.split('|').map((cell) => cell.trim());
      said = says.startsWith('the same') ? said : says.match(/"([^"]+)"/)[1];
      const slugs = [...types.matchAll(/`([a-z-]+)`/g)].map((m) => m[1]);
      const flag = retryable.startsWith('`true`') ? true : retryable.startsWith('`false`') ? false : undefined;
      assert.ok(slugs.length, row);
      for (const slug of slugs) {
        assert.equal(checkoutFailure({ type: `https://reelcart.dev/problems/${slug}`, retryable: flag }), said, row);
      }
    }
  });
});
