// Fails when the overlay SDK, as served (no minifier in the loop), grows past its gzipped budget.
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

export const BUDGET_BYTES = 8 * 1024;
/** The files a player downloads: the SDK and the module it imports. */
export const SDK_FILES = ['reelcart-overlay.js', 'timeline-math.js'];

/** @returns {number} gzipped size of the SDK files, each compressed as a browser would fetch it. */
export function gzippedSdkBytes() {
  const root = new URL('../', import.meta.url);
  return SDK_FILES.reduce((sum, f) => sum + gzipSync(readFileSync(new URL(f, root)), { level: 9 }).length, 0);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const bytes = gzippedSdkBytes();
  console.log(`overlay SDK: ${bytes} bytes gzipped (budget ${BUDGET_BYTES})`);
  if (bytes > BUDGET_BYTES) process.exit(1);
}
