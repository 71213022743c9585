"""Answering a change that queued a link job: the job is handed to the workers once the change is
committed, and the answer's `Link` header names it, so a client can follow it (`rel="monitor"`)."""

from __future__ import annotations

import logging

from fastapi import Request, Response

from api.jobs.queue import JobKind, JobRef
from api.linking.link_jobs import PendingLinkJob, publish

log = logging.getLogger("reelcart.jobs")


def monitor_link_job(request: Request, response: Response, pending: PendingLinkJob | None) -> None:
    """Call after the commit that stored the job (and the change that asked for it)."""
    if pending is None:
        return
    job, new = pending
    try:
        publish(request.app.state.job_queue, job, new)
    except Exception:
        # A queued job nobody published is published by the job supervisor (api.jobs.recovery).
        log.exception("link job %s is stored but was not published; the supervisor publishes it", job.id)
    response.headers["Link"] = f'<{JobRef(JobKind.LINK, job.id).location}>; rel="monitor"'
