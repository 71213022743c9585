"""The real ReelCart API for the end-to-end browser tests: `create_app` on a migrated SQLite file, served by
uvicorn on a free 127.0.0.1 port from a background thread, so Chromium talks to exactly what ships."""

from __future__ import annotations

import base64
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session

from api.app import create_app
from api.auth import issue_api_key
from api.brands.models import ApiKeyScope
from api.db import create_db_engine, upgrade_database
from api.settings import ApiSettings
from commerce.settings import CommerceSettings
from tests.utils.api import RecordingQueue

START_TIMEOUT_S = 15.0


def _commerce_settings() -> CommerceSettings:
    """Non-placeholder secrets for the `test` environment. No call ever reaches Stripe or Shopify: a Shopify
    shop without a Storefront token checks out through a cart permalink, which needs no network."""
    return CommerceSettings(
        environment="test",
        stripe_secret_key=SecretStr("sk_test_" + secrets.token_hex(12)),
        stripe_webhook_secret=SecretStr("whsec_" + secrets.token_hex(12)),
        shopify_api_secret=SecretStr("shpss_" + secrets.token_hex(12)),
        token_encryption_key=SecretStr(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()),
    )


@dataclass(frozen=True)
class LiveApi:
    base_url: str
    engine: Engine
    settings: ApiSettings
    app: FastAPI  # tests may swap `app.state.commerce_settings`, e.g. to point Stripe at a dead port
    server: uvicorn.Server
    thread: threading.Thread

    def operator_headers(self) -> dict[str, str]:
        """A fresh operator key: binding a brand's provider account directly is the operator's (as a
        migration does); brands connect through the providers' own flows, which need real providers."""
        with Session(self.engine) as session:
            issued = issue_api_key(session, scope=ApiKeyScope.OPERATOR, brand_id=None, name="e2e operator")
            session.commit()
            return {"Authorization": f"Bearer {issued.secret}"}

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.engine.dispose()


def start_live_api(workdir: Path, **overrides: Any) -> LiveApi:
    """Migrate a fresh database under `workdir`, then serve the app until `stop()`; `overrides` are
    settings (e.g. `max_import_bytes=1 << 20`)."""
    # Bind first, so the public base URL (signed media links, image URLs) carries the real port.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"
    settings = ApiSettings(
        environment="test",
        secret_key="e2e-browser-secret-" + secrets.token_hex(8),
        database_url=f"sqlite:///{workdir / 'reelcart.db'}",
        media_dir=workdir / "media",
        model_dir=workdir / "models",
        public_base_url=base_url,
        worker_threads=0,
        **overrides,
    )
    engine = create_db_engine(settings.database_url)
    upgrade_database(engine)
    app = create_app(settings, engine=engine, job_queue=RecordingQueue())
    app.state.commerce_settings = _commerce_settings()
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="e2e-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the API did not start on {base_url} within {START_TIMEOUT_S} s")
        time.sleep(0.02)
    return LiveApi(base_url=base_url, engine=engine, settings=settings, app=app, server=server, thread=thread)
