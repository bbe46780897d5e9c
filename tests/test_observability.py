"""Metrics and logs (issue 15): the API's /metrics has its named series, every answer carries a
request id that reaches the log lines of the activities the action caused, and the worker's own
series (notifications, escalations) are counted by the activities through the Temporal SDK's meter."""

import json
import logging
import re
import uuid
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.runtime import MetricBuffer, Runtime, TelemetryConfig
from temporalio.testing import ActivityEnvironment

from activities.notifications import Mail, Notice, NotificationActivities
from db.session import create_schema, make_engine, make_sessions
from services import logs
from services.metrics import ACTIONS, API_SERIES, HTTP_REQUEST_SECONDS, OPEN_TASKS
from settings import Settings
from tests.helpers import Stack, app_of, assigned, free_port, post_action


async def _assigned(stack: Stack) -> str:
    return await assigned(stack, "OBS", title="Nhiệm vụ đo đếm")


def _samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


async def test_the_api_answers_metrics_with_its_named_series(stack: Stack) -> None:
    code = await _assigned(stack)
    assert (await post_action(stack, "hni.head", code, "accept")).status_code == 200
    assert (await post_action(stack, "hni.head", code, "accept")).status_code == 409  # no longer assigned
    answer = await stack.http.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    samples = _samples(answer.text)
    for name in API_SERIES:
        assert any(sample.startswith(name) for sample in samples), name
    outcomes = {(labels["action"], labels["outcome"]) for labels, value in samples[ACTIONS] if value > 0}
    assert {("accept", "recorded"), ("accept", "refused")} <= outcomes
    routes = {labels["route"] for labels, _ in samples[HTTP_REQUEST_SECONDS + "_count"]}
    assert "/api/v1/tasks/{code}/actions/{action}" in routes  # the route's template, not the task's code
    assert not any(code in route for route in routes)
    stages = {labels["stage"]: value for labels, value in samples[OPEN_TASKS]}
    assert stages["in_progress"] >= 1 and "completed" not in stages


async def test_an_unknown_action_or_path_makes_no_series_of_its_own(stack: Stack) -> None:
    code = await _assigned(stack)
    made_up = f"bogus{uuid.uuid4().hex[:6]}"
    assert (await post_action(stack, "hni.head", code, made_up)).status_code == 404
    assert (await stack.http.get(f"/khong-co-{made_up}")).status_code == 404
    text = (await stack.http.get("/metrics")).text
    assert made_up not in text
    assert 'action="unknown",outcome="refused"' in text


async def test_every_answer_carries_its_request_id(stack: Stack) -> None:
    given = await stack.http.get("/healthz", headers={"X-Request-ID": "yeu-cau-123"})
    assert given.headers["x-request-id"] == "yeu-cau-123"
    made = await stack.http.get("/healthz", headers={"X-Request-ID": "has spaces; and " + "x" * 100})
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    other = await stack.http.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", other.headers["x-request-id"]) and other.headers["x-request-id"] != \
        made.headers["x-request-id"]


async def test_the_request_id_reaches_the_activity_that_records_the_action(stack: Stack,
                                                                            caplog: pytest.LogCaptureFixture) -> None:
    code = await _assigned(stack)
    request_id = f"theo-doi-{uuid.uuid4().hex[:8]}"
    caplog.handler.addFilter(logs.WithContext())
    with caplog.at_level(logging.INFO, logger="nq57"):
        headers = {**await stack.login("hni.head"), "X-Request-ID": request_id}
        answer = await stack.http.post(f"/api/v1/tasks/{code}/actions/accept", headers=headers, json={})
        assert answer.status_code == 200, answer.text
    recorded = [record for record in caplog.records if record.name == "nq57.projection"
                and getattr(record, "request_id", "") == request_id]
    assert recorded, [(r.name, getattr(r, "request_id", None)) for r in caplog.records]
    assert {(getattr(r, "task", ""), getattr(r, "actor", "")) for r in recorded} == {(code, "hni.head")}
    http_lines = [r for r in caplog.records if r.name == "nq57.http" and getattr(r, "request_id", "") == request_id]
    assert [(getattr(r, "actor", ""), getattr(r, "task", "")) for r in http_lines] == [("hni.head", code)]


