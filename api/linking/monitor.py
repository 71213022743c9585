"""Answering a change that queued a link job: the job is handed to the workers once the change is
committed, and the answer's `Link` header names it, so a client can follow it (`rel="monitor"`)."""

from __future__ import annotations

from fastapi import Request, Response

from api.jobs.queue import JobKind, JobRef
from api.linking.link_jobs import PendingLinkJob, publish_stored


def monitor_link_job(request: Request, response: Response, pending: PendingLinkJob | None) -> None:
    """Call after the commit that stored the job (and the change that asked for it)."""
    if pending is None:
        return
    publish_stored(request.app.state.job_queue, pending)
    response.headers["Link"] = f'<{JobRef(JobKind.LINK, pending[0].id).location}>; rel="monitor"'
