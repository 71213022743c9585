// Budgets from DESIGN.md: the SDK as served stays under 8 KB gzipped, per-frame math well under 1 ms.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { BUDGET_BYTES, gzippedSdkBytes } from '../scripts/check-size.mjs';
import { layoutLabels, parseTimeline, pickHotspots, renderedRect } from '../timeline-math.js';

test('the overlay SDK is at most 8 KB gzipped', () => {
  const bytes = gzippedSdkBytes();
  assert.ok(bytes <= BUDGET_BYTES, `SDK is ${bytes} bytes gzipped, budget ${BUDGET_BYTES}`);
});

test('per-frame math for a busy episode stays far below 1 ms', () => {
  // Given 200 placements with a keyframe per frame at 30 fps over 10 s each.
  const placements = Array.from({ length: 200 }, (_, i) => ({
    id: `pl_${i}`, start_ms: i * 3000, end_ms: i * 3000 + 10000, label: 'x',
    keyframes: Array.from({ length: 300 }, (_, k) => ({ t_ms: i * 3000 + k * 33, box: [0.1 + k / 1000, 0.2, 0.2, 0.2] })),
    product: { id: 'p', title: 't', brand: 'b', image_url: null, variants: [{ id: 'v', sku: 's', title: 't', price: '1.00', currency: 'EUR', available: true }] },
  }));
  const timeline = parseTimeline({ version: 1, episode: { id: 'e', duration_ms: 610000, width: 1080, height: 1920 }, placements });
  assert.ok(timeline);
  const rect = renderedRect(390, 844, 1080, 1920, 'cover');

  // When the work a frame does (ranking what is on screen, interpolating and mapping it, laying out
  // labels) runs for 3000 frames.
  const frames = 3000;
  const shown = new Set();
  const started = performance.now();
  for (let f = 0; f < frames; f += 1) {
    const t = f * 200;
    const picks = pickHotspots(timeline.placements, t, rect, 390, 844, 3, shown);
    layoutLabels(picks.map(({ r }) => ({ x: r.x + r.width / 2, y: r.y + r.height / 2, width: 120, height: 18 })), 390, 844);
  }
  const perFrameMs = (performance.now() - started) / frames;

  // Then each frame costs a small fraction of a millisecond even on a shared CI core.
  assert.ok(perFrameMs < 0.25, `per-frame math took ${perFrameMs.toFixed(4)} ms`);
});
