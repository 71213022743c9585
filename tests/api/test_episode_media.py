"""What an uploaded or registered episode becomes: a file browsers play, served with its true type.

Given a file that FFmpeg reads but browsers show black (a GIF, MPEG-4 Part 2 in AVI), when it is
uploaded or registered, then the episode is `processing` and a transcode job (never the request) makes
it an H.264 MP4 with the original's frame times; files browsers already play are kept byte for byte,
whatever name they were sent under; what is not a video gets a 422 that names no server path and no
errno, and a video that does not convert leaves the episode `unplayable`, saying why.
"""

from __future__ import annotations

import random
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.episodes.transcode_job import TranscodeJobExecutor
from api.jobs.queue import JobKind
from api.settings import ApiSettings
from api.signing import sign_path
from tagger.exceptions import VideoError
from tests.utils.api import BrandAccount, RecordingQueue, make_video, upload_episode
from tests.utils.media import frame_times_ms, write_clip

PROBLEM = "application/problem+json"
# A GIF's frame delays are its own (in 1/100 s; the last frame shows 0.1 s): the transcode keeps them.
GIF_PTS = [0, 10, 20, 50, 60, 120, 130]


def make_gif(path: Path, *, size: tuple[int, int] = (65, 47)) -> Path:
    """An animated GIF with uneven frame delays and odd sides, written with PyAV's GIF encoder."""
    width, height = size
    with av.open(str(path), mode="w", format="gif") as container:
        stream = container.add_stream("gif", rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, "rgb8"
        stream.codec_context.time_base = Fraction(1, 100)
        for index, pts in enumerate(GIF_PTS):
            image = np.zeros((height, width, 3), dtype=np.uint8)
            image[5:15, index * 5 : index * 5 + 8] = 255
            frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="rgb8")
            frame.pts, frame.time_base = pts, Fraction(1, 100)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def make_avi_with_sound(path: Path) -> Path:
    """MPEG-4 Part 2 video and PCM sound in AVI: FFmpeg reads it, no browser plays it."""
    with av.open(str(path), mode="w") as container:
        video = container.add_stream("mpeg4", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = container.add_stream("pcm_s16le", rate=16000)
        audio.layout = "mono"
        for index in range(25):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), index * 8, np.uint8), format="rgb24")
            frame.pts = index
            for packet in video.encode(frame):
                container.mux(packet)
            sound = av.AudioFrame.from_ndarray(np.zeros((1, 640), np.int16), format="s16", layout="mono")
            sound.sample_rate, sound.pts = 16000, index * 640
            for packet in audio.encode(sound):
                container.mux(packet)
        for packet in video.encode(None):
            container.mux(packet)
        for packet in audio.encode(None):
            container.mux(packet)
    return path


def make_webm(path: Path) -> Path:
    return write_clip(path, "libvpx-vp9", "yuv420p", container="webm")


def codecs(path: Path) -> tuple[str, str, list[str]]:
    with av.open(str(path)) as container:
        video = container.streams.video[0].codec_context
        assert video.format is not None
        return video.name, video.format.name, [s.codec_context.name for s in container.streams.audio]


def upload(
    client: TestClient, brand: BrandAccount, data: bytes, *, name: str | None = None
) -> httpx.Response:
    return upload_episode(client, brand, data, title="Ep", filename=name or None)


def media(client: TestClient, settings: ApiSettings, episode_id: str) -> httpx.Response:
    url = sign_path(settings.secret_key.get_secret_value(), f"/v1/episodes/{episode_id}/media")
    response: httpx.Response = client.get(url)
    return response


def refused_by_the_encoder(source: Path, target: Path, **_: object) -> None:
    """In place of `transcode_for_browsers`: a video whose frames FFmpeg cannot encode (the video's fault)."""
    raise VideoError(f"{source.name} could not be converted to H.264: Invalid data", path=str(source))


def disk_full(source: Path, target: Path, **_: object) -> None:
    """In place of `transcode_for_browsers`: the media volume fills up while the transcode writes (the
    machine's fault, not the video's)."""
    raise OSError(28, "No space left on device")


def run_transcodes(engine: Engine, settings: ApiSettings, queue: RecordingQueue) -> int:
    """Run the transcode jobs the routes queued, as a worker would; how many ran."""
    jobs = [job for job in queue.enqueued if job.kind is JobKind.TRANSCODE]
    queue.enqueued = [job for job in queue.enqueued if job.kind is not JobKind.TRANSCODE]
    for job in jobs:
        TranscodeJobExecutor(engine, settings)(job.id)
    return len(jobs)