def _counted(buffer: MetricBuffer) -> dict[tuple[str, frozenset[tuple[str, str]]], int]:
    counts: dict[tuple[str, frozenset[tuple[str, str]]], int] = {}
    for update in buffer.retrieve_updates():
        key = (update.metric.name, frozenset((k, str(v)) for k, v in update.attributes.items()
                                             if k in ("channel", "outcome", "level")))
        counts[key] = counts.get(key, 0) + int(update.value)
    return counts


async def test_the_worker_counts_notifications_and_escalations(tmp_path: Path) -> None:
    buffer = MetricBuffer(1000)
    runtime = Runtime(telemetry=TelemetryConfig(metrics=buffer))
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'nq57.db'}")
    try:
        await create_schema(engine)
        closed_port = free_port()  # nothing listens there: the mail fails
        activities = NotificationActivities(make_sessions(engine), Settings(
            smtp_url=f"smtp://127.0.0.1:{closed_port}", webhook_url=""))
        environment = ActivityEnvironment()
        environment.metric_meter = runtime.metric_meter
        notice = Notice(task_code="OBS-1", event_seq=3, level=2, audience="lead_agency", reviewer=None,
                        lead_agency="HNI", officer=None, directing_agency=None, subject="Quá hạn", body="…", data={})
        await environment.run(activities.tell_in_app, notice)
        await environment.run(activities.tell_in_app, notice.model_copy(update={"level": 0, "event_seq": 4}))
        with pytest.raises(OSError):
            await environment.run(activities.send_mail, Mail(to=["a@b.vn"], subject="s", body="b"))
    finally:
        await engine.dispose()
    counts = _counted(buffer)
    assert counts[("nq57_notifications", frozenset({("channel", "in_app"), ("outcome", "delivered")}))] == 2
    assert counts[("nq57_notifications", frozenset({("channel", "mail"), ("outcome", "failed")}))] == 1
    assert counts[("nq57_escalations", frozenset({("level", "2")}))] == 1  # the reminder (level 0) is none


def test_json_logs_are_one_object_a_line_with_the_request_context(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        logs.configure_logging(Settings(log_format="json", log_level="INFO"))
        with logs.bound({"request_id": "yc-1", "actor": "hni.head", "task": "T-9"}):
            logging.getLogger("nq57.test").info("Đã nhận %s", "minh chứng")
        logging.getLogger("nq57.test").info("ngoài yêu cầu")
    finally:
        root.handlers[:], root.level = handlers, level
    first, second = (json.loads(line) for line in capsys.readouterr().err.splitlines()[-2:])
    assert {key: first[key] for key in ("level", "logger", "message", "request_id", "actor", "task")} == {
        "level": "INFO", "logger": "nq57.test", "message": "Đã nhận minh chứng", "request_id": "yc-1",
        "actor": "hni.head", "task": "T-9"}
    assert (second["message"], second["request_id"], second["task"]) == ("ngoài yêu cầu", "", "")


async def test_a_made_up_method_makes_no_series_of_its_own(stack: Stack) -> None:
    made_up = f"ZZQ{uuid.uuid4().hex[:5].upper()}"
    assert (await stack.http.request(made_up, "/healthz")).status_code == 405
    text = (await stack.http.get("/metrics")).text
    assert made_up not in text and 'method="other",route="/healthz",status="405"' in text


async def test_an_unexpected_error_answers_500_with_the_request_id(stack: Stack) -> None:
    app = app_of(stack)
    path = f"/thu-loi-{uuid.uuid4().hex[:8]}"

    async def broken() -> None:
        raise RuntimeError("hỏng")

    app.add_api_route(path, broken, include_in_schema=False)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://nq57.test") as client:
        answer = await client.get(path, headers={"X-Request-ID": "loi-500"})
    assert answer.status_code == 500 and answer.headers["x-request-id"] == "loi-500"

