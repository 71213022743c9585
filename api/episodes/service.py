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

UPLOAD_CHUNK_BYTES = 1 << 20
VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi", ".gif", ".ts"}


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


def _probe_or_422(path: Path, shown_name: str) -> VideoInfo:
    try:
        return probe_video(path)
    except VideoError as error:
        reason = str(error).replace(path.name, shown_name)
        raise UnusableMedia(reason, errors=[{"field": "file", "message": reason}]) from error


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
    info = _probe_or_422(path, shown_name or path.name)
    episode = Episode(
        brand_id=brand_id,
        title=title,
        media_path=str(path),
        source=source,
        size_bytes=path.stat().st_size,
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
    return episode


def resolve_server_path(settings: ApiSettings, raw: str) -> Path:
    """Only files under the media dir or a configured import root may be registered by path."""
    path = Path(raw).expanduser().resolve()
    roots = [settings.media_dir.resolve(), *(root.resolve() for root in settings.media_import_roots)]
    if not any(path.is_relative_to(root) for root in roots):
        allowed = ", ".join(str(root) for root in roots)
        raise PathNotAllowed(
            f"{raw} is outside the allowed media roots ({allowed}); "
            "set REELCART_MEDIA_IMPORT_ROOTS to allow more",
            errors=[{"field": "path", "message": "outside the allowed media roots"}],
        )
    if not path.is_file():
        raise UnusableMedia(
            f"no such file on the server: {raw}",
            errors=[{"field": "path", "message": "no such file"}],
        )
    return path


async def stream_upload_to_media(
    chunks: AsyncIterator[bytes], settings: ApiSettings, *, filename: str
) -> Path:
    """Write an upload chunk by chunk under the media dir, refusing it once it passes the size limit."""
    suffix = Path(filename).suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        suffix = ".bin"
    folder = settings.media_dir / "episodes"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{uuid.uuid4()}{suffix}"
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
