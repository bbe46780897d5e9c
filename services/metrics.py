"""The Prometheus series NQ57 exposes, named once: the API's (counted here and in api/observe.py,
answered at the API's /metrics) and the worker's own (counted by activities/ through the Temporal
SDK's meter, answered at the worker's /metrics beside the SDK's `temporal_*` series). The Grafana
dashboard and the scrape configuration in deploy/ use these names; a test keeps them in step."""

from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Histogram
from pydantic import ValidationError

from domain.commands import Action
from domain.refusals import Refusal

# The API process (prometheus_client; several API processes share one folder: PROMETHEUS_MULTIPROC_DIR).
HTTP_REQUEST_SECONDS = "nq57_http_request_duration_seconds"  # histogram: method, route, status
ACTIONS = "nq57_actions_total"  # counter: action, outcome (recorded | refused | unavailable)
OPEN_TASKS = "nq57_open_tasks"  # gauge: stage, counted from the projection when scraped

# The worker process (the Temporal SDK's meter, exported by its Prometheus endpoint).
ESCALATIONS = "nq57_escalations_total"  # counter: level
NOTIFICATIONS = "nq57_notifications_total"  # counter: channel (in_app | mail | webhook), outcome (delivered | failed)
ACTIVITY_SECONDS = "temporal_activity_execution_latency"  # the SDK's histogram: activity_type (seconds)
LOCAL_ACTIVITY_SECONDS = "temporal_local_activity_execution_latency"  # recording events, in-app notices

API_SERIES = (HTTP_REQUEST_SECONDS, ACTIONS, OPEN_TASKS)
WORKER_SERIES = (ESCALATIONS, NOTIFICATIONS, ACTIVITY_SECONDS, LOCAL_ACTIVITY_SECONDS)

http_seconds = Histogram(HTTP_REQUEST_SECONDS, "Thời gian trả lời yêu cầu HTTP (giây)", ["method", "route", "status"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
actions = Counter(ACTIONS.removesuffix("_total"), "Thao tác trên nhiệm vụ, theo loại và kết quả", ["action", "outcome"])


ACTION_NAMES = frozenset(Action)


@contextmanager
def counting_action(action: str, refusals_only: bool = False) -> Iterator[None]:
    """One action's outcome: `recorded` (the workflow recorded it, or had: a repeat), `refused` (by
    the rules, the policy or its own fields), `unavailable` (to be retried: nothing answered in time,
    too busy). With `refusals_only`, a step on the way (the permit) counts only when it ends it. An
    action no task has is `unknown`: what clients write never becomes a series of its own."""
    action = action if action in ACTION_NAMES else "unknown"
    try:
        yield
    except (Refusal, ValidationError) as error:
        busy = isinstance(error, Refusal) and "retry_after" in error.extra
        actions.labels(action, "unavailable" if busy else "refused").inc()
        raise
    except Exception:
        actions.labels(action, "unavailable").inc()
        raise
    if not refusals_only:
        actions.labels(action, "recorded").inc()
