"""Start-up housekeeping: what a crashed process left behind in the media dir.

Files are written as `<name>.part` and renamed when complete (uploads, transcodes, catalog images),
so a `.part` file is either being written right now, by this or another process sharing the media
dir, or an orphan of a process that died mid-write. A writer appends as the bytes arrive, so its
file's modification time keeps moving: one untouched for `STALE_PART_AFTER_S` has no live writer.

A complete file in the episodes folder can be an orphan too: a transcode finished but its job died
before the episode pointed at it, an upload stored whose registration never committed, a CLI copy cut
short. Such a file is one no episode plays and no transcode job reads; it is swept once it is a day
old, far beyond the seconds between a file's last write and the commit naming it (and the minutes a
CLI registration spends transcoding its copy).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Collection
from pathlib import Path

log = logging.getLogger("reelcart.housekeeping")

# Generous beside the seconds between a live upload's writes: a stalled client is given ten minutes
# before another process's start-up may take its file (a crash's leftovers wait for the next start).
STALE_PART_AFTER_S = 600.0
# Where `.part` files are written: uploads and transcodes, catalog images (one folder per brand).
PART_FILE_PATTERNS = ("episodes/*.part", "images/*/*.part")
ORPHAN_AFTER_S = 24 * 3600.0
# The names ReelCart gives the files it stores in the episodes folder (a random UUID and a suffix):
# anything else there was put by someone else and is never touched.
_STORED_NAME = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(\.[a-z0-9]{1,10})?")


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


def is_stored_episode_file(path: Path, media_dir: Path) -> bool:
    """Whether `path` is a file ReelCart stored for an episode: in the media dir's episodes folder,
    under a name it gave it (a file registered by path keeps its own name and place)."""
    try:
        folder = (media_dir / "episodes").resolve()
        return path.resolve().parent == folder and _STORED_NAME.fullmatch(path.name) is not None
    except (OSError, RuntimeError):
        return False


def sweep_orphaned_episode_files(
    media_dir: Path,
    referenced: Collection[str],
    *,
    older_than_s: float = ORPHAN_AFTER_S,
    now: float | None = None,
) -> list[Path]:
    """Delete the files ReelCart stored in `media_dir/episodes` whose names are not in `referenced`
    (the file names episodes and transcode jobs hold) and that were last written `older_than_s` ago."""
    cutoff = (time.time() if now is None else now) - older_than_s
    swept: list[Path] = []
    folder = media_dir / "episodes"
    if not folder.is_dir():
        return swept
    stored = [path for path in folder.iterdir() if _STORED_NAME.fullmatch(path.name)]
    if stored and not any(path.name in referenced for path in stored):
        # A database that names none of the files ReelCart stored is more likely the wrong database (a
        # new or restored one beside an old media dir) than one whose every episode file is an orphan.
        log.warning(
            "episode files not swept: the database names none of the %d stored in %s (is it this media "
            "dir's database?)",
            len(stored),
            folder,
        )
        return swept
    for path in stored:
        if path.name in referenced:
            continue
        try:
            if not path.is_file() or path.stat().st_mtime > cutoff:
                continue
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as error:
            log.warning("could not delete orphaned episode file %s: %s", path.name, error.strerror)
            continue
        swept.append(path)
    if swept:
        log.info(
            "deleted %d episode file(s) no episode or transcode job names (a crash's leftovers)", len(swept)
        )
    return swept
