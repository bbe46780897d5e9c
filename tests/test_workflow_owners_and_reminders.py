"""Every deadline has an owner, and each is warned before it: TaskLifecycleWorkflow on Temporal's
time-skipping test server with the real recording and notification activities (the world of
tests/test_workflow_escalation.py, plus two finance reviewers). Reminders are recorded as `reminded`
events and told in the app at level 0 to the deadline's owner; a lapsed deadline climbs its owner's
own ladder (a reviewer's review tells the reviewer first, the Office's assignment of a reviewer
starts at the Office); the review's time is the reviewer's, never held against the lead
(domain/escalation.py).

Time moves only with `world.env.sleep`, never the wall clock."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from db import models
from domain import commands as c
from domain.stages import Stage
from domain.task import BudgetLine
from messages import text
from policies.enforcer import subject
from tests import test_notifications as notifying
from tests import test_workflow_escalation as escalation
from tests.test_workflow_escalation import (
    FAST,
    FILE,
    HEAD,
    HOUR,
    LEVEL_1,
    LEVEL_2,
    LEVEL_3,
    MINUTE,
    OFFICE,
    REVIEWER,
    World,
    act,
    by_event,
    current,
    escalated_rows,
    eventually,
    level_reaches,
)

# The escalation tests' world: its worker, database and people, each test's workflows ended after it.
world_base, world = escalation.world_base, escalation.world
# The notification tests' mail server, webhook receiver and database, for what a reminder sends out.
smtp, webhook, sessions = notifying.smtp, notifying.webhook, notifying.sessions
DAY = timedelta(days=1)
FINANCE = {"btc.finance"}  # a finance reviewer of another agency than the lead: the one who decides
ASSIGN = escalation.Actor(username="office", agency="VPTW", roles=["steering_office"])


@pytest.fixture(scope="module", autouse=True)
async def finance_reviewers(world_base: World) -> None:
    """Two finance reviewers: one of the Ministry of Finance, one of the lead agency itself (never
    told of the lead's budget: it may not decide it)."""
    async with world_base.sessions() as session, session.begin():
        session.add(models.Agency(code="BTC", name="Bộ Tài chính", kind="ministry"))
        await session.flush()
        for username, agency in (("btc.finance", "BTC"), ("hni.finance", "HNI")):
            session.add(models.User(username=username, password_hash="x", full_name=username, agency=agency,
                                    email=f"{username}@gov.vn", created_at=datetime.now(UTC)))
            session.add(models.CasbinRule(ptype="g", v0=subject(username), v1="finance_reviewer"))


async def events_of(world: World, handle: WorkflowHandle[Any, Any], kind: str, count: int) -> list[models.Event]:
    return await eventually(lambda: world.events(handle, kind), lambda rows: len(rows) >= count,
                            what=f"{count} {kind} events")


async def told(world: World, handle: WorkflowHandle[Any, Any], rows: list[models.Event]) -> dict[int, set[str]]:
    """Who each of these events told in the app (every row at the event's level, 0 for a reminder)."""
    notes = await world.notifications(handle)
    levels = {row.seq: row.data.get("level", 0) for row in rows}
    assert all(note.level == levels[note.event_seq] for note in notes if note.event_seq in levels)
    return {seq: people for seq, people in by_event(notes).items() if seq in levels}


async def test_the_lead_is_reminded_7_3_and_1_days_before_its_deadline(world: World) -> None:
    settings = FAST.model_copy(update={"reminders": (7 * DAY, 3 * DAY, DAY)})
    deadline = await world.now() + 10 * DAY
    handle = await world.start(deadline=deadline, settings=settings)
    await act(handle, HEAD, c.Accept(officer="hni.officer"))

    for number, before in enumerate((7 * DAY, 3 * DAY, DAY), start=1):
        await world.env.sleep(deadline - before - MINUTE - await world.now())
        assert len(await world.events(handle, "reminded")) == number - 1  # not before its time
        await world.env.sleep(2 * MINUTE)
        rows = await events_of(world, handle, "reminded", number)
        assert deadline - before <= rows[-1].at < deadline - before + 2 * MINUTE
    assert [row.data for row in rows] == [{"kind": "deadline", "due": deadline.isoformat().replace("+00:00", "Z"),
                                           "before": before, "owner": "lead"} for before in ("7d", "3d", "1d")]
    assert all(row.actor == "system" for row in rows)
    assert await told(world, handle, rows) == {row.seq: LEVEL_1 for row in rows}  # the heads and the officer
    notes = [note for note in await world.notifications(handle) if note.username == "hni.head"]
    assert [note.level for note in notes] == [0, 0, 0] and all(handle.id[5:] in note.subject for note in notes)
    assert "1 ngày" in notes[-1].subject

    state = await current(handle)
    assert state.escalation_level == 0 and not state.overdue and await world.escalations(handle) == []
    await world.env.sleep(deadline + MINUTE - await world.now())  # lapsed: its ladder speaks, no more reminders
    await level_reaches(handle, 1)
    assert len(await world.events(handle, "reminded")) == 3


async def test_a_cross_check_without_a_reviewer_escalates_to_the_office_then_the_committee(world: World) -> None:
    settings = FAST.model_copy(update={"review_assign_sla": HOUR})
    handle = await world.start(deadline=await world.now() + 30 * DAY, settings=settings)
    await act(handle, HEAD, c.Accept(officer="hni.officer"))
    submitted = await act(handle, HEAD, c.EvidenceSubmit(summary="Xong", files=[FILE]))
    assert submitted.stage == Stage.CROSS_CHECK and submitted.reviewer is None

    await world.env.sleep(HOUR + MINUTE)
    await level_reaches(handle, 2)
    await world.env.sleep(HOUR)
    await level_reaches(handle, 3)
    rows = await escalated_rows(world, handle, 2)
    assert [(row.data["kind"], row.data["level"], row.data["audience"]) for row in rows] == [
        ("review_assign", 2, text("audience.steering_office")),
        ("review_assign", 3, text("audience.steering_committee"))]
    assert await told(world, handle, rows) == {rows[0].seq: LEVEL_2, rows[1].seq: LEVEL_3}  # never the lead

    assigned = await act(handle, ASSIGN, c.ReviewAssign(reviewer="dng.reviewer", reviewer_agency="DNG"))
    assert assigned.escalation_level == 0  # the review binds now, the reviewer's own
    await world.env.sleep(5 * HOUR)
    assert [row.data["level"] for row in await world.events(handle, "escalated")] == [2, 3]


async def test_a_lapsed_review_tells_the_reviewer_first(world: World) -> None:
    settings = FAST.model_copy(update={"review_sla": HOUR})
    handle = await world.start(deadline=await world.now() + 30 * DAY, settings=settings)
    await act(handle, HEAD, c.Accept(officer="hni.officer"))
    await act(handle, HEAD, c.EvidenceSubmit(summary="Xong", files=[FILE]))
    await act(handle, OFFICE, c.ReviewAssign(reviewer="dng.reviewer", reviewer_agency="DNG"))

    await world.env.sleep(2 * HOUR + MINUTE)
    await level_reaches(handle, 2)
    rows = await escalated_rows(world, handle, 2)
    assert [(row.data["kind"], row.data["level"], row.data["audience"]) for row in rows] == [
        ("review", 1, text("audience.reviewer")), ("review", 2, text("audience.steering_office"))]
    assert await told(world, handle, rows) == {rows[0].seq: {"dng.reviewer"}, rows[1].seq: LEVEL_2}


async def test_the_finance_reviewers_are_reminded_and_then_told_of_their_lapsed_decision(world: World) -> None:
    settings = FAST.model_copy(update={"budget_decision_sla": 4 * HOUR, "reminders": (3 * HOUR, HOUR)})
    handle = await world.start(deadline=await world.now() + 30 * DAY, settings=settings, budget_required=True)
    await act(handle, HEAD, c.Accept(officer="hni.officer"))
    await act(handle, HEAD, c.BudgetSubmit(amount_vnd=10, source="NSTW", lines=[BudgetLine(item="x", amount_vnd=10)]))

    await world.env.sleep(4 * HOUR + MINUTE)
    await level_reaches(handle, 1)
    reminders = await events_of(world, handle, "reminded", 2)
    assert [(row.data["kind"], row.data["before"], row.data["owner"]) for row in reminders] == [
        ("budget_decision", "3h", "finance"), ("budget_decision", "1h", "finance")]
    rows = await escalated_rows(world, handle, 1)
    assert [(row.data["kind"], row.data["level"]) for row in rows] == [("budget_decision", 1)]
    assert await told(world, handle, [*reminders, *rows]) == {row.seq: FINANCE for row in [*reminders, *rows]}


async def test_evidence_on_time_then_a_slow_review_completes_on_time(world: World) -> None:
    deadline = await world.now() + 2 * HOUR
    handle = await world.start(deadline=deadline, settings=FAST.model_copy(update={"review_sla": HOUR}))
    await act(handle, HEAD, c.Accept(officer="hni.officer"))
    await world.env.sleep(HOUR)
    await act(handle, HEAD, c.EvidenceSubmit(summary="Xong", files=[FILE]))  # an hour before the deadline
    await act(handle, OFFICE, c.ReviewAssign(reviewer="dng.reviewer", reviewer_agency="DNG"))

    await world.env.sleep(deadline + 3 * HOUR - await world.now())  # the reviewer takes hours past it
    await level_reaches(handle, 3)
    assert {row.data["kind"] for row in await world.events(handle, "escalated")} == {"review"}  # none is the lead's
    done = await act(handle, REVIEWER, c.ReviewApprove(reason="Đạt"))
    assert done.stage == Stage.COMPLETED and done.late is False and done.delivered_at is not None
    assert done.delivered_at < deadline
    assert (await world.task_row(handle)).late is False


async def test_a_reminder_is_mailed_and_posted_to_the_webhook_at_level_0(
        time_skipping: WorkflowEnvironment, sessions: async_sessionmaker[AsyncSession], smtp: notifying.SmtpServer,
        webhook: notifying.WebhookReceiver) -> None:
    async with notifying.running_world(time_skipping, sessions, smtp_url=smtp.url, webhook_url=webhook.url) as world:
        handle = await world.start(deadline=await world.now() + 2 * HOUR,
                                   settings=FAST.model_copy(update={"reminders": (HOUR,)}))
        code = handle.id.removeprefix("task-")
        await act(handle, HEAD, c.Accept(officer="hni.officer"))
        await time_skipping.sleep(HOUR + MINUTE)

        mails = await eventually(lambda: notifying.inbox_of(smtp, code), lambda found: len(found) >= 1,
                                 what="the reminder's mail")
        assert [mail.rcpt_tos for mail in mails] == [notifying.email_of(LEVEL_1)]
        assert str(mails[0].message["Subject"]).startswith("[NQ57] Nhắc hạn")
        hooks = await eventually(lambda: notifying.hooks_of(webhook, code), lambda found: len(found) >= 1,
                                 what="the reminder's webhook")
        notifying.check_signature(hooks[0])
        told = hooks[0].notice
        assert (told["level"], told["audience"], told["data"]["before"], told["data"]["owner"]) == (
            0, "lead_agency", "1h", "lead")
        assert len(smtp.inbox.for_task(code)) == 1 and len(webhook.for_task(code)) == 1  # once
