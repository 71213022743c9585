"""Background work. The API only enqueues job ids; a `JobQueue` runs them elsewhere.

`ThreadJobQueue` runs jobs in worker threads inside the API process (one box). Any other queue
(Celery + Redis, say) only has to implement the same three methods and call the same
`TagJobExecutor` with a job id, because all job state lives in the database, not in the queue.
"""
