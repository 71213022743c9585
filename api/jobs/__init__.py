"""Background work. The API only enqueues job references (`JobRef(kind, id)`); a `JobQueue` runs them.

On one box `ThreadJobQueue` runs them in the API process's threads; on a cluster `CeleryJobQueue`
(`celery_app.py`) publishes them to a broker for `reelcart worker` processes. Both call the same
executors, because all job state lives in the database, not in the queue.
"""
