"""`reelcart serve` checks the schema before it serves, as every other command does, while still
starting without a database that does not answer yet (/readyz says 503 until it does)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from api.settings import get_settings

runner = CliRunner()


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, object]]]:
    """What `serve` handed uvicorn (nothing is served: uvicorn.run only records its arguments)."""
    calls: list[dict[str, object]] = []
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REELCART_DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite'}")
    monkeypatch.setenv("REELCART_MEDIA_DIR", str(tmp_path / "media"))
    monkeypatch.setattr("uvicorn.run", lambda *_args, **kwargs: calls.append(kwargs))
    # `serve --host/--port` hands the address to the app factory through the environment: put back after.
    # (set first: monkeypatch only puts back what it changed, and deleting an absent variable is no change)
    for name in ("REELCART_HOST", "REELCART_PORT", "REELCART_PUBLIC_BASE_URL"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield calls
    get_settings.cache_clear()


def test_serve_refuses_a_database_without_the_schema_in_one_line(served: list[dict[str, object]]) -> None:
    # Given a SQLite database nobody migrated
    # When the API is started
    result = runner.invoke(app, ["serve"])

    # Then it is not served (every route would answer 503 while /readyz said 200), and the line says why
    assert (result.exit_code, served) == (1, [])
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: database schema is at nothing but the code needs ")
    assert line.endswith("; run `reelcart db upgrade`")


def test_serve_starts_once_the_schema_is_current(served: list[dict[str, object]]) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0

    result = runner.invoke(app, ["serve", "--port", "8123"])

    assert result.exit_code == 0, result.output
    assert [(call["host"], call["port"]) for call in served] == [("127.0.0.1", 8123)]


def test_serve_still_starts_without_a_database_that_does_not_answer(
    served: list[dict[str, object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a PostgreSQL server that refuses connections (nothing listens on port 1), behind a password
    monkeypatch.setenv("REELCART_DATABASE_URL", "postgresql+psycopg://reelcart:hunter2@127.0.0.1:1/reelcart")

    result = runner.invoke(app, ["serve"])

    # Then the API starts anyway (its supervisor and /readyz wait for the database), saying so in one
    # line that does not print the password
    assert result.exit_code == 0, result.output
    assert len(served) == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith("warning: the database at postgresql+psycopg://reelcart:***@127.0.0.1:1/reelcart")
    assert line.endswith("serving anyway")
    assert "hunter2" not in result.output


def test_links_name_the_port_served_on_unless_a_public_base_url_is_set(
    served: list[dict[str, object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0

    # Served on another port with no public base URL set, the app's links (thumbnails, signed video)
    # name that port, not the default 8000 where nothing answers
    assert runner.invoke(app, ["serve", "--port", "8123"]).exit_code == 0
    get_settings.cache_clear()
    assert get_settings().public_base_url == "http://127.0.0.1:8123"

    # Behind a proxy, the address set is kept whatever port the server binds
    monkeypatch.setenv("REELCART_PUBLIC_BASE_URL", "https://api.example.com/")
    assert runner.invoke(app, ["serve", "--port", "8124"]).exit_code == 0
    get_settings.cache_clear()
    assert get_settings().public_base_url == "https://api.example.com"
