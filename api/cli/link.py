"""`reelcart link --episode ID | --brand SLUG`: re-link placements against the current catalog.

The command runs the same `LinkJob` the API queues, in this process, and records it like one."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer
from sqlmodel import Session

from api.cli._common import console, fail, find_brand, load_settings, open_database
from api.columns import utcnow
from api.episodes.models import Episode
from api.jobs.models import JobState
from api.jobs.queue import run_to_end
from api.linking.executor import LinkJobExecutor
from api.linking.models import LinkJob
from api.linking.service import LinkingService


def register(app: typer.Typer) -> None:
    @app.command("link")
    def link(
        episode: Annotated[str | None, typer.Option(help="Episode id to re-link")] = None,
        brand: Annotated[
            str | None, typer.Option(help="Brand slug or id: re-link all its placements")
        ] = None,
    ) -> None:
        """Re-link placements to catalog SKUs without re-running detection (human decisions are kept)."""
        if (episode is None) == (brand is None):
            fail("give exactly one of --episode ID or --brand SLUG")
        settings = load_settings()
        engine = open_database(settings)
        with Session(engine, expire_on_commit=False) as session:
            if episode is not None:
                try:
                    row = session.get(Episode, uuid.UUID(episode))
                except ValueError:
                    row = None
                if row is None:
                    fail(f"no episode {episode!r}")
                brand_id, episode_id = row.brand_id, row.id
            else:
                assert brand is not None
                brand_id, episode_id = find_brand(session, brand).id, None
            # Handed out here (run below): a running service's job supervisor leaves it to this process.
            job = LinkJob(brand_id=brand_id, episode_id=episode_id, published_at=utcnow())
            session.add(job)
            session.commit()
            job_id = job.id
        run_to_end(LinkJobExecutor(engine, settings, LinkingService(engine, settings)), job_id)
        with Session(engine) as session:
            done = session.get(LinkJob, job_id)
            assert done is not None
            if done.state != JobState.DONE:
                fail(done.error or f"link job {job_id} ended {done.state}")
            changes = "".join(
                f", {count} {what}"
                for count, what in (
                    (done.auto_approved, "newly approved"),
                    (done.moved, "of the linker's approvals moved to another product"),
                    (done.withdrawn, "of the linker's approvals withdrawn, back in review"),
                )
                if count
            )
            console.print(
                f"re-linked {done.placements_relinked} placements ({done.approved} approved{changes}) "
                f"against catalog index {done.index_version} (link job {job_id})"
            )
