"""domain/escalation.py on its own: which deadlines bind in which stage, how each ladder climbs at
the offsets of the escalation steps, what an extension or a return to a stage does to the ladders,
when reports fall due, and when the workflow must wake (design.md, "Deadlines and escalation")."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain import commands as c
from domain.actors import Actor
from domain.durations import parse_duration
from domain.escalation import (
    LADDER,
    DeadlineKind,
    Escalation,
    OpenDeadline,
    due_escalations,
    due_reminders,
    escalate,
    ladder_mismatch,
    next_report_due,
    next_wake,
    notice_text,
    open_deadlines,
    owner_of,
    refresh,
    remind,
    reminder_text,
    written,
)
from domain.escalation import level as ladder_level
from domain.events import SYSTEM_ACTOR
from domain.lifecycle import TaskRuleError, apply
from domain.stages import Stage
from domain.task import (
    Budget,
    BudgetAmendment,
    BudgetLine,
    BudgetStatus,
    Evidence,
    EvidenceFile,
    ExtensionRequest,
    LifecycleSettings,
    Reporting,
    TaskSpec,
    TaskState,
)
from messages import text

HCM_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
T0 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)  # 09:00 in Ha Noi
DEADLINE = datetime(2026, 6, 30, 23, 59, 59, tzinfo=HCM_TZ)
DAY = timedelta(days=1)
STEPS = [timedelta(0), timedelta(days=7), timedelta(days=14)]

OFFICE = Actor(username="office", agency="VPTW", roles=["steering_office"])
HEAD = Actor(username="hni.head", agency="HNI", roles=["agency_head"])
OFFICER = Actor(username="hni.officer", agency="HNI", roles=["agency_officer"])
PARTNER = Actor(username="bkhcn.officer", agency="BKHCN", roles=["agency_officer"])
REVIEWER = Actor(username="dng.reviewer", agency="DNG", roles=["cross_check_reviewer"])
COMMITTEE = Actor(username="committee", agency="BCD", roles=["steering_committee"])
FILE = EvidenceFile(sha256="a" * 64, filename="bao-cao.pdf", size=10, content_type="application/pdf")


def make_state(*, stage: Stage = Stage.ASSIGNED, deadline: datetime = DEADLINE, created_at: datetime = T0,
               reporting: Reporting = Reporting.NONE, budget_required: bool = False, **fields) -> TaskState:
    spec = TaskSpec(code="NQ57-ESC-1", title="Chuyển đổi số cấp xã", lead_agency="HNI",
                    coordinating_agencies=["BKHCN"], deadline=deadline.isoformat(),
                    budget_required=budget_required, reporting=reporting)
    return TaskState(spec=spec, lead_agency="HNI", coordinating_agencies=["BKHCN"], stage=stage,
                     deadline=deadline, deadline_text=spec.deadline, original_deadline=deadline,
                     created_at=created_at, updated_at=created_at, seq=1, **fields)


def act(state: TaskState, actor: Actor, command, now: datetime) -> TaskState:
    new, _ = apply(state, c.ActionRequest(actor=actor, command=command), now)
    return new


def climb(state: TaskState, now: datetime) -> tuple[TaskState, list]:
    """What the workflow does when it wakes: record every due rise, in order."""
    events = []
    for rise in due_escalations(state, now):
        state, event = escalate(state, rise, now)
        events.append(event)
    return state, events


def kinds(state: TaskState) -> dict[str, datetime]:
    found = {deadline.kind: deadline.due for deadline in open_deadlines(state)}
    assert len(found) == len(open_deadlines(state)), "one deadline of each kind at most"
    return found


# --- which deadlines bind in which stage ------------------------------------------------------------

def test_assigned_binds_the_accept_sla_and_the_task_deadline() -> None:
    state = make_state(stage=Stage.ASSIGNED)
    assert kinds(state) == {"accept": T0 + timedelta(days=7), "deadline": DEADLINE}


def test_accept_sla_follows_the_settings() -> None:
    state = make_state(settings=LifecycleSettings(accept_sla=timedelta(days=3)))
    assert kinds(state)["accept"] == T0 + timedelta(days=3)


def test_budget_registration_binds_the_budget_sla_from_acceptance() -> None:
    accepted = act(make_state(budget_required=True), HEAD, c.Accept(officer="hni.officer"), T0 + 2 * DAY)
    assert accepted.stage == Stage.BUDGET_REGISTRATION and accepted.accepted_at == T0 + 2 * DAY
    assert kinds(accepted) == {"budget": T0 + 2 * DAY + timedelta(days=14), "deadline": DEADLINE}


def test_budget_review_binds_only_the_task_deadline() -> None:
    state = make_state(stage=Stage.BUDGET_REVIEW, accepted_at=T0)
    assert kinds(state) == {"deadline": DEADLINE}


def test_in_progress_binds_the_task_deadline() -> None:
    state = make_state(stage=Stage.IN_PROGRESS, accepted_at=T0, in_progress_since=T0)
    assert kinds(state) == {"deadline": DEADLINE}


def test_in_progress_after_a_rejected_cross_check_binds_the_rework_deadline_too() -> None:
    rework = T0 + 20 * DAY
    state = make_state(stage=Stage.IN_PROGRESS, in_progress_since=T0, rework_deadline=rework)
    assert kinds(state) == {"deadline": DEADLINE, "rework": rework}


def test_cross_check_binds_nothing_until_a_reviewer_is_assigned_then_the_review_sla() -> None:
    waiting = make_state(stage=Stage.CROSS_CHECK)
    assert open_deadlines(waiting) == []  # the task deadline no longer binds once the product is in
    assigned = act(waiting, OFFICE, c.ReviewAssign(reviewer="dng.reviewer", reviewer_agency="DNG"), T0 + DAY)
    assert kinds(assigned) == {"review": T0 + DAY + timedelta(days=10)}


@pytest.mark.parametrize("reporting", [Reporting.MONTHLY, Reporting.QUARTERLY])
def test_in_progress_with_a_reporting_cadence_binds_a_report(reporting: Reporting) -> None:
    state = make_state(stage=Stage.IN_PROGRESS, in_progress_since=T0, reporting=reporting)
    assert kinds(state) == {"deadline": DEADLINE, "report": next_report_due(T0, reporting, "Asia/Ho_Chi_Minh")}


@pytest.mark.parametrize("stage", [Stage.ASSIGNED, Stage.BUDGET_REGISTRATION, Stage.BUDGET_REVIEW,
                                   Stage.CROSS_CHECK])
def test_no_report_is_due_outside_in_progress(stage: Stage) -> None:
    state = make_state(stage=stage, accepted_at=T0, reporting=Reporting.MONTHLY)
    assert "report" not in kinds(state)


@pytest.mark.parametrize("stage", [Stage.COMPLETED, Stage.CANCELLED])
def test_closed_task_binds_nothing_and_never_wakes(stage: Stage) -> None:
    state = make_state(stage=stage, accepted_at=T0, in_progress_since=T0, reporting=Reporting.MONTHLY,
                       rework_deadline=T0, reviewer_assigned_at=T0)
    assert open_deadlines(state) == []
    assert due_escalations(state, DEADLINE + 100 * DAY) == []
    assert next_wake(state) is None


# --- the ladder ---------------------------------------------------------------------------------

def accepted_in_progress() -> TaskState:
    return act(make_state(), HEAD, c.Accept(officer="hni.officer"), T0 + DAY)


def test_ladder_climbs_one_level_at_each_offset() -> None:
    state = accepted_in_progress()
    assert kinds(state) == {"deadline": DEADLINE}
    assert due_escalations(state, DEADLINE - timedelta(seconds=1)) == []

    expected_levels = {}
    for level, offset in enumerate(STEPS, start=1):
        just_before = DEADLINE + offset - timedelta(seconds=1)
        state, events = climb(state, just_before)
        assert events == []  # nothing new before the offset
        assert state.escalation_level == level - 1
        state, events = climb(state, DEADLINE + offset)
        assert [event.data["level"] for event in events] == [level]
        assert state.escalation_level == level and state.overdue is True
        expected_levels[f"deadline@{DEADLINE.isoformat()}"] = level
        assert state.ladders == expected_levels
    assert due_escalations(state, DEADLINE + 365 * DAY) == []  # the top of the ladder
    assert state.escalation_level == 3


def test_escalated_event_records_the_rise() -> None:
    state = accepted_in_progress()
    now = DEADLINE + timedelta(days=7, hours=5)
    rises = due_escalations(state, now)
    assert rises == [Escalation(kind="deadline", due=DEADLINE, level=1),
                     Escalation(kind="deadline", due=DEADLINE, level=2)]
    new, event = escalate(state, rises[0], now)
    assert state.escalation_level == 0 and state.ladders == {}  # the input is left alone
    assert event.type == "escalated" and event.actor == SYSTEM_ACTOR == "system"
    assert event.seq == new.seq == state.seq + 1 and event.at == now == new.updated_at
    assert event.data == {"kind": "deadline", "due": DEADLINE.isoformat(), "level": 1,
                          "audience": LADDER[0].audience_vi, "lead_agency": "HNI", "days_late": 7}
    subject, body = notice_text(new, rises[0])
    assert "NQ57-ESC-1" in subject and "1" in subject
    assert "NQ57-ESC-1" in body and "HNI" in body and text(LADDER[0].audience_key) in body


def test_task_created_long_after_its_deadline_rises_through_every_level_at_once() -> None:
    deadline = datetime(2020, 3, 31, 23, 59, 59, tzinfo=HCM_TZ)
    state = make_state(deadline=deadline, created_at=T0)
    rises = due_escalations(state, T0)
    assert [(rise.kind, rise.level) for rise in rises] == [("deadline", 1), ("deadline", 2), ("deadline", 3)]
    state, events = climb(state, T0)
    assert [event.data["level"] for event in events] == [1, 2, 3]
    assert [event.seq for event in events] == [2, 3, 4]
    assert state.escalation_level == 3 and state.overdue is True
    assert state.ladders == {f"deadline@{deadline.isoformat()}": 3}
    assert all(event.data["days_late"] == (T0 - deadline).days for event in events)
    assert due_escalations(state, T0 + DAY) == []
    assert next_wake(state) == T0 + timedelta(days=7)  # only the acceptance SLA is left to climb


def test_levels_follow_custom_steps() -> None:
    steps = [timedelta(hours=1), timedelta(hours=3), timedelta(days=1)]
    state = make_state(settings=LifecycleSettings(escalation_steps=steps, accept_sla=timedelta(days=400)))
    assert next_wake(state) == DEADLINE + timedelta(hours=1)
    state, events = climb(state, DEADLINE + timedelta(hours=2))
    assert [event.data["level"] for event in events] == [1]
    assert next_wake(state) == DEADLINE + timedelta(hours=3)
    state, events = climb(state, DEADLINE + timedelta(hours=23))
    assert [event.data["level"] for event in events] == [2]


def test_a_task_started_with_more_steps_than_levels_stops_at_the_top_level() -> None:
    """Before the settings check refused them, a task could start with four steps for three levels:
    it climbs to the top level and no further, and never asks for a level that does not exist."""
    steps = [timedelta(0), 7 * DAY, 14 * DAY, 21 * DAY]
    assert len(steps) > len(LADDER)
    state = make_state(stage=Stage.IN_PROGRESS, settings=LifecycleSettings(escalation_steps=steps))
    state, events = climb(state, DEADLINE + 15 * DAY)
    assert [event.data["level"] for event in events] == [1, 2, 3]
    assert [event.data["audience"] for event in events] == [level.audience_vi for level in LADDER]
    assert state.escalation_level == LADDER[-1].number
    assert next_wake(state) is None  # the fourth step wakes nobody
    assert due_escalations(state, DEADLINE + 365 * DAY) == []
    rise = Escalation(kind=DeadlineKind.DEADLINE, due=DEADLINE, level=LADDER[-1].number)
    assert text(LADDER[-1].audience_key) in notice_text(state, rise)[1]


def test_the_ladder_is_numbered_from_one_and_names_who_is_told() -> None:
    assert [level.number for level in LADDER] == [1, 2, 3]
    assert [level.role for level in LADDER] == [None, "steering_office", "steering_committee"]
    assert [level.label_key for level in LADDER] == ["level.1", "level.2", "level.3"]
    assert LADDER[0].audience_key == "audience.lead_agency"
    assert [ladder_level(number) for number in (1, 2, 3)] == list(LADDER)
    for missing in (0, len(LADDER) + 1):
        with pytest.raises(ValueError, match=f"cấp {missing}"):
            ladder_level(missing)


def test_ladder_mismatch_names_the_steps_and_the_levels() -> None:
    assert ladder_mismatch((timedelta(0), 7 * DAY, 14 * DAY)) is None
    too_many = ladder_mismatch((timedelta(0), 7 * DAY, 14 * DAY, 21 * DAY))
    assert too_many is not None and "có 4 mốc" in too_many and "có 3 cấp" in too_many
    assert all(level.audience_vi in too_many for level in LADDER)
    assert "có 2 mốc" in (ladder_mismatch((timedelta(0), 7 * DAY)) or "")
    assert "tăng dần" in (ladder_mismatch((7 * DAY, timedelta(0), 14 * DAY)) or "")


def test_refresh_marks_overdue_as_soon_as_an_open_deadline_lapses() -> None:
    state = accepted_in_progress()
    refresh(state, DEADLINE - timedelta(seconds=1))
    assert state.overdue is False
    refresh(state, DEADLINE)
    assert state.overdue is True and state.escalation_level == 0  # no rise recorded yet


def test_level_is_the_highest_over_the_open_ladders() -> None:
    state = make_state(stage=Stage.IN_PROGRESS, in_progress_since=T0, rework_deadline=DEADLINE - 10 * DAY)
    state, events = climb(state, DEADLINE + timedelta(days=1))
    # rework: lapsed 11 days ago (levels 1, 2); the task deadline: 1 day ago (level 1); lowest level first
    assert [(event.data["kind"], event.data["level"]) for event in events] == [
        ("rework", 1), ("deadline", 1), ("rework", 2)]
    assert state.escalation_level == 2


# --- extensions ---------------------------------------------------------------------------------

def extend(state: TaskState, new_deadline: str, now: datetime) -> TaskState:
    state = act(state, HEAD, c.ExtensionRequestCommand(new_deadline=new_deadline, reason="Chờ hạ tầng"), now)
    return act(state, OFFICE, c.ExtensionApprove(reason="Đồng ý"), now)


def test_extension_clears_overdue_and_the_level_and_starts_a_fresh_ladder() -> None:
    state = accepted_in_progress()
    state, _ = climb(state, DEADLINE + timedelta(days=8))
    assert state.escalation_level == 2 and state.overdue is True

    now = DEADLINE + timedelta(days=9)
    extended = extend(state, "2026-09-30", now)
    new_deadline = datetime(2026, 9, 30, 23, 59, 59, tzinfo=HCM_TZ)
    assert extended.deadline == new_deadline and extended.extensions_granted == 1
    assert extended.original_deadline == DEADLINE
    assert extended.overdue is False and extended.escalation_level == 0
    assert due_escalations(extended, DEADLINE + timedelta(days=30)) == []  # the old ladder no longer climbs
    assert next_wake(extended) == new_deadline
    assert extended.ladders[f"deadline@{DEADLINE.isoformat()}"] == 2  # kept, but it no longer counts

    lapsed, events = climb(extended, new_deadline)
    assert [(event.data["due"], event.data["level"]) for event in events] == [(new_deadline.isoformat(), 1)]
    assert lapsed.escalation_level == 1 and lapsed.overdue is True


def test_extension_requests_are_refused_after_the_maximum() -> None:
    state = accepted_in_progress()
    state = extend(state, "2026-09-30", T0 + 2 * DAY)
    state = extend(state, "2026-12-31", T0 + 3 * DAY)
    assert state.extensions_granted == 2
    with pytest.raises(TaskRuleError) as refused:
        act(state, HEAD, c.ExtensionRequestCommand(new_deadline="2027-03-31", reason="Lần ba"), T0 + 4 * DAY)
    assert refused.value.conflict is True and "2" in str(refused.value)


def test_max_extensions_follows_the_settings() -> None:
    state = act(make_state(settings=LifecycleSettings(max_extensions=1)), HEAD, c.Accept(), T0)
    state = extend(state, "2026-09-30", T0 + DAY)
    with pytest.raises(TaskRuleError):
        act(state, HEAD, c.ExtensionRequestCommand(new_deadline="2027-03-31", reason="Lần hai"), T0 + 2 * DAY)


# --- a deadline that binds again ---------------------------------------------------------------

def test_ladder_already_climbed_does_not_climb_again_when_the_deadline_binds_again() -> None:
    state = accepted_in_progress()
    state, events = climb(state, DEADLINE + timedelta(days=15))
    assert [event.data["level"] for event in events] == [1, 2, 3]

    now = DEADLINE + timedelta(days=16)
    submitted = act(state, HEAD, c.EvidenceSubmit(summary="Xong", files=[FILE]), now)
    assert submitted.stage == Stage.CROSS_CHECK
    assert submitted.overdue is False and submitted.escalation_level == 0  # the task deadline is met
    reviewing = act(submitted, OFFICE, c.ReviewAssign(reviewer="dng.reviewer", reviewer_agency="DNG"), now)
    rejected = act(reviewing, REVIEWER, c.ReviewReject(reason="Chưa đạt", findings=["Thiếu số liệu"]), now + DAY)
    assert rejected.stage == Stage.IN_PROGRESS and rejected.rework_deadline == now + DAY + timedelta(days=14)

    # The task deadline binds again, with its ladder at the top: the level comes back, no event does.
    assert rejected.escalation_level == 3 and rejected.overdue is True
    assert [rise.kind for rise in due_escalations(rejected, now + 2 * DAY)] == []
    assert next_wake(rejected) == rejected.rework_deadline
    # Only the new rework deadline climbs, from level 1.
    lapsed, events = climb(rejected, rejected.rework_deadline)
    assert [(event.data["kind"], event.data["level"]) for event in events] == [("rework", 1)]
    assert lapsed.escalation_level == 3


def test_a_rejected_budget_restarts_the_time_to_register_it() -> None:
    state = act(make_state(budget_required=True), HEAD, c.Accept(officer="hni.officer"), T0)
    budget_due = T0 + timedelta(days=14)
    state, events = climb(state, budget_due)
    assert [(event.data["kind"], event.data["level"]) for event in events] == [("budget", 1)]
    submit = c.BudgetSubmit(amount_vnd=10, source="NSTW", lines=[BudgetLine(item="x", amount_vnd=10)])
    state = act(state, HEAD, submit, budget_due + DAY)
    assert state.stage == Stage.BUDGET_REVIEW and state.escalation_level == 0
    rejected_at = budget_due + 2 * DAY
    state = act(state, OFFICE, c.BudgetReject(reason="Thiếu"), rejected_at)
    assert state.stage == Stage.BUDGET_REGISTRATION and state.escalation_level == 0 and not state.overdue
    assert due_escalations(state, rejected_at) == []
    assert kinds(state)["budget"] == rejected_at + timedelta(days=14)


def test_review_sla_restarts_when_reworked_evidence_comes_back_to_the_reviewer() -> None:
    state = act(make_state(deadline=datetime(2027, 12, 31, tzinfo=HCM_TZ)), HEAD, c.Accept(), T0)
    state = act(state, HEAD, c.EvidenceSubmit(files=[FILE]), T0 + DAY)
    state = act(state, OFFICE, c.ReviewAssign(reviewer="dng.reviewer", reviewer_agency="DNG"), T0 + DAY)
    state = act(state, REVIEWER, c.ReviewReject(reason="Chưa đạt", findings=["Thiếu"]), T0 + 9 * DAY)
    resubmitted_at = T0 + 30 * DAY  # 21 days of rework
    state = act(state, HEAD, c.EvidenceSubmit(files=[FILE]), resubmitted_at)
    assert state.stage == Stage.CROSS_CHECK and state.reviewer == "dng.reviewer"
    assert due_escalations(state, resubmitted_at) == []
    assert kinds(state)["review"] == resubmitted_at + timedelta(days=10)


def test_no_review_sla_while_the_reviewer_is_cleared_by_a_reassignment() -> None:
    state = act(make_state(deadline=datetime(2027, 12, 31, tzinfo=HCM_TZ)), HEAD, c.Accept(), T0)
    state = act(state, HEAD, c.EvidenceSubmit(files=[FILE]), T0 + DAY)
    state = act(state, OFFICE, c.ReviewAssign(reviewer="dng.reviewer", reviewer_agency="DNG"), T0 + DAY)
    state = act(state, COMMITTEE, c.Reassign(lead_agency="DNG", reason="Chuyển"), T0 + 2 * DAY)
    assert state.reviewer is None
    assert open_deadlines(state) == []
    assert due_escalations(state, T0 + 30 * DAY) == []


# --- reports ------------------------------------------------------------------------------------

def local(year: int, month: int, day: int, hour: int = 12) -> datetime:
    return datetime(year, month, day, hour, tzinfo=HCM_TZ)


def end_of(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 23, 59, 59, tzinfo=HCM_TZ)


@pytest.mark.parametrize(("anchor", "expected"), [
    (local(2026, 3, 15), end_of(2026, 4, 30)),
    (local(2026, 1, 1, 0), end_of(2026, 2, 28)),
    (local(2028, 1, 31), end_of(2028, 2, 29)),  # leap year
    (local(2026, 11, 2), end_of(2026, 12, 31)),
    (local(2026, 12, 31, 23), end_of(2027, 1, 31)),  # across the year
    # 20:00 UTC on 31 March is already 1 April in Ha Noi: April's report is due by the end of May
    (datetime(2026, 3, 31, 20, 0, tzinfo=UTC), end_of(2026, 5, 31)),
    (datetime(2026, 3, 31, 16, 59, 59, tzinfo=UTC), end_of(2026, 4, 30)),
], ids=["mid-month", "first-second", "leap", "november", "december", "utc-evening", "utc-before-midnight"])
def test_monthly_report_is_due_at_the_end_of_the_following_month(anchor: datetime, expected: datetime) -> None:
    due = next_report_due(anchor, Reporting.MONTHLY, "Asia/Ho_Chi_Minh")
    assert due == expected
    assert due.utcoffset() == timedelta(hours=7)


@pytest.mark.parametrize(("anchor", "expected"), [
    (local(2026, 1, 1, 0), end_of(2026, 6, 30)),
    (local(2026, 2, 14), end_of(2026, 6, 30)),
    (local(2026, 3, 31, 23), end_of(2026, 6, 30)),
    (local(2026, 4, 1, 0), end_of(2026, 9, 30)),
    (local(2026, 8, 20), end_of(2026, 12, 31)),
    (local(2026, 11, 2), end_of(2027, 3, 31)),  # across the year
    (datetime(2026, 9, 30, 18, 0, tzinfo=UTC), end_of(2027, 3, 31)),  # 1 October in Ha Noi: Q4
], ids=["jan-1", "february", "end-of-q1", "april", "august", "november", "utc-evening-q3-end"])
def test_quarterly_report_is_due_at_the_end_of_the_following_quarter(anchor: datetime, expected: datetime) -> None:
    assert next_report_due(anchor, Reporting.QUARTERLY, "Asia/Ho_Chi_Minh") == expected


def test_report_due_moves_with_the_lead_agencys_reports_only() -> None:
    started = local(2026, 3, 15)
    state = act(make_state(reporting=Reporting.MONTHLY, deadline=end_of(2027, 12, 31)), HEAD, c.Accept(), started)
    assert state.in_progress_since == started
    assert kinds(state)["report"] == end_of(2026, 4, 30)

    contribution = act(state, PARTNER, c.ProgressReportCommand(percent=10), local(2026, 4, 10))
    assert contribution.last_report_at is None and kinds(contribution)["report"] == end_of(2026, 4, 30)

    reported = act(state, OFFICER, c.ProgressReportCommand(percent=20), local(2026, 4, 10))
    assert reported.last_report_at == local(2026, 4, 10)
    assert kinds(reported)["report"] == end_of(2026, 5, 31)


def test_missed_report_escalates_and_a_filed_report_clears_it() -> None:
    started = local(2026, 3, 15)
    state = act(make_state(reporting=Reporting.MONTHLY, deadline=end_of(2027, 12, 31)), HEAD, c.Accept(), started)
    due = end_of(2026, 4, 30)
    state, events = climb(state, due + DAY)
    assert [(event.data["kind"], event.data["level"]) for event in events] == [("report", 1)]
    assert state.overdue is True and state.escalation_level == 1
    reported = act(state, OFFICER, c.ProgressReportCommand(percent=30), due + 2 * DAY)
    assert reported.overdue is False and reported.escalation_level == 0
    assert kinds(reported)["report"] == end_of(2026, 6, 30)  # a report filed in May covers May
    assert due_escalations(reported, due + 20 * DAY) == []


def test_report_due_after_a_rejected_cross_check_counts_from_the_return_to_in_progress() -> None:
    state = act(make_state(reporting=Reporting.MONTHLY, deadline=end_of(2027, 12, 31)), HEAD, c.Accept(),
                local(2026, 3, 15))
    state = act(state, OFFICER, c.ProgressReportCommand(percent=50), local(2026, 3, 20))
    state = act(state, HEAD, c.EvidenceSubmit(files=[FILE]), local(2026, 4, 10))
    state = act(state, OFFICE, c.ReviewAssign(reviewer="dng.reviewer", reviewer_agency="DNG"), local(2026, 4, 11))
    assert "report" not in kinds(state)  # nothing to report while the product is being checked
    returned = local(2026, 6, 15)  # the reviewer took two months
    state = act(state, REVIEWER, c.ReviewReject(reason="Chưa đạt", findings=["Thiếu"]), returned)
    assert state.stage == Stage.IN_PROGRESS and state.in_progress_since == returned
    # Back in in_progress on 15 June: June's report is due by the end of July, and nothing is late yet.
    assert due_escalations(state, returned) == []
    assert kinds(state)["report"] == end_of(2026, 7, 31)


def test_completion_after_the_deadline_is_late_and_closes_every_ladder() -> None:
    state = accepted_in_progress()
    state, _ = climb(state, DEADLINE + 3 * DAY)
    state = act(state, HEAD, c.EvidenceSubmit(files=[FILE]), DEADLINE + 4 * DAY)
    state = act(state, OFFICE, c.ReviewAssign(reviewer="dng.reviewer", reviewer_agency="DNG"), DEADLINE + 4 * DAY)
    done = act(state, REVIEWER, c.ReviewApprove(), DEADLINE + 5 * DAY)
    assert done.stage == Stage.COMPLETED and done.late is True
    assert done.overdue is False and next_wake(done) is None


def test_completion_before_the_deadline_is_not_late() -> None:
    state = act(accepted_in_progress(), HEAD, c.EvidenceSubmit(files=[FILE]), T0 + 2 * DAY)
    state = act(state, OFFICE, c.ReviewAssign(reviewer="dng.reviewer", reviewer_agency="DNG"), T0 + 2 * DAY)
    assert act(state, REVIEWER, c.ReviewApprove(), T0 + 3 * DAY).late is False


# --- next_wake ----------------------------------------------------------------------------------

def test_next_wake_is_the_earliest_rise_of_any_open_ladder() -> None:
    state = make_state()  # assigned: accept SLA at T0+7d, task deadline later
    assert next_wake(state) == T0 + timedelta(days=7)
    state, _ = climb(state, T0 + timedelta(days=7))
    assert next_wake(state) == T0 + timedelta(days=14)  # level 2 of the accept ladder
    state, _ = climb(state, T0 + timedelta(days=21))
    assert state.ladders == {f"accept@{(T0 + timedelta(days=7)).isoformat()}": 3}
    assert next_wake(state) == DEADLINE  # the accept ladder is at the top


def test_next_wake_none_when_every_ladder_is_at_the_top() -> None:
    state = make_state(stage=Stage.IN_PROGRESS, in_progress_since=T0)
    state, _ = climb(state, DEADLINE + 14 * DAY)
    assert state.escalation_level == 3
    assert next_wake(state) is None


def test_next_wake_after_acceptance_forgets_the_accept_sla() -> None:
    state = make_state()
    accepted = act(state, HEAD, c.Accept(), T0 + DAY)
    assert next_wake(accepted) == DEADLINE


def test_open_deadline_key_names_kind_and_due() -> None:
    assert OpenDeadline(kind="deadline", due=DEADLINE).key == "deadline@2026-06-30T23:59:59+07:00"


def test_what_the_escalated_event_records_as_its_audience_never_changes() -> None:
    """The `audience` of an `escalated` event is hashed into the task's chain and replayed from its
    history: the Vietnamese catalog's `audience.*` sentences it is read from must keep these words
    (reword what people read elsewhere, never these)."""
    assert [level.audience_vi for level in LADDER] == ["cơ quan chủ trì", "Cơ quan Thường trực", "Ban Chỉ đạo"]


# --- every deadline has an owner --------------------------------------------------------------------

OWNED = LifecycleSettings(budget_decision_sla=10 * DAY, review_assign_sla=5 * DAY, extension_decision_sla=7 * DAY,
                          accept_sla=400 * DAY)
REMINDING = LifecycleSettings(reminders=(7 * DAY, 3 * DAY, DAY), accept_sla=400 * DAY)


@pytest.mark.parametrize(("kind", "owner"), [
    ("accept", "lead"), ("budget", "lead"), ("deadline", "lead"), ("rework", "lead"), ("report", "lead"),
    ("review", "reviewer"), ("budget_decision", "finance"), ("review_assign", "office"),
    ("extension_decision", "office"), ("unset", "office"),
])
def test_every_deadline_kind_has_its_owner(kind: str, owner: str) -> None:
    assert owner_of(DeadlineKind(kind)) == owner


def budget(*amendments: BudgetAmendment) -> Budget:
    return Budget(amount_vnd=10, source="NSTW", lines=[BudgetLine(item="x", amount_vnd=10)],
                  status=BudgetStatus.APPROVED, amendments=list(amendments))


AMENDMENT = BudgetAmendment(at=T0 + 3 * DAY, by="hni.head", amount_vnd=20, lines=[BudgetLine(item="x", amount_vnd=20)],
                            reason="Thêm hạng mục")
EVIDENCE = Evidence(at=T0 + 2 * DAY, by="hni.head", summary="Xong", kpi_results={}, files=[FILE])
REQUEST = ExtensionRequest(at=T0 + 4 * DAY, by="hni.head", new_deadline=DEADLINE + 30 * DAY,
                           new_deadline_text="2026-07-30", reason="Chờ vốn")

# Each new deadline: the state that opens it, and when it falls due under OWNED.
HELD_BY_OTHERS: dict[str, tuple[dict, datetime]] = {
    "budget_decision": ({"stage": Stage.BUDGET_REVIEW, "budget_submitted_at": T0 + DAY}, T0 + 11 * DAY),
    "budget_decision-amendment": ({"stage": Stage.IN_PROGRESS, "budget": budget(AMENDMENT)}, T0 + 13 * DAY),
    "review_assign": ({"stage": Stage.CROSS_CHECK, "evidence": [EVIDENCE]}, T0 + 7 * DAY),
    "extension_decision": ({"stage": Stage.IN_PROGRESS, "extension_request": REQUEST}, T0 + 11 * DAY),
}


@pytest.mark.parametrize("case", list(HELD_BY_OTHERS))
def test_a_deadline_held_by_others_binds_with_its_sla(case: str) -> None:
    fields, due = HELD_BY_OTHERS[case]
    kind = case.split("-")[0]
    assert kinds(make_state(settings=OWNED, **fields))[kind] == due


@pytest.mark.parametrize("case", list(HELD_BY_OTHERS))
def test_a_deadline_held_by_others_never_binds_a_task_started_without_its_sla(case: str) -> None:
    fields, _ = HELD_BY_OTHERS[case]
    assert case.split("-")[0] not in kinds(make_state(settings=LifecycleSettings(accept_sla=400 * DAY), **fields))


@pytest.mark.parametrize(("fields", "kind"), [
    ({"stage": Stage.IN_PROGRESS, "budget": budget(AMENDMENT.model_copy(update={"status": BudgetStatus.APPROVED}))},
     "budget_decision"),  # the amendment is decided
    ({"stage": Stage.CROSS_CHECK, "evidence": [EVIDENCE], "reviewer": "dng.reviewer", "reviewer_assigned_at": T0},
     "review_assign"),  # a reviewer is assigned: the review binds instead
    ({"stage": Stage.COMPLETED, "extension_request": REQUEST}, "extension_decision"),  # closed
], ids=["amendment-decided", "reviewer-assigned", "closed"])
def test_a_deadline_held_by_others_ends_with_what_it_waits_for(fields: dict, kind: str) -> None:
    assert kind not in kinds(make_state(settings=OWNED, **fields))


def test_a_lapsed_review_tells_the_reviewer_first_then_the_office_and_the_committee() -> None:
    state = make_state(stage=Stage.CROSS_CHECK, evidence=[EVIDENCE], reviewer="dng.reviewer",
                       reviewer_assigned_at=T0, settings=OWNED)
    due = T0 + timedelta(days=10)
    state, events = climb(state, due + 14 * DAY)
    assert [(event.data["kind"], event.data["level"], event.data["audience"]) for event in events] == [
        ("review", 1, text("audience.reviewer")), ("review", 2, "Cơ quan Thường trực"), ("review", 3, "Ban Chỉ đạo")]


def test_a_lapsed_budget_decision_tells_the_finance_reviewers_first() -> None:
    state = make_state(stage=Stage.BUDGET_REVIEW, budget_submitted_at=T0, settings=OWNED)
    state, events = climb(state, T0 + 10 * DAY)
    assert [(event.data["kind"], event.data["level"], event.data["audience"]) for event in events] == [
        ("budget_decision", 1, text("audience.finance_reviewer"))]


@pytest.mark.parametrize("kind", ["review_assign", "extension_decision"])
def test_an_office_deadline_starts_at_the_office_level_then_the_committee_at_the_next_step(kind: str) -> None:
    fields, due = HELD_BY_OTHERS[kind]
    state = make_state(settings=OWNED, deadline=DEADLINE + 365 * DAY, **fields)
    assert next_wake(state) == due
    state, events = climb(state, due)
    assert [(event.data["kind"], event.data["level"]) for event in events] == [(kind, 2)]
    assert state.escalation_level == 2
    assert next_wake(state) == due + 7 * DAY  # the next step
    state, events = climb(state, due + 7 * DAY)
    assert [(event.data["kind"], event.data["level"]) for event in events] == [(kind, 3)]
    assert due_escalations(state, due + 300 * DAY) == []
    assert next_wake(state) == (None if kind == "review_assign" else state.deadline)  # in progress, it binds


def test_an_office_deadline_lapsed_long_ago_rises_to_the_office_and_the_committee_at_once() -> None:
    fields, due = HELD_BY_OTHERS["review_assign"]
    state, events = climb(make_state(settings=OWNED, **fields), due + 30 * DAY)
    assert [event.data["level"] for event in events] == [2, 3]


@pytest.mark.parametrize(("kind", "level", "retold"), [
    ("review", 1, True), ("review", 2, False), ("deadline", 1, False), ("accept", 1, False), ("unset", 2, False),
    ("budget_decision", 1, False), ("review_assign", 2, False),  # new kinds: no history told them otherwise
])
def test_only_a_reviews_first_level_was_told_to_someone_else_before_owners(kind: str, level: int,
                                                                           retold: bool) -> None:
    assert Escalation(kind=kind, due=DEADLINE, level=level).retold is retold


def test_a_review_rise_replayed_from_before_owners_records_what_it_recorded_then() -> None:
    state = make_state(stage=Stage.CROSS_CHECK, reviewer="dng.reviewer", reviewer_assigned_at=T0)
    rise = Escalation(kind="review", due=T0 + 10 * DAY, level=1, before_owners=True)
    _, event = escalate(state, rise, T0 + 10 * DAY)
    assert event.data == {"kind": "review", "due": (T0 + 10 * DAY).isoformat().replace("+00:00", "Z"), "level": 1,
                          "audience": "cơ quan chủ trì", "lead_agency": "HNI", "days_late": 0}


def test_the_escalated_event_of_an_old_kind_keeps_its_keys() -> None:
    _, events = climb(accepted_in_progress(), DEADLINE)
    assert list(events[0].data) == ["kind", "due", "level", "audience", "lead_agency", "days_late"]


# --- early warning ----------------------------------------------------------------------------------

def reminding(**fields) -> TaskState:
    return make_state(stage=Stage.IN_PROGRESS, in_progress_since=T0, settings=REMINDING, **fields)


def warn(state: TaskState, now: datetime) -> tuple[TaskState, list]:
    """What the workflow does after the escalations: record every due reminder."""
    events = []
    for reminder in due_reminders(state, now):
        state, event = remind(state, reminder, now)
        events.append(event)
    return state, events


@pytest.mark.parametrize(("offset", "written_as"), [(7 * DAY, "7d"), (3 * DAY, "3d"), (DAY, "1d")])
def test_a_reminder_is_due_at_its_offset_before_the_deadline(offset: timedelta, written_as: str) -> None:
    farther = [told for told in REMINDING.reminders if told > offset]
    told = {f"deadline@{DEADLINE.isoformat()}": int(min(farther).total_seconds())} if farther else {}
    state = reminding(reminded=told)
    assert due_reminders(state, DEADLINE - offset - timedelta(seconds=1)) == []
    assert next_wake(state, T0) == DEADLINE - offset
    state, events = warn(state, DEADLINE - offset)
    assert [event.data for event in events] == [{"kind": "deadline", "due": DEADLINE.isoformat(),
                                                 "before": written_as, "owner": "lead"}]
    assert events[0].type == "reminded" and events[0].actor == SYSTEM_ACTOR and events[0].seq == state.seq
    assert state.reminded == {f"deadline@{DEADLINE.isoformat()}": int(offset.total_seconds())}


def test_when_several_offsets_have_passed_only_the_nearest_is_given() -> None:
    state, events = warn(reminding(), DEADLINE - 2 * DAY)  # assigned two days before its deadline
    assert [event.data["before"] for event in events] == ["3d"]
    assert next_wake(state, DEADLINE - 2 * DAY) == DEADLINE - DAY  # then the last one
    state, events = warn(state, DEADLINE - DAY)
    assert [event.data["before"] for event in events] == ["1d"]


def test_no_reminder_is_given_twice() -> None:
    state, _ = warn(reminding(), DEADLINE - 3 * DAY)
    assert due_reminders(state, DEADLINE - 3 * DAY + timedelta(hours=1)) == []
    assert due_reminders(state, DEADLINE - 2 * DAY) == []


def test_no_reminder_for_a_deadline_already_lapsed() -> None:
    state = reminding()
    assert due_reminders(state, DEADLINE) == []
    assert due_reminders(state, DEADLINE + DAY) == []
    assert next_wake(state, DEADLINE + DAY) == DEADLINE  # only its ladder is left to wait for


def test_no_reminder_for_a_task_started_without_reminders() -> None:
    state = make_state(stage=Stage.IN_PROGRESS, in_progress_since=T0)
    assert due_reminders(state, DEADLINE - DAY) == []
    assert next_wake(state, T0) == DEADLINE


def test_no_reminder_for_the_offices_reminder_to_set_a_deadline() -> None:
    spec = TaskSpec(code="NQ57-ESC-2", title="Khẩn trương", lead_agency="HNI", deadline="khẩn trương")
    state = TaskState(spec=spec, lead_agency="HNI", coordinating_agencies=[], deadline=None,
                      deadline_text=spec.deadline, original_deadline=None, created_at=T0, updated_at=T0, seq=1,
                      settings=REMINDING.model_copy(update={"accept_sla": 30 * DAY}))
    assert [deadline.kind for deadline in open_deadlines(state)] == ["accept", "unset"]  # both due at T0 + 30d
    assert [(reminder.kind, reminder.before) for reminder in due_reminders(state, T0 + 29 * DAY)] == [("accept", DAY)]


def test_each_deadline_has_its_own_reminders_and_its_owner_is_told() -> None:
    state = make_state(stage=Stage.CROSS_CHECK, evidence=[EVIDENCE], settings=REMINDING.model_copy(
        update={"review_assign_sla": 5 * DAY}))
    state, events = warn(state, EVIDENCE.at)  # the Office has 5 days: nothing at once, 7 days' warning is moot
    assert events == []
    state, events = warn(state, EVIDENCE.at + 2 * DAY)  # 3 days left
    assert [(event.data["kind"], event.data["before"], event.data["owner"]) for event in events] == [
        ("review_assign", "3d", "office")]


def test_no_reminder_comes_the_moment_a_deadline_is_set() -> None:
    """7 days to accept and 7 days' warning: the first reminder is the 3-day one, never one at assignment."""
    state = make_state(settings=REMINDING.model_copy(update={"accept_sla": 7 * DAY}))
    assert due_reminders(state, state.created_at) == []
    assert [r.before for r in due_reminders(state, state.created_at + 4 * DAY)] == [3 * DAY]


