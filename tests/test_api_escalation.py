"""Escalation over HTTP against the running stack, in real time: NQ57_ESCALATION_STEPS=2s,4s,6s."""

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import Stack, unique_code


@contextmanager
def escalation_steps(stack: Stack, steps: str) -> Iterator[None]:
    """Tasks created meanwhile escalate at these offsets (each task keeps the steps it started with)."""
    before = stack.settings.escalation_steps
    stack.settings.escalation_steps = steps
    try:
        yield
    finally:
        stack.settings.escalation_steps = before


@pytest.fixture
async def fast_escalation(stack: Stack) -> AsyncIterator[Stack]:
    """Tasks created inside this fixture escalate at 2 s, 4 s and 6 s after a lapsed deadline."""
    with escalation_steps(stack, "2s,4s,6s"):
        yield stack


@pytest.fixture(scope="module")
async def escalated(stack: Stack) -> tuple[Stack, str]:
    """One task due 3 s after creation with NQ57_ESCALATION_STEPS=2s,4s,6s, waited until level 3:
    the rules below are each read off it (one real-time wait per database, not one per rule)."""
    with escalation_steps(stack, "2s,4s,6s"):
        code = await _task_due_in(stack, 3)
    await _until(stack, code, lambda t: t["escalation_level"] == 3)
    return stack, code


async def _task_due_in(stack: Stack, seconds: int) -> str:
    code = unique_code("ESC")
    due = (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()
    answer = await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json={
        "code": code, "title": "Nhiệm vụ sắp đến hạn", "lead_agency": "HNI", "deadline": due})
    assert answer.status_code == 201, answer.text
    assert answer.json()["overdue"] is False
    return code


async def _until(stack: Stack, code: str, check: Any, seconds: float = 40) -> dict:
    """Poll the task until `check(task)` holds, for at most `seconds`."""
    headers = await stack.login("office")
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        task = (await stack.http.get(f"/api/v1/tasks/{code}", headers=headers)).json()
        if check(task):
            return task
        assert asyncio.get_running_loop().time() < deadline, f"never reached: last seen {task}"
        await asyncio.sleep(0.25)


async def test_a_task_due_in_three_seconds_reaches_level_three_with_three_escalated_events(
        escalated: tuple[Stack, str]) -> None:
    stack, code = escalated
    task = (await stack.http.get(f"/api/v1/tasks/{code}", headers=await stack.login("office"))).json()
    assert task["overdue"] is True and task["escalation_level"] == 3
    history = (await stack.http.get(f"/api/v1/tasks/{code}/history", headers=await stack.login("office"))).json()
    escalations = [event for event in history if event["type"] == "escalated"]
    assert [event["data"]["level"] for event in escalations] == [1, 2, 3]
    assert all(event["actor"] == "system" and event["data"]["kind"] == "deadline" for event in escalations)
    gaps = [(b - a).total_seconds() for a, b in zip(
        [datetime.fromisoformat(e["at"]) for e in escalations][:-1],
        [datetime.fromisoformat(e["at"]) for e in escalations][1:], strict=True)]
    assert all(1.5 <= gap <= 4 for gap in gaps), gaps  # 2 s apart, as the steps say


async def test_each_level_notifies_its_audience(escalated: tuple[Stack, str]) -> None:
    stack, code = escalated
    for username, level in (("hni.head", 1), ("office", 2), ("committee", 3)):
        notes = (await stack.http.get("/api/v1/notifications", headers=await stack.login(username))).json()
        mine = [note for note in notes if note["task_code"] == code]
        assert [note["level"] for note in mine] == [level], (username, mine)
        assert code in mine[0]["subject"]
    outsider = (await stack.http.get("/api/v1/notifications", headers=await stack.login("btc.head"))).json()
    assert not [note for note in outsider if note["task_code"] == code]


async def test_the_overdue_report_lists_escalated_tasks_most_escalated_first(escalated: tuple[Stack, str]) -> None:
    stack, code = escalated
    report = (await stack.http.get("/api/v1/reports/overdue", headers=await stack.login("office"))).json()
    row = next(item for item in report if item["code"] == code)
    assert row["lead_agency"] == "HNI" and row["escalation_level"] == 3
    levels = [item["escalation_level"] for item in report]
    assert levels == sorted(levels, reverse=True)


async def test_an_approved_extension_clears_overdue_and_the_escalation(fast_escalation: Stack) -> None:
    stack = fast_escalation
    code = await _task_due_in(stack, 2)
    head = await stack.login("hni.head")
    assert (await stack.http.post(f"/api/v1/tasks/{code}/actions/accept", headers=head, json={})).status_code == 200
    await _until(stack, code, lambda t: t["overdue"] and t["escalation_level"] >= 1)
    asked = await stack.http.post(f"/api/v1/tasks/{code}/actions/extension.request", headers=head,
                                  json={"new_deadline": "2099-Q4", "reason": "Chờ hạ tầng dùng chung"})
    assert asked.status_code == 200, asked.text
    approved = await stack.http.post(f"/api/v1/tasks/{code}/actions/extension.approve",
                                     headers=await stack.login("office"), json={})
    assert approved.status_code == 200, approved.text
    task = approved.json()
    assert task["overdue"] is False and task["escalation_level"] == 0
    assert task["deadline_text"] == "2099-Q4" and task["extensions_granted"] == 1
    assert task["original_deadline"] != task["deadline"]


async def test_an_escalation_puts_the_task_in_the_alerted_persons_inbox_until_read(fast_escalation: Stack) -> None:
    stack = fast_escalation
    code = await _task_due_in(stack, 1)
    await _until(stack, code, lambda t: t["escalation_level"] >= 2)
    office = await stack.login("office")
    item = next(i for i in (await stack.http.get("/api/v1/inbox", headers=office)).json() if i["code"] == code)
    assert [note["level"] for note in item["notifications"]] == [2]
    assert "review.assign" not in item["actions"]  # nothing to do but chase: the task is in `assigned`
    read = await stack.http.post(f"/api/v1/notifications/{item['notifications'][0]['id']}/read", headers=office)
    assert read.status_code == 200 and read.json()["read_at"] is not None
    await _until(stack, code, lambda t: t["escalation_level"] == 3)
    committee = await stack.login("committee")
    assert code in [i["code"] for i in (await stack.http.get("/api/v1/inbox", headers=committee)).json()]
    assert code not in [i["code"] for i in (await stack.http.get("/api/v1/inbox", headers=office)).json()]
