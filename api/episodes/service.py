"""Episode registration: by streamed upload or by server-side path, always probed before it is kept."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from api.episodes.exceptions import (
    EpisodeProcessing,
    EpisodeSourceGone,
    EpisodeUnplayable,
    NothingToTranscode,
    PathNotAllowed,
    UnusableMedia,
    UploadTooLarge,
)
from api.episodes.models import Episode, EpisodeStatus, TranscodeJob
from api.episodes.schemas import EpisodePage, EpisodePublic
from api.jobs.queue import JobKind, JobRef
from api.ownership import get_owned
from api.settings import ApiSettings
from api.signing import sign_path
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


def episode_public(
    episode: Episode, settings: ApiSettings, transcode_job: uuid.UUID | None = None
) -> EpisodePublic:
    return EpisodePublic(
        id=episode.id,
        title=episode.title,
        status=episode.status,
        media_error=episode.media_error,
        transcode_job=JobRef(JobKind.TRANSCODE, transcode_job).location if transcode_job else None,
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
        video_url=_video_url(episode, settings),
        created_at=episode.created_at,
    )


def _video_url(episode: Episode, settings: ApiSettings) -> str | None:
    """Where a browser plays the episode (the review console draws boxes on it); None until its video
    plays (being transcoded, or it could not be)."""
    if episode.status in (EpisodeStatus.PROCESSING, EpisodeStatus.UNPLAYABLE):
        return None
    return signed_media_url(episode.id, settings)


def signed_media_url(episode_id: uuid.UUID, settings: ApiSettings) -> str:
    """The episode's media route, signed for a while (`api.signing`): what `<video>` elements load."""
    path = f"/v1/episodes/{episode_id}/media"
    return settings.public_base_url + sign_path(settings.secret_key.get_secret_value(), path)


def episode_view(session: Session, episode: Episode, settings: ApiSettings) -> EpisodePublic:
    """`episode_public`, naming the transcode job of an episode that is (or could not be) transcoded."""
    job = None
    if episode.status in (EpisodeStatus.PROCESSING, EpisodeStatus.UNPLAYABLE):
        job = latest_transcode_job(session, episode.id)
    return episode_public(episode, settings, job.id if job else None)


def refuse_unless_playable(episode: Episode) -> None:
    """409 for an episode whose video is still being transcoded, or could not be."""
    if episode.status == EpisodeStatus.PROCESSING:
        raise EpisodeProcessing(
            "the episode's video is still being made browser-playable; tag it, or draw on it, once its "
            "status is registered (its transcode_job shows the progress)"
        )
    if episode.status == EpisodeStatus.UNPLAYABLE:
        raise EpisodeUnplayable(
            f"the episode's video could not be made browser-playable ({episode.media_error}); upload "
            f"another file, or, if the failure was not the video's, try again with POST "
            f"/v1/episodes/{episode.id}/transcode-jobs"
        )


def key_share_episode(session: Session, episode_id: uuid.UUID) -> bool:
    """Key-share the episode's row until the transaction ends (what a row referring to it needs): a
    deletion of it under way is waited for, one that starts later waits for this transaction
    (api.episodes.deletion). False when it is gone."""
    found = session.exec(
        select(Episode.id).where(Episode.id == episode_id).with_for_update(read=True, key_share=True)
    ).first()
    return found is not None


def latest_transcode_job(session: Session, episode_id: uuid.UUID) -> TranscodeJob | None:
    return session.exec(
        select(TranscodeJob)
        .where(TranscodeJob.episode_id == episode_id)
        .order_by(col(TranscodeJob.created_at).desc())
    ).first()


