"""What operators watch: Prometheus metrics, structured logs, request and job ids.

Split by what each part may import: `context` (ids in contextvars, the JSON log formatter) and `metrics`
(prometheus_client only) are used by jobs and services, so they import no web framework; `middleware`
(ASGI) is for the app alone. This package's `__init__` imports none of them.
"""