def transcoded(
    client: TestClient,
    brand: BrandAccount,
    engine: Engine,
    settings: ApiSettings,
    queue: RecordingQueue,
    registered: httpx.Response,
) -> dict[str, Any]:
    """The episode a registration answered `processing`, once its transcode job has run."""
    assert registered.status_code == 201, registered.text
    body = registered.json()
    assert body["status"] == "processing"
    assert body["transcode_job"].startswith("/v1/transcode-jobs/")
    assert run_transcodes(engine, settings, queue) == 1
    job = client.get(body["transcode_job"], headers=brand.headers).json()
    assert (job["state"], job["progress"], job["episode_id"]) == ("done", 1.0, body["id"])
    episode: dict[str, Any] = client.get(f"/v1/episodes/{body['id']}", headers=brand.headers).json()
    assert (episode["status"], episode["transcode_job"], episode["media_error"]) == ("registered", None, None)
    return episode


def stored_episodes(settings: ApiSettings) -> list[Path]:
    return sorted((settings.media_dir / "episodes").iterdir())


def assert_no_server_detail(problem: httpx.Response, settings: ApiSettings) -> None:
    """Nothing but `instance` (the request's own path) may hold a path, and nothing an errno."""
    text = str({key: value for key, value in problem.json().items() if key != "instance"})
    for leak in ("Errno", "errno", str(settings.media_dir), "/tmp", "/episodes/", ".upload", ".part"):
        assert leak not in text, f"{leak!r} leaked in {text}"


def test_a_gif_upload_becomes_an_h264_mp4_with_the_gifs_timing(
    client: TestClient,
    brand: BrandAccount,
    settings: ApiSettings,
    engine: Engine,
    job_queue: RecordingQueue,
    tmp_path: Path,
) -> None:
    # Given an animated GIF with uneven delays and odd sides, sent under the default name episode.mp4
    gif = make_gif(tmp_path / "loop.gif")
    # When it is uploaded, the request answers at once: the episode is processing, nothing can use it yet
    response = upload(client, brand, gif.read_bytes())
    assert (response.status_code, response.json()["status"], response.json()["codec"]) == (
        201,
        "processing",
        "gif",
    )
    episode_id = response.json()["id"]
    tag = client.post(f"/v1/episodes/{episode_id}/tag-jobs", headers=brand.headers)
    assert (tag.status_code, tag.json()["type"]) == (409, "https://reelcart.dev/problems/episode-processing")
    assert media(client, settings, episode_id).status_code == 409
    # Then its transcode job makes it an H.264 transcode as long as the GIF, at even sides
    body = transcoded(client, brand, engine, settings, job_queue, response)
    assert (body["codec"], body["duration_ms"], body["width"], body["height"]) == ("h264", 1400, 64, 46)
    # And only the transcode is kept, named for what it is, and its frames keep the GIF's times
    [stored] = stored_episodes(settings)
    assert stored.suffix == ".mp4"
    assert body["size_bytes"] == stored.stat().st_size
    assert codecs(stored) == ("h264", "yuv420p", [])
    assert frame_times_ms(stored) == frame_times_ms(gif) == [pts * 10 for pts in GIF_PTS]
    # And the player gets it as video/mp4
    served = media(client, settings, body["id"])
    assert (served.status_code, served.headers["content-type"]) == (200, "video/mp4")
    assert served.content == stored.read_bytes()


def test_video_and_sound_browsers_cannot_play_become_h264_and_aac(
    client: TestClient,
    brand: BrandAccount,
    settings: ApiSettings,
    engine: Engine,
    job_queue: RecordingQueue,
    tmp_path: Path,
) -> None:
    avi = make_avi_with_sound(tmp_path / "old.avi")
    response = upload(client, brand, avi.read_bytes(), name="old.avi")
    body = transcoded(client, brand, engine, settings, job_queue, response)
    assert (body["codec"], body["duration_ms"]) == ("h264", 1000)
    [stored] = stored_episodes(settings)
    assert codecs(stored) == ("h264", "yuv420p", ["aac"])
    assert frame_times_ms(stored) == frame_times_ms(avi)


def test_playable_files_are_kept_as_sent_and_named_by_their_content(
    client: TestClient, brand: BrandAccount, settings: ApiSettings, tmp_path: Path
) -> None:
    # Given a VP9 WebM sent as "clip.mp4" and an H.264 MP4 sent as "clip.gif"
    webm = make_webm(tmp_path / "a.webm")
    mp4 = make_video(tmp_path / "b.mp4")
    as_mp4 = upload(client, brand, webm.read_bytes(), name="clip.mp4")
    as_gif = upload(client, brand, mp4.read_bytes(), name="clip.gif")
    # Then neither is transcoded: each is stored byte for byte and served with its true type
    assert (as_mp4.status_code, as_mp4.json()["codec"]) == (201, "vp9")
    assert (as_gif.status_code, as_gif.json()["codec"]) == (201, "h264")
    assert sorted(path.read_bytes() for path in stored_episodes(settings)) == sorted(
        [webm.read_bytes(), mp4.read_bytes()]
    )
    assert sorted(path.suffix for path in stored_episodes(settings)) == [".mp4", ".webm"]
    assert media(client, settings, as_mp4.json()["id"]).headers["content-type"] == "video/webm"
    assert media(client, settings, as_gif.json()["id"]).headers["content-type"] == "video/mp4"