def retry_transcode(session: Session, brand_id: uuid.UUID, episode_id: uuid.UUID) -> TranscodeJob:
    """A new transcode job for an `unplayable` episode whose file is still stored: its last attempt
    failed for a reason that was not the video's (a full disk, an outage; a video that does not convert
    is deleted at once). The episode is `processing` again; the caller commits and publishes the job."""
    episode = get_episode(session, brand_id, episode_id)
    if episode.status == EpisodeStatus.PROCESSING:
        raise EpisodeProcessing("the episode's video is being transcoded already (see its transcode_job)")
    if episode.status != EpisodeStatus.UNPLAYABLE:
        raise NothingToTranscode(f"the episode's video plays in browsers already (status {episode.status})")
    last = latest_transcode_job(session, episode.id)
    if last is None or not Path(last.source_path).is_file():
        raise EpisodeSourceGone(
            f"the episode's file is no longer stored (a video that cannot be converted is deleted: "
            f"{episode.media_error}); upload the video again as a new episode"
        )
    # Conditional: of two retries sent at once one turns the episode `processing`, the other is a 409.
    taken = session.execute(
        update(Episode)
        .where(col(Episode.id) == episode.id, col(Episode.status) == EpisodeStatus.UNPLAYABLE)
        .values(status=EpisodeStatus.PROCESSING, media_error=None)
    )
    if getattr(taken, "rowcount", 0) != 1:
        # Another retry won, or the episode was deleted while this one waited for its row (then a 404).
        session.expunge(episode)
        get_episode(session, brand_id, episode_id)
        raise EpisodeProcessing("the episode's video is being transcoded already (see its transcode_job)")
    job = TranscodeJob(
        brand_id=brand_id,
        episode_id=episode.id,
        source_path=last.source_path,
        source_owned=last.source_owned,
        shown_name=last.shown_name,
    )
    session.add(job)
    session.flush()
    session.refresh(episode)
    return job


def get_episode(session: Session, brand_id: uuid.UUID, episode_id: uuid.UUID) -> Episode:
    return get_owned(session, Episode, brand_id, episode_id, "episode")


def list_episodes(
    session: Session, brand_id: uuid.UUID, settings: ApiSettings, *, limit: int, offset: int
) -> EpisodePage:
    statement = select(Episode).where(Episode.brand_id == brand_id)
    total = session.exec(select(func.count()).select_from(statement.subquery())).one()
    # The id breaks ties (episodes registered in one batch), so offset pages neither repeat nor skip one.
    newest_first = statement.order_by(col(Episode.created_at).desc(), col(Episode.id).desc())
    rows = session.exec(newest_first.limit(limit).offset(offset)).all()
    return EpisodePage(
        items=[episode_view(session, row, settings) for row in rows], total=total, limit=limit, offset=offset
    )


def _unusable(error: VideoError, path: Path, shown_name: str) -> UnusableMedia:
    # The tagger names files by their name alone; ours is a random one, so show the sender's instead.
    reason = str(error).replace(path.name, shown_name)
    return UnusableMedia(reason, errors=[{"field": "file", "message": reason}])


def probe_or_422(path: Path, shown_name: str) -> VideoInfo:
    try:
        return probe_video(path)
    except VideoError as error:
        raise _unusable(error, path, shown_name) from error


def playable_as_is(path: Path, *, owned: bool, shown_name: str) -> Path | None:
    """The file to keep when browsers play `path` without a transcode: `path` itself when its suffix
    says what it is, or an upload of ours (`owned`) renamed to the right suffix; None when it needs a
    transcode. Reads the container's header only: fast."""
    try:
        media_type = media_kind(path).browser_media_type
    except VideoError as error:
        raise _unusable(error, path, shown_name) from error
    if media_type is None:
        return None
    if SUFFIX_MEDIA_TYPES.get(path.suffix.lower()) == media_type:
        return path
    if not owned:
        return None  # a server file under a misleading name is never renamed: play a transcode of it
    renamed = path.with_name(f"{path.stem}{MEDIA_SUFFIXES[media_type]}")
    path.replace(renamed)
    return renamed


def transcode_into_media(
    path: Path,
    settings: ApiSettings,
    *,
    owned: bool,
    shown_name: str,
    on_progress: Callable[[float], None] | None = None,
) -> Path:
    """`path` transcoded to H.264 MP4 under the media dir, keeping its frame times (an owned original
    is deleted once the transcode is complete). Slow for a long video: a job's work, or the CLI's."""
    folder = settings.media_dir / "episodes"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{uuid.uuid4()}{MEDIA_SUFFIXES[MP4]}"
    try:
        transcode_for_browsers(path, target, on_progress=on_progress)
    except VideoError as error:
        raise _unusable(error, path, shown_name) from error
    if owned:
        path.unlink(missing_ok=True)
    return target


