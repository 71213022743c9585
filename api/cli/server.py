"""`reelcart serve` and `reelcart demo`."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from api.cli._common import check_schema_if_reachable, fail, load_settings, load_tagger_settings
from api.settings import get_settings


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        host: Annotated[str | None, typer.Option(help="Bind address (default: REELCART_HOST)")] = None,
        port: Annotated[int | None, typer.Option(help="Port (default: REELCART_PORT)")] = None,
        workers: Annotated[int, typer.Option(help="Web worker processes")] = 1,
    ) -> None:
        """Serve the API (and its in-process job workers, unless REELCART_BROKER_URL hands jobs to Celery)."""
        import uvicorn  # noqa: PLC0415

        settings = load_settings()
        if settings.worker_threads == 0 and settings.broker_url is None:
            # Said here in one line; the app factory refuses too (ConfigurationError), for other servers.
            fail(
                "REELCART_WORKER_THREADS=0 makes a web-only node, whose jobs only Celery workers run: set "
                "REELCART_BROKER_URL and run `reelcart worker`, or give this node worker threads"
            )
        if settings.broker_url is not None:
            try:
                import celery  # noqa: F401, PLC0415
            except ImportError:
                fail("REELCART_BROKER_URL is set but Celery is not installed: pip install 'reelcart[celery]'")
        else:
            # This process's threads run the tag jobs: a tagging setting set wrong is said now, in one
            # line, rather than as a traceback from the app factory.
            load_tagger_settings()
        check_schema_if_reachable(settings)
        # The app factory reads its settings from the environment (in each web worker process): the
        # address given here goes there, so a public base URL derived from it names this port.
        if host:
            os.environ["REELCART_HOST"] = host
        if port:
            os.environ["REELCART_PORT"] = str(port)
        get_settings.cache_clear()
        uvicorn.run(
            "api.app:create_app",
            factory=True,
            host=host or settings.host,
            port=port or settings.port,
            workers=workers,
            proxy_headers=True,
            log_level="info",
        )

    @app.command("demo")
    def demo(
        host: Annotated[str | None, typer.Option(help="Bind address")] = None,
        port: Annotated[int | None, typer.Option(help="Port")] = None,
        serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Start the server afterwards")] = True,
    ) -> None:
        """Set up a demo brand, catalog and episode (offline, from ../shared when present), then serve."""
        from api.cli.demo import run_demo  # noqa: PLC0415

        settings = load_settings()
        if settings.environment == "production":
            # The demo mints an operator key and publishes a demo brand; the demo player is off there too.
            fail("the demo is for development machines, and REELCART_ENVIRONMENT is production")
        load_tagger_settings()  # the demo tags its episode: a tagging setting set wrong is said first
        run_demo(settings, host=host, port=port, serve=serve)
