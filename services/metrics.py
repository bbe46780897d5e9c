"""The Prometheus series NQ57 exposes, named once: the API's (api/metrics.py, at the API's /metrics)
and the worker's own (activities/, at the worker's /metrics beside the Temporal SDK's `temporal_*`
series). The Grafana dashboard and the scrape configuration in deploy/ use these names; a test keeps
them in step."""

# The API process (prometheus_client).
HTTP_REQUEST_SECONDS = "nq57_http_request_duration_seconds"  # histogram: method, route, status
ACTIONS = "nq57_actions_total"  # counter: action, outcome (recorded | refused | unavailable)
OPEN_TASKS = "nq57_open_tasks"  # gauge: stage, counted from the projection when scraped

# The worker process (the Temporal SDK's meter, exported by its Prometheus endpoint).
ESCALATIONS = "nq57_escalations_total"  # counter: level
NOTIFICATIONS = "nq57_notifications_total"  # counter: channel (in_app | mail | webhook), outcome (delivered | failed)
ACTIVITY_SECONDS = "temporal_activity_execution_latency"  # the SDK's histogram: activity_type (seconds)

API_SERIES = (HTTP_REQUEST_SECONDS, ACTIONS, OPEN_TASKS)
WORKER_SERIES = (ESCALATIONS, NOTIFICATIONS, ACTIVITY_SECONDS)