def browser_ready(path: Path, settings: ApiSettings, *, owned: bool, shown_name: str) -> tuple[Path, bool]:
    """The file to keep for an episode (`playable_as_is`, else `transcode_into_media`) and whether it
    is a transcode. Blocking, and for a long video slow: only the CLI and the demo register this way;
    the HTTP routes leave the transcode to a job (`register_for_browsers`)."""
    kept = playable_as_is(path, owned=owned, shown_name=shown_name)
    if kept is not None:
        return kept, False
    return transcode_into_media(path, settings, owned=owned, shown_name=shown_name), True


def media_fields(kept: Path, info: VideoInfo) -> dict[str, Any]:
    """An episode's columns for `kept`, the file it plays and is tagged from, as probed in `info`."""
    return {
        "media_path": str(kept),
        "size_bytes": kept.stat().st_size,
        "duration_ms": info.duration_ms,
        "fps": info.fps,
        "time_base": info.time_base,
        "width": info.display_width,
        "height": info.display_height,
        "rotation": info.rotation,
        "codec": info.codec,
    }


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
    info = probe_or_422(path, shown)
    kept, transcoded = browser_ready(path, settings, owned=source == "upload", shown_name=shown)
    try:
        if transcoded:
            info = probe_or_422(kept, shown)
        episode = Episode(brand_id=brand_id, title=title, source=source, **media_fields(kept, info))
        session.add(episode)
        session.flush()
        rebuild_timeline(session, episode, settings)
    except BaseException:
        if kept != path:
            kept.unlink(missing_ok=True)
        raise
    return episode


def register_for_browsers(
    session: Session,
    settings: ApiSettings,
    *,
    brand_id: uuid.UUID,
    title: str,
    path: Path,
    source: str,
    shown_name: str | None = None,
    idempotency_key: str | None = None,
    upload_bytes: int | None = None,
) -> tuple[Episode, TranscodeJob | None]:
    """What the HTTP routes register: probed at once (an unusable file is a 422 now), kept as it is
    when browsers play it, else registered `processing` with a transcode job, which the caller
    publishes after its commit: a request never waits for a transcode. Flushes only."""
    shown = shown_name or path.name
    owned = source == "upload"
    info = probe_or_422(path, shown)
    kept = playable_as_is(path, owned=owned, shown_name=shown)
    try:
        episode = Episode(
            brand_id=brand_id,
            title=title,
            source=source,
            idempotency_key=idempotency_key,
            upload_bytes=upload_bytes,
            **media_fields(kept or path, info),
        )
        job: TranscodeJob | None = None
        if kept is None:
            episode.status = EpisodeStatus.PROCESSING
            job = TranscodeJob(
                brand_id=brand_id,
                episode_id=episode.id,
                source_path=str(path),
                source_owned=owned,
                shown_name=shown[:255],
            )
        session.add(episode)
        session.flush()
        if job is not None:
            session.add(job)
        rebuild_timeline(session, episode, settings)
        session.flush()
    except BaseException:
        if owned and kept is not None and kept != path:
            kept.unlink(missing_ok=True)  # the upload renamed to its type: the caller knows only `path`
        raise
    return episode, job


def stored_file_names(session: Session) -> set[str]:
    """The names of the files episodes play and transcode jobs read (the housekeeping sweep keeps
    them): every file ReelCart stores for episodes has a unique random name."""
    played = session.exec(select(Episode.media_path)).all()
    read = session.exec(select(TranscodeJob.source_path)).all()
    return {Path(path).name for path in (*played, *read)}


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
    session: Session,
    settings: ApiSettings,
    *,
    brand_id: uuid.UUID,
    title: str,
    path: Path,
    shown_name: str,
    idempotency_key: str | None = None,
) -> tuple[Episode, TranscodeJob | None]:
    """Register a streamed upload (see `register_for_browsers`); whatever fails leaves no file behind."""
    try:
        size = path.stat().st_size
        if size == 0:
            raise UnusableMedia("upload is empty (0 bytes)", errors=[{"field": "file", "message": "empty"}])
        return register_for_browsers(
            session,
            settings,
            brand_id=brand_id,
            title=title,
            path=path,
            source="upload",
            shown_name=shown_name,
            idempotency_key=idempotency_key,
            upload_bytes=size,
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
