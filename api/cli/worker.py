"""`reelcart worker`: a Celery worker running ReelCart's jobs (a cluster node; needs REELCART_BROKER_URL)."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from api.cli._common import console, fail, load_settings, load_tagger_settings, open_database
from api.jobs.routing import QUEUES
from api.observability.worker_metrics import count_in_every_process, serve_worker_metrics, worker_registry


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
        metrics_port: Annotated[
            int | None,
            typer.Option(
                min=1,
                max=65535,
                help="Serve GET /metrics (the jobs this worker's processes ran, and the cluster's queue) "
                "on this port, to Bearer REELCART_METRICS_TOKEN "
                "(default: REELCART_WORKER_METRICS_PORT; unset: no metrics)",
            ),
        ] = None,
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
        port = metrics_port if metrics_port is not None else settings.worker_metrics_port
        if port is not None and settings.metrics_token is None:
            fail(
                "worker metrics need REELCART_METRICS_TOKEN, the bearer token Prometheus scrapes with "
                "(or leave --metrics-port and REELCART_WORKER_METRICS_PORT unset)"
            )
        # Each pool process reads the tagging settings at its first job: one set wrong is said now, in one
        # line, rather than as every job's traceback.
        load_tagger_settings()
        engine = open_database(settings)  # fail now, in one line, on a database that is missing or behind
        try:
            from api.jobs.celery_app import run_worker  # noqa: PLC0415
        except ImportError:
            fail("the worker needs Celery: pip install 'reelcart[celery]'")
        if port is not None and settings.metrics_token is not None:
            registry = worker_registry(count_in_every_process(), engine)
            try:
                serve_worker_metrics(registry, settings.metrics_token, settings.worker_metrics_host, port)
            except OSError as error:
                fail(f"cannot serve worker metrics on {settings.worker_metrics_host}:{port}: {error}")
            console.print(f"worker metrics: http://{settings.worker_metrics_host}:{port}/metrics")
        else:
            engine.dispose()
        console.print(f"worker: {concurrency} at once ({chosen}), queues {', '.join(wanted)}")
        run_worker(settings, concurrency=concurrency, queues=wanted, pool=chosen)
