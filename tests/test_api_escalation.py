"""Escalation over HTTP against the running stack, with no wait for time to pass.

The stack's tasks climb NQ57_ESCALATION_STEPS=0d,7d,14d (conftest). Each test creates a task whose
deadline lapsed days ago: it rises at once through every level whose offset has passed by then
(domain/escalation.py, `due_escalations`) and stops below the next one, days away. The tests wait
only for the workflow to record what is already due (bounded polling, `tests.helpers.wait_until`),
so no answer depends on how fast the machine is."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.helpers import STACK_ESCALATION_STEPS, Stack, act, get_task, history, ok, task_until, unique_code, wait_until

STEPS = [timedelta(days=int(step.removesuffix("d"))) for step in STACK_ESCALATION_STEPS.split(",")]
# Lapsed this long, a task sits at the level, with the next rise (if any) days away.
LAPSED_TO_LEVEL = {1: timedelta(days=3), 2: timedelta(days=10), 3: timedelta(days=30)}
AUDIENCE = {1: "hni.head", 2: "office", 3: "committee"}  # one person of each level's audience


def test_the_lapses_chosen_sit_between_the_steps() -> None:
    """What the tests below rely on: 3, 10 and 30 days reach levels 1, 2 and 3 of the stack's ladder."""
    assert STEPS == [timedelta(0), timedelta(days=7), timedelta(days=14)]
    for level, lapsed in LAPSED_TO_LEVEL.items():
        assert sum(step <= lapsed for step in STEPS) == level


async def _lapsed_task(stack: Stack, lapsed: timedelta, *, lead: str = "HNI") -> tuple[str, datetime]:
    """A new task whose deadline lapsed `lapsed` ago: its code and deadline."""
    code = unique_code("ESC")
    deadline = (datetime.now(UTC) - lapsed).replace(microsecond=0)
    ok(await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json={
        "code": code, "title": "Nhiệm vụ đã quá hạn", "lead_agency": lead, "deadline": deadline.isoformat()}), 201)
    return code, deadline


async def _at_level(stack: Stack, code: str, level: int) -> dict[str, Any]:
    return await task_until(stack, code, lambda task: task["escalation_level"] == level,
                            what=f"{code} at escalation level {level}")


async def _notes(stack: Stack, user: str, code: str) -> list[dict[str, Any]]:
    notes = ok(await stack.http.get("/api/v1/notifications", headers=await stack.login(user)))
    return [note for note in notes if note["task_code"] == code]


async def _told(stack: Stack, user: str, code: str, level: int) -> list[dict[str, Any]]:
    """The user's notifications about the task, once the one of this level has come."""
    return await wait_until(lambda: _notes(stack, user, code), lambda notes: level in [n["level"] for n in notes],
                            what=f"{user} told of level {level} of {code}")


async def _inbox(stack: Stack, user: str) -> dict[str, dict[str, Any]]:
    items = ok(await stack.http.get("/api/v1/inbox", headers=await stack.login(user)))
    return {item["code"]: item for item in items}


async def _escalations(stack: Stack, code: str) -> list[dict[str, Any]]:
    return [event for event in await history(stack, code) if event["type"] == "escalated"]


@pytest.fixture(scope="module")
async def top(stack: Stack) -> tuple[Stack, str, datetime]:
    """A task lapsed 30 days, read once it has told the last level (the Committee): everything its
    three rises do is then recorded. Shared by the rules that only read it."""
    code, deadline = await _lapsed_task(stack, LAPSED_TO_LEVEL[3])
    await _at_level(stack, code, 3)
    await _told(stack, AUDIENCE[3], code, 3)
    return stack, code, deadline


# --- the ladder -------------------------------------------------------------------------------

async def test_a_task_created_after_its_deadline_is_overdue_without_waiting(stack: Stack) -> None:
    code, _ = await _lapsed_task(stack, LAPSED_TO_LEVEL[1])
    task = await task_until(stack, code, lambda task: task["overdue"], what=f"{code} overdue")
    assert task["overdue"] is True


@pytest.mark.parametrize("level", [1, 2, 3])
async def test_a_lapsed_task_rises_to_each_level_whose_offset_has_passed_and_no_further(
        stack: Stack, level: int) -> None:
    code, _ = await _lapsed_task(stack, LAPSED_TO_LEVEL[level])
    await _at_level(stack, code, level)
    assert [event["data"]["level"] for event in await _escalations(stack, code)] == list(range(1, level + 1))


async def test_each_rise_is_an_escalated_event_by_the_system_about_the_deadline(
        top: tuple[Stack, str, datetime]) -> None:
    stack, code, deadline = top
    escalations = await _escalations(stack, code)
    assert [event["data"]["level"] for event in escalations] == [1, 2, 3]
    assert all(event["actor"] == "system" and event["data"]["kind"] == "deadline" for event in escalations)
    assert all(datetime.fromisoformat(event["data"]["due"]) == deadline for event in escalations)


