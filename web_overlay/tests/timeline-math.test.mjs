// Unit tests for the pure timeline math: given/when/then, whole values compared.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';

import {
  activeHotspots, boxToRect, defaultVariant, formatPrice, interpolateBox, isValidKeyframe, isValidPlacement,
  parseObjectPosition, parseTimeline, renderedRect,
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

describe('activeHotspots', () => {
  const placements = [
    placement({ id: 'a', start_ms: 0, end_ms: 1000 }),
    placement({ id: 'b', start_ms: 500, end_ms: 3000 }),
    placement({ id: 'c', start_ms: 600, end_ms: 700 }),
    placement({ id: 'd', start_ms: 650, end_ms: 5000 }),
    placement({ id: 'e', start_ms: 4000, end_ms: 6000 }),
  ];
  const ids = (list) => list.map((p) => p.id);

  test('start is inclusive, end is exclusive', () => {
    assert.deepEqual(ids(activeHotspots(placements, 1000, 9)), ['b', 'd']);
    assert.deepEqual(ids(activeHotspots(placements, 0, 9)), ['a']);
  });

  test('at most `limit`, earliest first', () => {
    assert.deepEqual(ids(activeHotspots(placements, 660, 3)), ['a', 'b', 'c']);
  });

  test('nothing before the first start or after the last end', () => {
    assert.deepEqual(ids(activeHotspots(placements, -1, 3)), []);
    assert.deepEqual(ids(activeHotspots(placements, 6000, 3)), []);
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
    assert.equal(formatPrice('4.99', 'EUR', 'en-IE'), '€4.99');
    assert.equal(formatPrice('4.99', 'EUR', 'de-DE'), '4,99\u00a0€');
    assert.equal(formatPrice('1200', 'JPY', 'ja-JP'), '￥1,200');
  });

  test('an unknown currency code degrades to plain text', () => {
    assert.equal(formatPrice('4.99', 'XXXX', 'en'), '4.99 XXXX');
  });
});
