"""`reelcart worker`: a Celery worker running ReelCart's jobs (a cluster node; needs REELCART_BROKER_URL)."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from api.cli._common import console, fail, load_settings, open_database
from api.jobs.routing import QUEUES


def register(app: typer.Typer) -> None:
    @app.command("worker")
    def worker(
        concurrency: Annotated[
            int, typer.Option(min=1, max=64, help="Jobs run at once (worker processes with --pool prefork)")
        ] = 1,
        queues: Annotated[
            str,
            typer.Option(
                help=f"Comma-separated queues to take jobs from ({', '.join(QUEUES)}): "
                "vision for tag and link jobs, io for catalog syncs and image fetches"
            ),
        ] = ",".join(QUEUES),
        pool: Annotated[
            str, typer.Option(help="prefork: a process per job at once; solo: jobs run in this process")
        ] = "prefork",
    ) -> None:
        """Run ReelCart jobs handed out through REELCART_BROKER_URL until stopped (SIGTERM or Ctrl-C:
        the jobs in hand finish first). Pair it with API nodes that name the same broker and database."""
        settings = load_settings()
        if settings.broker_url is None:
            fail(
                "reelcart worker takes its jobs from a broker: set REELCART_BROKER_URL (redis://… or amqp://…)"
            )
        wanted = [name.strip() for name in queues.split(",") if name.strip()]
        unknown = sorted(set(wanted) - set(QUEUES))
        if not wanted or unknown:
            fail(
                f"unknown queue(s) {', '.join(unknown) or '(none given)'}; the queues are {', '.join(QUEUES)}"
            )
        if pool not in ("prefork", "solo"):
            fail(f"--pool must be prefork or solo, not {pool!r}")
        chosen: Literal["prefork", "solo"] = "solo" if pool == "solo" else "prefork"
        open_database(settings).dispose()  # fail now, in one line, on a database that is missing or behind
        try:
            from api.jobs.celery_app import run_worker  # noqa: PLC0415
        except ImportError:
            fail("the worker needs Celery: pip install 'reelcart[celery]'")
        console.print(f"worker: {concurrency} at once ({chosen}), queues {', '.join(wanted)}")
        run_worker(settings, concurrency=concurrency, queues=wanted, pool=chosen)