async def test_each_rise_counts_the_days_late(top: tuple[Stack, str, datetime]) -> None:
    stack, code, _ = top
    late = {event["data"]["days_late"] for event in await _escalations(stack, code)}
    assert late == {LAPSED_TO_LEVEL[3].days}  # all three fell due by the time it was created


async def test_the_top_level_task_reads_overdue_at_level_three(top: tuple[Stack, str, datetime]) -> None:
    stack, code, _ = top
    task = await get_task(stack, code)
    assert task["overdue"] is True and task["escalation_level"] == 3


# --- who is told ------------------------------------------------------------------------------

@pytest.mark.parametrize("level", [1, 2, 3])
async def test_each_level_notifies_its_audience_once(top: tuple[Stack, str, datetime], level: int) -> None:
    stack, code, _ = top
    mine = await _told(stack, AUDIENCE[level], code, level)
    assert [note["level"] for note in mine] == [level]
    assert code in mine[0]["subject"]


async def test_an_agency_with_no_part_in_the_task_is_not_notified(top: tuple[Stack, str, datetime]) -> None:
    stack, code, _ = top
    assert await _notes(stack, "btc.head", code) == []


async def test_the_overdue_report_lists_the_task_at_its_level(top: tuple[Stack, str, datetime]) -> None:
    stack, code, _ = top
    report = ok(await stack.http.get("/api/v1/reports/overdue", headers=await stack.login("office")))
    row = next(item for item in report if item["code"] == code)
    assert row["lead_agency"] == "HNI" and row["escalation_level"] == 3


async def test_the_overdue_report_lists_the_most_escalated_first(top: tuple[Stack, str, datetime]) -> None:
    stack, _, _ = top
    report = ok(await stack.http.get("/api/v1/reports/overdue", headers=await stack.login("office")))
    levels = [item["escalation_level"] for item in report]
    assert 3 in levels and levels == sorted(levels, reverse=True)


# --- the inbox --------------------------------------------------------------------------------

async def test_an_escalation_puts_the_task_in_the_alerted_persons_inbox(stack: Stack) -> None:
    code, _ = await _lapsed_task(stack, LAPSED_TO_LEVEL[2])
    await _told(stack, "office", code, 2)
    item = (await _inbox(stack, "office"))[code]
    assert [note["level"] for note in item["notifications"]] == [2]


async def test_an_alert_offers_no_action_the_stage_does_not_allow(stack: Stack) -> None:
    code, _ = await _lapsed_task(stack, LAPSED_TO_LEVEL[2])
    await _told(stack, "office", code, 2)
    item = (await _inbox(stack, "office"))[code]
    assert "review.assign" not in item["actions"]  # nothing to do but chase: the task is in `assigned`


async def test_reading_the_alert_takes_the_task_out_of_the_inbox(stack: Stack) -> None:
    code, _ = await _lapsed_task(stack, LAPSED_TO_LEVEL[2])
    await _told(stack, "office", code, 2)
    office = await stack.login("office")
    note = (await _inbox(stack, "office"))[code]["notifications"][0]
    read = ok(await stack.http.post(f"/api/v1/notifications/{note['id']}/read", headers=office))
    assert read["read_at"] is not None
    assert code not in await _inbox(stack, "office")


async def test_the_top_level_puts_the_task_in_the_committees_inbox(top: tuple[Stack, str, datetime]) -> None:
    stack, code, _ = top
    assert code in await _inbox(stack, "committee")


# --- an extension -----------------------------------------------------------------------------

async def _extended(stack: Stack) -> dict[str, Any]:
    """A lapsed task, accepted and escalated, then given a new deadline: the approval's answer."""
    code, _ = await _lapsed_task(stack, LAPSED_TO_LEVEL[1])
    await act(stack, "hni.head", code, "accept")
    await task_until(stack, code, lambda task: task["overdue"] and task["escalation_level"] >= 1,
                     what=f"{code} escalated")
    await act(stack, "hni.head", code, "extension.request",
              {"new_deadline": "2099-Q4", "reason": "Chờ hạ tầng dùng chung"})
    return await act(stack, "office", code, "extension.approve")


async def test_an_approved_extension_clears_overdue_and_the_escalation(stack: Stack) -> None:
    task = await _extended(stack)
    assert task["overdue"] is False and task["escalation_level"] == 0


async def test_an_approved_extension_moves_the_deadline_and_keeps_the_original(stack: Stack) -> None:
    task = await _extended(stack)
    assert task["deadline_text"] == "2099-Q4" and task["extensions_granted"] == 1
    assert task["original_deadline"] != task["deadline"]
