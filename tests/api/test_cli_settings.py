"""A setting set wrong, as an operator meets it: every command stops with one line naming the variable
and what is wrong with it, and a non-zero exit, never pydantic's documentation URL or a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from api.cli import app
from api.settings import ApiSettings, get_settings

runner = CliRunner()


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)  # no .env of the checkout's is read
    monkeypatch.setenv("REELCART_DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite'}")
    monkeypatch.setenv("REELCART_MEDIA_DIR", str(tmp_path / "media"))
    monkeypatch.setattr("uvicorn.run", _never_serves)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _never_serves(*_args: object, **_kwargs: object) -> None:
    raise AssertionError("serve got past its checks")


def _refused(*args: str) -> str:
    """The command's one line of refusal (it exits 1)."""
    result = runner.invoke(app, list(args))
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.mark.parametrize(
    ("variable", "value", "line"),
    [
        (
            "REELCART_WORKER_THREADS",
            "100",
            "REELCART_WORKER_THREADS: Input should be less than or equal to 64",
        ),
        (
            "REELCART_PORT",
            "abc",
            "REELCART_PORT: Input should be a valid integer, unable to parse string as an integer",
        ),
        (
            "REELCART_RATE_LIMIT_EVENTS",
            "bogus",
            "REELCART_RATE_LIMIT_EVENTS: couldn't parse rate limit string 'bogus'",
        ),
        (
            "REELCART_JOB_LEASE_S",
            "5",
            "REELCART_JOB_LEASE_S must be at least twice REELCART_JOB_HEARTBEAT_S, or a live worker's job "
            "would be taken from it between two beats",
        ),
        (
            "REELCART_ENVIRONMENT",
            "production",
            "REELCART_SECRET_KEY is a placeholder; set a real secret outside development "
            "(environment is 'production')",
        ),
        (
            "REELCART_CORS_ORIGINS",
            "https://tools.example",
            'REELCART_CORS_ORIGINS: not valid JSON (a list is written as one, e.g. ["a", "b"])',
        ),
        (
            "REELCART_MEDIA_IMPORT_ROOTS",
            '["/srv/episodes", "library"]',
            "REELCART_MEDIA_IMPORT_ROOTS (entry 2): 'library' is relative; give absolute paths",
        ),
        (
            "REELCART_MAX_IMPORT_BYTES",
            "1000",
            "REELCART_MAX_IMPORT_BYTES: Input should be greater than or equal to 1048576",
        ),
        (
            "REELCART_TRAIN_IMAGE_SIZE",
            "300",
            "REELCART_TRAIN_IMAGE_SIZE: Input should be a multiple of 32",
        ),
        (
            "REELCART_MAX_IMPORT_BYTES",
            str(2 << 30),
            "REELCART_MAX_IMPORT_BYTES: Input should be less than or equal to 1073741824",
        ),
    ],
)
@pytest.mark.parametrize("command", [("serve",), ("brand", "create", "Orchard Co")])
def test_a_bad_setting_stops_a_command_with_one_line_naming_its_variable(
    workspace: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: tuple[str, ...],
    variable: str,
    value: str,
    line: str,
) -> None:
    # Given one setting set wrong
    monkeypatch.setenv(variable, value)

    # When a command starts, then it says which and why, in one line
    assert _refused(*command) == f"error: invalid settings: {line}"