def test_an_extension_opens_a_fresh_set_of_reminders() -> None:
    state, _ = warn(reminding(), DEADLINE - DAY)
    new_deadline = datetime(2026, 9, 30, 23, 59, 59, tzinfo=HCM_TZ)
    state = extend(state, "2026-09-30", DEADLINE - DAY)
    assert next_wake(state, DEADLINE - DAY) == new_deadline - 7 * DAY
    _, events = warn(state, new_deadline - 7 * DAY)
    assert [event.data["before"] for event in events] == ["7d"]


def test_the_reminder_text_names_the_task_the_deadline_and_the_time_left() -> None:
    state = reminding()
    [reminder] = due_reminders(state, DEADLINE - 3 * DAY)
    subject, body = reminder_text(state, reminder, DEADLINE - 3 * DAY)
    assert "NQ57-ESC-1" in subject and text("kind.deadline") in subject and "3 ngày" in subject
    assert "HNI" in body and text("audience.lead_agency") in body and "{" not in subject + body


@pytest.mark.parametrize("duration", [7 * DAY, 36 * timedelta(hours=1), timedelta(minutes=90), timedelta(seconds=45)])
def test_the_offset_is_written_as_the_settings_write_it(duration: timedelta) -> None:
    assert parse_duration(written(duration)) == duration
