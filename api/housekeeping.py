"""Start-up housekeeping: what a crashed process left behind in the media dir.

Files are written as `<name>.part` and renamed when complete (uploads, transcodes, catalog images),
so a `.part` file is either being written right now, by this or another process sharing the media
dir, or an orphan of a process that died mid-write. A writer appends as the bytes arrive, so its
file's modification time keeps moving: one untouched for `STALE_PART_AFTER_S` has no live writer.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

log = logging.getLogger("reelcart.housekeeping")

# Generous beside the seconds between a live upload's writes: a stalled client is given ten minutes
# before another process's start-up may take its file (a crash's leftovers wait for the next start).
STALE_PART_AFTER_S = 600.0
# Where `.part` files are written: uploads and transcodes, catalog images (one folder per brand).
PART_FILE_PATTERNS = ("episodes/*.part", "images/*/*.part")


def sweep_stale_part_files(
    media_dir: Path, *, older_than_s: float = STALE_PART_AFTER_S, now: float | None = None
) -> list[Path]:
    """Delete the `.part` files under `media_dir` untouched for `older_than_s`; returns them."""
    cutoff = (time.time() if now is None else now) - older_than_s
    swept: list[Path] = []
    for pattern in PART_FILE_PATTERNS:
        for path in media_dir.glob(pattern):
            try:
                if not path.is_file() or path.stat().st_mtime > cutoff:
                    continue
                path.unlink()
            except FileNotFoundError:
                continue  # its writer finished (renamed it) or cleaned up meanwhile
            except OSError as error:
                log.warning("could not delete stale partial file %s: %s", path.name, error.strerror)
                continue
            swept.append(path)
    if swept:
        log.info("deleted %d partial file(s) an interrupted write left in the media dir", len(swept))
    return swept
