"""Episode registration: by streamed upload or by server-side path, always probed before it is kept."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import func
from sqlmodel import Session, col, select

from api.episodes.exceptions import PathNotAllowed, UnusableMedia, UploadTooLarge
from api.episodes.models import Episode
from api.episodes.schemas import EpisodePage, EpisodePublic
from api.ownership import get_owned
from api.settings import ApiSettings
from api.timeline.service import rebuild_timeline
from tagger.exceptions import VideoError
from tagger.probe import VideoInfo, probe_video
from tagger.transcode import MP4, WEBM, media_kind, transcode_for_browsers

UPLOAD_CHUNK_BYTES = 1 << 20
# An upload is stored under a neutral name until its content says what it is: FFmpeg reads some
# formats by suffix (a `.txt` renders as video), and the name a client sends proves nothing.
UPLOAD_SUFFIX = ".upload"
# Stored episodes are served with the type their suffix names; only files browsers play are kept.
MEDIA_SUFFIXES = {MP4: ".mp4", WEBM: ".webm"}
SUFFIX_MEDIA_TYPES = {".mp4": MP4, ".m4v": MP4, ".mov": MP4, ".webm": WEBM, ".mkv": WEBM}


def media_type_of(path: Path) -> str:
    """The content type an episode's stored file is served with."""
    return SUFFIX_MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")


def episode_public(episode: Episode, settings: ApiSettings) -> EpisodePublic:
    return EpisodePublic(
        id=episode.id,
        title=episode.title,
        status=episode.status,
        source=episode.source,
        size_bytes=episode.size_bytes,
        duration_ms=episode.duration_ms,
        fps=episode.fps,
        time_base=episode.time_base,
        width=episode.width,
        height=episode.height,
        rotation=episode.rotation,
        codec=episode.codec,
        timeline_url=f"{settings.public_base_url}/v1/episodes/{episode.id}/timeline",
        created_at=episode.created_at,
    )


def get_episode(session: Session, brand_id: uuid.UUID, episode_id: uuid.UUID) -> Episode:
    return get_owned(session, Episode, brand_id, episode_id, "episode")


def list_episodes(
    session: Session, brand_id: uuid.UUID, settings: ApiSettings, *, limit: int, offset: int
) -> EpisodePage:
    statement = select(Episode).where(Episode.brand_id == brand_id)
    total = session.exec(select(func.count()).select_from(statement.subquery())).one()
    rows = session.exec(statement.order_by(col(Episode.created_at).desc()).limit(limit).offset(offset)).all()
    return EpisodePage(
        items=[episode_public(row, settings) for row in rows], total=total, limit=limit, offset=offset
    )


def _unusable(error: VideoError, path: Path, shown_name: str) -> UnusableMedia:
    # The tagger names files by their name alone; ours is a random one, so show the sender's instead.
    reason = str(error).replace(path.name, shown_name)
    return UnusableMedia(reason, errors=[{"field": "file", "message": reason}])


def _probe_or_422(path: Path, shown_name: str) -> VideoInfo:
    try:
        return probe_video(path)
    except VideoError as error:
        raise _unusable(error, path, shown_name) from error


def browser_ready(path: Path, settings: ApiSettings, *, owned: bool, shown_name: str) -> tuple[Path, bool]:
    """The file to keep for an episode: `path` itself when browsers play it and its suffix says what it
    is; an upload of ours (`owned`) that browsers play, renamed to the right suffix; anything else
    transcoded to H.264 MP4 under the media dir, keeping its frame times (an owned original is deleted).
    Returns the file and whether it is a transcode.

    Blocking, and for a long video slow: routes run it in a worker thread, never on the event loop.
    """
    try:
        media_type = media_kind(path).browser_media_type
    except VideoError as error:
        raise _unusable(error, path, shown_name) from error
    if media_type is not None and SUFFIX_MEDIA_TYPES.get(path.suffix.lower()) == media_type:
        return path, False
    if media_type is not None and owned:
        renamed = path.with_name(f"{path.stem}{MEDIA_SUFFIXES[media_type]}")
        path.replace(renamed)
        return renamed, False
    folder = settings.media_dir / "episodes"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{uuid.uuid4()}{MEDIA_SUFFIXES[MP4]}"
    try:
        transcode_for_browsers(path, target)
    except VideoError as error:
        raise _unusable(error, path, shown_name) from error
    if owned:
        path.unlink(missing_ok=True)
    return target, True


