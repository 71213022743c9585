"""`reelcart analytics check` and `recount`: compare the event counts the funnel reads with the events, and
rebuild them from the events."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from api.analytics.counting import count_mismatches, recount_events
from api.cli._common import console, fail, load_settings, open_database


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Analytics: the counts the brands' results are read from.", no_args_is_help=True)

    @group.command("check")
    def check(
        show: Annotated[int, typer.Option(min=0, max=10_000, help="How many mismatches to list")] = 20,
    ) -> None:
        """Compare the counts the brands' results are read from with the stored events, placement by
        placement (after a rolling upgrade, to know whether `recount` is needed). Reads every event once and
        writes nothing. Exits 0 when they agree, 1 when they disagree, 2 when it could not compare them."""
        try:
            engine = open_database(load_settings(), require_current=True)
        except typer.Exit as refused:
            # Said already (settings, an unreachable database, a schema not at head): that is "could not
            # compare", never "they disagree", for a cron job that recounts on 1.
            raise typer.Exit(2) from refused
        started = time.perf_counter()
        try:
            with Session(engine) as session:
                found = count_mismatches(session, show=show)
        except SQLAlchemyError as error:
            fail(f"check failed: {str(error).splitlines()[0]}", code=2)
        finally:
            engine.dispose()
        seconds = time.perf_counter() - started
        if not found.mismatches:
            console.print(
                f"the counts agree with the {found.events:,} stored events ({seconds:.1f} s): "
                "nothing to recount"
            )
            return
        # One line per pair, never wrapped (a cron job's log is 80 columns wide): a placement id is copied
        # whole from it.
        # `day` is the UTC date of the counts a report of a range of days reads; "all" the counts in all.
        console.print("placement  event type  day  counted  stored", highlight=False, soft_wrap=True)
        for mismatch in found.shown:
            day = mismatch.day.isoformat() if mismatch.day is not None else "all"
            console.print(
                f"{mismatch.placement_id}  {mismatch.type}  {day}  {mismatch.counted}  {mismatch.stored}",
                highlight=False,
                soft_wrap=True,
                markup=False,
            )
        more = found.mismatches - len(found.shown)
        pairs = "count disagrees" if found.mismatches == 1 else "counts disagree"
        console.print(
            f"{found.mismatches:,} {pairs} with the events"
            + (f" ({more:,} not listed)" if more > 0 else "")
            + f": the counts hold {found.counted:,} events, the events table {found.events:,} "
            f"({seconds:.1f} s). Run `reelcart analytics recount` to count them again from the events."
        )
        raise typer.Exit(1)

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
