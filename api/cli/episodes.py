"""`reelcart episode add FILE --brand SLUG`: register an episode (copied into the media dir);
`reelcart episode delete ID --brand SLUG`: delete one, as `DELETE /v1/episodes/{id}` does."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import Session

from api.cli._common import console, fail, find_brand, load_settings, open_database
from api.episodes.deletion import delete_episode, delete_files
from api.episodes.service import register_episode
from api.errors import ApiError


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Episodes: the videos ReelCart tags.", no_args_is_help=True)

    @group.command("add")
    def add(
        file: Annotated[Path, typer.Argument(help="A video file (MP4, MOV, WebM, …)")],
        brand: Annotated[str, typer.Option(help="Brand slug or id")],
        title: Annotated[str | None, typer.Option(help="Episode title; defaults to the file name")] = None,
        in_place: Annotated[
            bool, typer.Option("--in-place", help="Register where it is instead of copying")
        ] = False,
    ) -> None:
        """Probe a video and register it as an episode."""
        if not file.is_file():
            fail(f"no such file: {file}")
        settings = load_settings()
        engine = open_database(settings)
        target = file.resolve()
        if not in_place:
            folder = settings.media_dir / "episodes"
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"{uuid.uuid4()}{file.suffix.lower()}"
            shutil.copyfile(file, target)
        with Session(engine, expire_on_commit=False) as session:
            brand_row = find_brand(session, brand)
            try:
                episode = register_episode(
                    session,
                    settings,
                    brand_id=brand_row.id,
                    title=title or file.stem,
                    path=target,
                    source="path" if in_place else "upload",
                    shown_name=file.name,
                )
                session.commit()
            except ApiError as problem:
                if not in_place:
                    target.unlink(missing_ok=True)
                fail(problem.detail)
        console.print(
            f"episode {episode.id}: {episode.width}x{episode.height}, {episode.fps:g} fps, "
            f"{episode.duration_ms / 1000:.1f} s\n"
            f"timeline: {settings.public_base_url}/v1/episodes/{episode.id}/timeline"
        )

    @group.command("delete")
    def remove(
        episode_id: Annotated[str, typer.Argument(help="The episode's id")],
        brand: Annotated[str, typer.Option(help="Brand slug or id")],
    ) -> None:
        """Delete an episode with its placements, analytics, finished jobs and stored files (refused for
        an episode shoppers bought from, or one a job is working on)."""
        try:
            parsed = uuid.UUID(episode_id)
        except ValueError:
            fail(f"not an episode id: {episode_id!r}")
        settings = load_settings()
        engine = open_database(settings)
        with Session(engine) as session:
            brand_row = find_brand(session, brand)
            try:
                files = delete_episode(session, settings, brand_row.id, parsed)
                session.commit()
            except ApiError as problem:
                fail(problem.detail)
        delete_files(files)
        console.print(f"episode {parsed} deleted")

    app.add_typer(group, name="episode")
