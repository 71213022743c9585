"""`reelcart worker`: run the tag and link jobs queued in the database (a node that serves no HTTP)."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

from api.cli._common import console, load_settings, open_database
from api.jobs.handlers import job_handlers
from api.jobs.recovery import StaleJobReaper
from api.jobs.worker import drain, run_worker
from api.linking.service import LinkingService


def register(app: typer.Typer) -> None:
    @app.command("worker")
    def worker(
        threads: Annotated[int, typer.Option(min=1, max=64, help="Jobs run at once")] = 1,
        poll_s: Annotated[
            float, typer.Option("--poll-s", min=0.1, help="Seconds between looks at an empty queue")
        ] = 2.0,
        once: Annotated[bool, typer.Option(help="Run what is queued now, then exit")] = False,
    ) -> None:
        """Run queued tag and link jobs from the database until stopped (Ctrl-C or SIGTERM). Pair it with
        API nodes started with REELCART_WORKER_THREADS=0; several workers may share one database."""
        settings = load_settings()
        engine = open_database(settings)
        handlers = job_handlers(engine, settings, LinkingService(engine, settings))
        if once:
            requeued = StaleJobReaper(engine).reap()  # jobs of workers that died, first
            console.print(
                f"ran {drain(engine, handlers)} queued jobs ({len(requeued)} taken back from dead workers)"
            )
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        console.print(f"worker: {threads} thread(s), polling every {poll_s:g} s; Ctrl-C to stop")
        try:
            run_worker(engine, handlers, threads=threads, poll_s=poll_s, stop=stop)
        except KeyboardInterrupt:
            stop.set()
            console.print("stopping after the jobs in hand")