def test_a_server_gif_is_registered_through_a_transcode_and_left_alone(
    client: TestClient,
    brand: BrandAccount,
    settings: ApiSettings,
    engine: Engine,
    job_queue: RecordingQueue,
    tmp_path: Path,
) -> None:
    (tmp_path / "library").mkdir()
    gif = make_gif(tmp_path / "library" / "loop.gif")
    original = gif.read_bytes()
    response = client.post("/v1/episodes", json={"title": "Lib", "path": str(gif)}, headers=brand.headers)
    body = transcoded(client, brand, engine, settings, job_queue, response)
    assert (body["source"], body["codec"]) == ("path", "h264")
    assert gif.read_bytes() == original
    [stored] = stored_episodes(settings)
    assert frame_times_ms(stored) == frame_times_ms(gif)
    assert media(client, settings, response.json()["id"]).headers["content-type"] == "video/mp4"


@pytest.mark.parametrize("name", ["notes.txt", "episode.mp4", None])
def test_a_text_file_is_refused_without_a_server_path_or_errno(
    client: TestClient, brand: BrandAccount, settings: ApiSettings, name: str | None
) -> None:
    response = upload(client, brand, b"Episode 3 notes: the hero buys orange juice.\n" * 40, name=name)
    assert (response.status_code, response.headers["content-type"]) == (422, PROBLEM)
    body = response.json()
    assert body["detail"] == (
        f"{name or 'episode.mp4'} is not a readable media file: Invalid data found when processing input"
    )
    assert_no_server_detail(response, settings)
    assert list((settings.media_dir / "episodes").iterdir()) == []


def test_a_text_file_on_the_server_is_not_rendered_as_a_video(
    client: TestClient, brand: BrandAccount, settings: ApiSettings, tmp_path: Path
) -> None:
    # FFmpeg would draw a .txt file as ANSI art; it is refused instead.
    notes = tmp_path / "library" / "notes.txt"
    notes.parent.mkdir(parents=True)
    notes.write_text("not a video\n" * 50)
    response = client.post("/v1/episodes", json={"title": "T", "path": str(notes)}, headers=brand.headers)
    assert (response.status_code, response.json()["detail"]) == (422, "notes.txt is text, not a video")
    missing = client.post(
        "/v1/episodes", json={"title": "T", "path": str(notes.with_name("gone.mp4"))}, headers=brand.headers
    )
    outside = client.post("/v1/episodes", json={"title": "T", "path": "/etc/hostname"}, headers=brand.headers)
    for refused in (response, missing, outside):
        assert refused.status_code == 422
        assert_no_server_detail(refused, settings)
    assert "/etc" not in outside.text


def test_junk_and_truncated_uploads_are_clean_4xx_problems(
    client: TestClient,
    brand: BrandAccount,
    settings: ApiSettings,
    engine: Engine,
    job_queue: RecordingQueue,
    tmp_path: Path,
) -> None:
    """A bounded fuzz: random bytes, real files cut short and real headers over random tails."""
    rng = random.Random(20261203)
    real = [make_video(tmp_path / "r.mp4").read_bytes(), make_gif(tmp_path / "r.gif").read_bytes()]
    real.append(make_webm(tmp_path / "r.webm").read_bytes())
    junk = [rng.randbytes(rng.randint(1, 4096)) for _ in range(12)]
    cut = [data[: rng.randint(1, len(data) - 1)] for data in real for _ in range(4)]
    spliced = [data[:64] + rng.randbytes(512) for data in real]
    accepted, unplayable = 0, 0
    for index, data in enumerate(junk + cut + spliced):
        response = upload(client, brand, data, name=rng.choice(["a.mp4", "a.gif", "a.webm", "a.bin"]))
        if response.status_code == 201:
            # A file cut after its first frames can still be a (shorter) video: it plays as it is, or its
            # transcode job makes it play, or says (on the episode) why it cannot.
            run_transcodes(engine, settings, job_queue)
            episode = client.get(f"/v1/episodes/{response.json()['id']}", headers=brand.headers).json()
            if episode["status"] == "unplayable":
                unplayable += 1
                assert episode["media_error"], index
                assert "Errno" not in episode["media_error"], index
                continue
            accepted += 1
            assert (episode["status"], episode["codec"]) in (("registered", "h264"), ("registered", "vp9")), (
                index
            )
            continue
        assert 400 <= response.status_code < 500, (index, response.text)
        assert response.headers["content-type"] == PROBLEM, index
        assert response.json()["status"] == response.status_code
        assert_no_server_detail(response, settings)
    assert accepted + unplayable < len(cut)
    # And nothing refused or unplayable is left on disk: only the playable episodes' files remain
    assert len(stored_episodes(settings)) == accepted