def test_every_bad_setting_is_named_in_the_one_line(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REELCART_PORT", "0")
    monkeypatch.setenv("REELCART_WORKER_THREADS", "-1")

    said = _refused("serve")

    assert "REELCART_PORT: Input should be greater than or equal to 1" in said
    assert "REELCART_WORKER_THREADS: Input should be greater than or equal to 0" in said


def test_a_bad_tagging_setting_stops_reelcart_tag_in_one_line(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a tagging knob set wrong
    monkeypatch.setenv("REELCART_SAMPLE_FPS", "0")
    video = workspace / "x.mp4"
    video.write_bytes(b"")

    # Then `reelcart tag` refuses as any bad setting is refused (before it reads the video)
    assert (
        _refused("tag", str(video))
        == "error: invalid settings: REELCART_SAMPLE_FPS: Input should be greater than 0"
    )


def test_the_sample_fps_option_wins_over_the_variable_set_wrong(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REELCART_SAMPLE_FPS", "0")
    monkeypatch.setenv("REELCART_MODEL_CARDS_DIR", str(workspace / "no-cards"))

    # The option replaces the variable, so what stops the run is the next thing wrong: no detector card
    said = _refused("tag", str(workspace / "x.mp4"), "--sample-fps", "2")

    assert "invalid settings" not in said
    assert said.startswith("error: ")


@pytest.mark.parametrize(
    "command",
    [
        ("serve",),
        ("demo", "--no-serve"),
        ("models", "list"),
        ("eval", "marks", "--catalog", "catalog.csv"),
    ],
)
def test_commands_that_tag_refuse_a_bad_tagging_setting_in_one_line(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    monkeypatch.setenv("REELCART_SAMPLE_FPS", "0")
    (workspace / "catalog.csv").write_text("sku,title,image\n", encoding="utf-8")

    assert (
        _refused(*command) == "error: invalid settings: REELCART_SAMPLE_FPS: Input should be greater than 0"
    )


def test_a_web_only_node_does_not_read_the_tagging_settings(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an API node whose jobs Celery workers run (they read the tagging settings, it never does)
    monkeypatch.setenv("REELCART_SAMPLE_FPS", "0")
    monkeypatch.setenv("REELCART_WORKER_THREADS", "0")
    monkeypatch.setenv("REELCART_BROKER_URL", "redis://127.0.0.1:1/1")

    # Then what `serve` says next is the schema, not the tagging knob
    said = _refused("serve")

    assert "run `reelcart db upgrade`" in said


def test_a_bad_previous_token_key_is_named_with_its_place_in_the_list(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a rotation whose second old key is not a key at all
    monkeypatch.setenv(
        "REELCART_TOKEN_ENCRYPTION_PREVIOUS_KEYS", f'["{Fernet.generate_key().decode()}", "notakey"]'
    )
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(app, ["brand", "create", "Orchard Co"]).exit_code == 0

    # When a sync loads the commerce settings, then it names the variable and the entry, not the key
    said = _refused("catalog", "sync", "shopify", "--brand", "orchard-co")

    assert said == (
        "error: catalog sync is not configured: invalid commerce settings: "
        "REELCART_TOKEN_ENCRYPTION_PREVIOUS_KEYS (entry 2): a token encryption key must be urlsafe base64 "
        "(a Fernet key)"
    )


@pytest.mark.parametrize("value", ["0", "0.0", "", "none", "None"])
def test_train_time_hours_of_zero_or_none_means_no_time_budget(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("REELCART_TRAIN_TIME_HOURS", value)

    assert ApiSettings().train_time_hours is None


@pytest.mark.parametrize(("value", "threads"), [("0", None), ("", None), ("none", None), ("3", 3)])
def test_train_threads_of_zero_or_none_means_every_core(
    monkeypatch: pytest.MonkeyPatch, value: str, threads: int | None
) -> None:
    monkeypatch.setenv("REELCART_TRAIN_THREADS", value)

    assert ApiSettings().train_threads == threads


def test_train_time_hours_keeps_its_budget_by_default_and_refuses_a_negative_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REELCART_TRAIN_TIME_HOURS", raising=False)
    assert ApiSettings().train_time_hours == 0.75
    monkeypatch.setenv("REELCART_TRAIN_TIME_HOURS", "1.5")
    assert ApiSettings().train_time_hours == 1.5
    monkeypatch.setenv("REELCART_TRAIN_TIME_HOURS", "-1")
    with pytest.raises(ValueError, match="greater than 0"):
        ApiSettings()
