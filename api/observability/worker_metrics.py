"""Prometheus metrics of a `reelcart worker`: the jobs its pool processes ran, served on a port of its own.

With Celery the API processes run no job, so their `/metrics` count none: the counts live in the worker
processes, several of them for a prefork pool, each forked from the worker's main process. Before the
pool starts, the main process switches the client library to its multiprocess mode (every process
writes its values to files in one private directory) and serves `GET /metrics` from a thread: the jobs
counted by all its pool processes, the ones that died included, summed by the library's
`MultiProcessCollector`, plus the cluster's queued and running jobs counted in the database at scrape
time. The same bearer token as the API's (`REELCART_METRICS_TOKEN`) is required.
"""

from __future__ import annotations

import atexit
import hmac
import logging
import os
import shutil
import stat
import tempfile
import threading
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, values
from prometheus_client.multiprocess import MultiProcessCollector
from pydantic import SecretStr
from sqlalchemy import Engine

from api.observability.metrics import CONTENT_TYPE, PROCESS_METRICS, JobStateCollector, exposition

log = logging.getLogger("reelcart.metrics")

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
_PREFIX = "reelcart-worker-metrics-"


def _remove_inherited_directory() -> None:
    """Remove the directory a worker this process replaced left behind: Celery restarts on SIGHUP by
    exec'ing itself, which runs no exit hook, so the old directory outlives it, named in the environment
    the new one inherits. Only a directory of ours: this prefix, a real directory, this user's."""
    inherited = os.environ.get(MULTIPROCESS_ENV)
    if not inherited or not os.path.basename(inherited).startswith(_PREFIX):
        return
    try:
        status = os.lstat(inherited)
    except OSError:
        return
    if stat.S_ISDIR(status.st_mode) and status.st_uid == os.getuid():
        shutil.rmtree(inherited, ignore_errors=True)


def count_in_every_process() -> str:
    """Switch this process, and every process it forks from now on, to the client library's
    multiprocess mode, in a private directory removed at exit; returns it. Call before the pool starts
    and before any job is counted here: a value is bound to its mode when its labels are first used."""
    if any(metric._metrics for metric in PROCESS_METRICS):
        # A value made before the switch would stay in this process, never exported.
        raise RuntimeError("a metric was already used in this process: switch to multiprocess mode first")
    _remove_inherited_directory()
    directory = tempfile.mkdtemp(prefix=_PREFIX)
    owner = os.getpid()

    def remove() -> None:
        if os.getpid() == owner:  # not in a pool process that inherited the hook
            shutil.rmtree(directory, ignore_errors=True)

    atexit.register(remove)
    os.environ[MULTIPROCESS_ENV] = directory
    # The library ships no types; the factory returns the class each new value is made of.
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    return directory


def worker_registry(directory: str, engine: Engine) -> CollectorRegistry:
    """Every process's job counts in `directory`, and the database's job counts (read with `engine`,
    which the pool processes forked from here let go of without closing the connections it holds: they
    are this process's)."""
    os.register_at_fork(after_in_child=partial(engine.dispose, close=False))
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    registry.register(JobStateCollector(engine))
    return registry


def serve_worker_metrics(
    registry: CollectorRegistry, token: SecretStr, host: str, port: int
) -> ThreadingHTTPServer:
    """Answer `GET /metrics` with `registry` on `host:port` from a daemon thread, to `Authorization:
    Bearer <token>` only (401 otherwise; 404 for any other path). Returns the server (`shutdown()`
    stops it); raises OSError when the port cannot be bound."""
    expected = token.get_secret_value().encode()

    class Handler(BaseHTTPRequestHandler):
        # An idle or slow client gives up its thread after this long instead of holding it forever.
        timeout = 10

        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/metrics":
                self._answer(404, b"only /metrics is served here\n", "text/plain; charset=utf-8")
                return
            scheme, _, given = self.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
                self._answer(
                    401,
                    b"send 'Authorization: Bearer <REELCART_METRICS_TOKEN>' to read metrics\n",
                    "text/plain; charset=utf-8",
                    {"WWW-Authenticate": 'Bearer realm="reelcart-metrics"'},
                )
                return
            self._answer(200, exposition(registry), CONTENT_TYPE)

        def _answer(
            self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("worker metrics: " + format, *args)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="worker-metrics", daemon=True).start()
    # Registered after the directory's removal, so it runs before it: no scrape reads a half-removed one.
    atexit.register(server.shutdown)
    return server
