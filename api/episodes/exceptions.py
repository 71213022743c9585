"""What episode registration refuses."""

from __future__ import annotations

from api.errors import ApiError


class UnusableMedia(ApiError, slug="unusable-media"):
    """Not a video the tagger can read (or no such file)."""


class PathNotAllowed(ApiError, slug="path-not-allowed"):
    """A server path outside the configured import roots."""


class UploadTooLarge(ApiError, status=413, slug="payload-too-large"):
    """An upload over `REELCART_MAX_UPLOAD_BYTES`."""


class EpisodeProcessing(ApiError, status=409, slug="episode-processing"):
    """Its video is still being made browser-playable by a transcode job."""


class EpisodeUnplayable(ApiError, status=409, slug="episode-unplayable"):
    """Its video could not be made browser-playable."""


class NothingToTranscode(ApiError, status=409, slug="nothing-to-transcode"):
    """A transcode was asked for an episode whose video plays in browsers already."""


class EpisodeSourceGone(ApiError, status=409, slug="episode-source-gone"):
    """The file an unplayable episode was registered from is no longer stored: nothing to try again."""


class EpisodeSold(ApiError, status=409, slug="already-sold"):
    """Checkouts were started from the episode's hotspots: its sales records name it, so it is kept."""


class EpisodeHasJobs(ApiError, status=409, slug="job-in-progress"):
    """A job is queued or running for the episode; it is deleted once the job is done."""
