"""`reelcart analytics recount`: rebuild the event counts the funnel reads from the events."""

from __future__ import annotations

import time

import typer
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from api.analytics.counting import recount_events
from api.cli._common import console, fail, load_settings, open_database


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Analytics: the counts the brands' results are read from.", no_args_is_help=True)

    @group.command("recount")
    def recount() -> None:
        """Count every placement's events again from the stored events (after a rolling upgrade during
        which an older release stored events, or after editing events by hand). A few hundred placements
        at a time: players' events for those wait a moment, none is lost; safe to run again."""
        engine = open_database(load_settings(), require_current=True)
        started = time.perf_counter()
        done = {"placements": 0, "events": 0}

        def progress(placements: int, events: int) -> None:
            done.update(placements=placements, events=events)

        try:
            with Session(engine) as session:
                counted = recount_events(session, progress=progress)
        except SQLAlchemyError as error:
            reason = str(error).splitlines()[0]
            fail(
                f"recount stopped ({reason}); the first {done['placements']:,} placements are counted, "
                "the rest as they were: run it again"
            )
        finally:
            engine.dispose()
        placements = done["placements"]
        console.print(
            f"counted {counted:,} events of {placements:,} placement{'' if placements == 1 else 's'} again "
            f"in {time.perf_counter() - started:.1f} s"
        )

    app.add_typer(group, name="analytics")