def register_episode(
    session: Session,
    settings: ApiSettings,
    *,
    brand_id: uuid.UUID,
    title: str,
    path: Path,
    source: str,
    shown_name: str | None = None,
) -> Episode:
    """Probe, make browser-playable (see `browser_ready`), register and build the empty timeline.

    A `source="upload"` file is ours: it may be renamed or replaced by its transcode. A server path is
    never touched; when browsers cannot play it, the episode plays (and is tagged from) a transcode.
    """
    shown = shown_name or path.name
    info = _probe_or_422(path, shown)
    kept, transcoded = browser_ready(path, settings, owned=source == "upload", shown_name=shown)
    try:
        if transcoded:
            info = _probe_or_422(kept, shown)
        episode = Episode(
            brand_id=brand_id,
            title=title,
            media_path=str(kept),
            source=source,
            size_bytes=kept.stat().st_size,
            duration_ms=info.duration_ms,
            fps=info.fps,
            time_base=info.time_base,
            width=info.display_width,
            height=info.display_height,
            rotation=info.rotation,
            codec=info.codec,
        )
        session.add(episode)
        session.flush()
        rebuild_timeline(session, episode, settings)
    except BaseException:
        if kept != path:
            kept.unlink(missing_ok=True)
        raise
    return episode


def resolve_server_path(settings: ApiSettings, raw: str) -> Path:
    """A file a brand may register by path: only under a configured import root, never in the media dir.

    The media dir holds every brand's uploads, transcodes and thumbnails under guessable names, so a
    path into it would let one brand register another's file; the HTTP route takes no media-dir path,
    even when an import root contains the media dir. (The CLI and the demo register their own files
    through `register_episode`, which trusts its caller.)"""
    outside = PathNotAllowed(
        # The roots are the server's layout: named in its settings, never in an answer.
        "the path is outside the allowed media roots; set REELCART_MEDIA_IMPORT_ROOTS to allow more",
        errors=[{"field": "path", "message": "outside the allowed media roots"}],
    )
    if not Path(raw).is_absolute():
        raise outside  # relative to whatever the server's working directory is: never meant
    try:
        path = Path(raw).resolve()
    except (OSError, RuntimeError) as error:  # a symlink loop, a name too long for the filesystem
        raise outside from error
    media = settings.media_dir.resolve()
    roots = [root.resolve() for root in settings.media_import_roots]
    if path.is_relative_to(media) or not any(path.is_relative_to(root) for root in roots):
        raise outside
    try:
        is_file = path.is_file()
    except OSError:  # e.g. a component longer than the filesystem allows
        is_file = False
    if not is_file:
        raise UnusableMedia(
            "no such file on the server",
            errors=[{"field": "path", "message": "no such file"}],
        )
    return path


def register_upload(
    session: Session, settings: ApiSettings, *, brand_id: uuid.UUID, title: str, path: Path, shown_name: str
) -> Episode:
    """Register a streamed upload (see `register_episode`); whatever fails leaves no file behind."""
    try:
        if path.stat().st_size == 0:
            raise UnusableMedia("upload is empty (0 bytes)", errors=[{"field": "file", "message": "empty"}])
        return register_episode(
            session,
            settings,
            brand_id=brand_id,
            title=title,
            path=path,
            source="upload",
            shown_name=shown_name,
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise


async def stream_upload_to_media(chunks: AsyncIterator[bytes], settings: ApiSettings) -> Path:
    """Write an upload chunk by chunk under the media dir, refusing it once it passes the size limit."""
    folder = settings.media_dir / "episodes"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{uuid.uuid4()}{UPLOAD_SUFFIX}"
    partial = target.with_suffix(target.suffix + ".part")
    written = 0
    try:
        with partial.open("wb") as sink:
            async for chunk in chunks:
                written += len(chunk)
                if written > settings.max_upload_bytes:
                    raise UploadTooLarge(
                        f"upload exceeds the {settings.max_upload_bytes} byte limit",
                        errors=[{"field": "file", "message": "too large"}],
                    )
                sink.write(chunk)
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return target
