"""Task kinds (issue 11, "Task kinds"), pure: the phrases that leave a deadline to be set
(domain/deadlines.py), what each kind takes at assignment (domain/task.py), the deadlines each kind
binds and the Standing Office's reminder (domain/escalation.py), the lifecycle's rules per kind
(domain/lifecycle.py), each kind's place in the agency index (domain/agency_index.py) and the
program file's `kind` column (domain/program_file.py). No server, no database."""

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from api.errors import STATUS
from domain import commands as c
from domain.actors import Actor
from domain.agency_index import IndexTask, agency_index, concerns, counts
from domain.deadlines import due_of, is_to_be_set, parse_deadline
from domain.escalation import LADDER, DeadlineKind, Escalation, due_escalations, escalate, next_wake, open_deadlines
from domain.escalation import refresh as refresh_deadlines
from domain.lifecycle import TaskRuleError, apply, available_actions
from domain.periods import parse_period
from domain.program_file import spec_from_row
from domain.refusals import Code, Refusal
from domain.stages import Stage
from domain.task import EvidenceFile, LifecycleSettings, Reporting, Review, TaskKind, TaskSpec, TaskState

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
T0 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
DAY = timedelta(days=1)
Q3 = parse_deadline("2026-Q3")

OFFICE = Actor(username="office", agency="VPTW", roles=["steering_office"])
HEAD = Actor(username="hni.head", agency="HNI", roles=["agency_head"])
REVIEWER = Actor(username="dng.reviewer", agency="DNG", roles=["cross_check_reviewer"])
FILE = EvidenceFile(sha256="d" * 64, filename="bao-cao.pdf", size=10, content_type="application/pdf")


def end_of(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 23, 59, 59, tzinfo=HCM)


def spec(kind: str | None = None, deadline: str = "", reporting: str = "none", **fields: Any) -> TaskSpec:
    given: dict[str, Any] = {"kind": kind} if kind is not None else {}
    return TaskSpec(code="NQ57-KIND-1", title="Nhiệm vụ theo loại", lead_agency="HNI", deadline=deadline,
                    reporting=reporting, **given, **fields)


def made(kind: str | None = None, deadline: str = "", reporting: str = "none", *, stage: Stage = Stage.IN_PROGRESS,
         settings: LifecycleSettings | None = None, **fields: Any) -> TaskState:
    """A task as its workflow starts it, at `stage` (accepted at T0 when past acceptance)."""
    task = spec(kind, deadline, reporting)
    due = due_of(task.deadline)
    progressed = {"accepted_at": T0, "in_progress_since": T0} if stage != Stage.ASSIGNED else {}
    return TaskState(spec=task, lead_agency="HNI", coordinating_agencies=[], stage=stage, deadline=due,
                     deadline_text=task.deadline, original_deadline=due, created_at=T0, updated_at=T0, seq=1,
                     settings=settings or LifecycleSettings(), **progressed, **fields)


def act(state: TaskState, actor: Actor, command: Any, now: datetime = T0 + DAY) -> TaskState:
    return apply(state, c.ActionRequest(actor=actor, command=command), now)[0]


def refusal(state: TaskState, actor: Actor, command: Any) -> TaskRuleError:
    with pytest.raises(TaskRuleError) as refused:
        apply(state, c.ActionRequest(actor=actor, command=command), T0 + DAY)
    return refused.value


def bound(state: TaskState) -> dict[str, datetime]:
    return {deadline.kind.value: deadline.due for deadline in open_deadlines(state)}


def quarterly_report_due(anchor: datetime) -> datetime:
    from domain.escalation import next_report_due
    return next_report_due(anchor, Reporting.QUARTERLY, "Asia/Ho_Chi_Minh")


# --- the phrases that leave a deadline to be set --------------------------------------------------

@pytest.mark.parametrize(("text", "to_be_set"), [
    ("khẩn trương", True),
    ("Khẩn trương.", True),
    ("cùng thời điểm thi hành của Luật Dữ liệu", True),
    ("Cùng  thời điểm có hiệu lực của Luật", True),
    ("theo tiến độ của Luật/Nghị định hướng dẫn", True),
    ("theo lộ trình của Chính phủ", True),
    ("chưa xác định thời hạn", True),
    ("đồng thời với việc sửa đổi Nghị định 47", True),
    ("trong quý II/2026", False),
    ("2026-Q2", False),
    ("khẩn", False),
    ("", False),
])
def test_a_phrase_that_leaves_the_deadline_to_be_set_is_recognized(text: str, to_be_set: bool) -> None:
    assert is_to_be_set(text) is to_be_set


@pytest.mark.parametrize(("text", "due"), [
    ("", None),
    ("   ", None),
    ("khẩn trương", None),
    ("cùng thời điểm thi hành của Luật", None),
    ("trong quý II/2026", end_of(2026, 6, 30)),
    ("2026-05-01", end_of(2026, 5, 1)),
])
def test_due_of_is_the_instant_or_none_while_it_is_to_be_set(text: str, due: datetime | None) -> None:
    assert due_of(text) == due


def test_due_of_refuses_what_is_neither_an_instant_nor_to_be_set() -> None:
    with pytest.raises(ValueError):
        due_of("sớm nhất có thể")


# --- what each kind takes at assignment ------------------------------------------------------------

@pytest.mark.parametrize(("kind", "deadline", "reporting", "taken_kind", "taken_reporting"), [
    (None, "2026-Q2", "none", "one_off", "none"),
    (None, "khẩn trương", "none", "deadline_pending", "none"),
    ("one_off", "cùng thời điểm thi hành của Luật Dữ liệu", "monthly", "deadline_pending", "monthly"),
    ("deadline_pending", "", "none", "deadline_pending", "none"),
    ("recurring", "", "monthly", "recurring", "monthly"),
    ("recurring", "2027-12-31", "quarterly", "recurring", "quarterly"),
    ("standing", "", "none", "standing", "quarterly"),
    ("standing", "", "monthly", "standing", "monthly"),
])
def test_each_kind_is_assigned_with_what_it_takes(kind: str | None, deadline: str, reporting: str,
                                                   taken_kind: str, taken_reporting: str) -> None:
    taken = spec(kind, deadline, reporting)
    assert (taken.kind, taken.reporting) == (taken_kind, taken_reporting)


@pytest.mark.parametrize(("kind", "deadline", "reporting", "field", "code"), [
    (None, "", "none", "deadline", Code.DEADLINE_REQUIRED),
    ("one_off", "", "monthly", "deadline", Code.DEADLINE_REQUIRED),
    ("recurring", "", "none", "reporting", Code.RECURRING_NEEDS_REPORTING),
    ("standing", "2026-Q2", "none", "deadline", Code.KIND_TAKES_NO_DEADLINE),
    ("deadline_pending", "2026-Q2", "none", "deadline", Code.KIND_TAKES_NO_DEADLINE),
    (None, "sớm nhất có thể", "none", "deadline", Code.DEADLINE_INVALID),
    ("seasonal", "2026-Q2", "none", "kind", "enum"),
])
def test_what_a_kind_does_not_take_is_refused_naming_the_field(kind: str | None, deadline: str, reporting: str,
                                                               field: str, code: str) -> None:
    with pytest.raises(ValidationError) as refused:
        spec(kind, deadline, reporting)
    assert [(error["loc"], error["type"]) for error in refused.value.errors()] == [((field,), code)]


def test_a_one_off_records_no_kind_so_recorded_histories_hash_the_same() -> None:
    assert "kind" not in spec(deadline="2026-Q2").model_dump(mode="json")
    assert spec("standing").model_dump(mode="json")["kind"] == "standing"
    assert TaskSpec.model_validate(spec("standing").model_dump(mode="json")).kind == TaskKind.STANDING


# --- the deadlines each kind binds ---------------------------------------------------------------

@pytest.mark.parametrize(("kind", "deadline", "reporting", "stage", "expected"), [
    ("one_off", "2026-Q3", "none", Stage.IN_PROGRESS, {"deadline": Q3}),
    ("recurring", "", "quarterly", Stage.IN_PROGRESS, {"report": quarterly_report_due(T0)}),
    ("recurring", "2026-Q3", "quarterly", Stage.IN_PROGRESS, {"deadline": Q3, "report": quarterly_report_due(T0)}),
    ("standing", "", "none", Stage.IN_PROGRESS, {"report": quarterly_report_due(T0)}),
    ("standing", "", "none", Stage.ASSIGNED, {"accept": T0 + 7 * DAY}),
    ("deadline_pending", "", "none", Stage.IN_PROGRESS, {"unset": T0 + 30 * DAY}),
    ("deadline_pending", "khẩn trương", "none", Stage.ASSIGNED, {"accept": T0 + 7 * DAY, "unset": T0 + 30 * DAY}),
])
def test_each_kind_binds_its_own_deadlines(kind: str, deadline: str, reporting: str, stage: Stage,
                                           expected: dict[str, datetime]) -> None:
    assert bound(made(kind, deadline, reporting, stage=stage)) == expected


def test_the_office_is_reminded_at_level_2_and_the_reminder_rearms_each_period() -> None:
    state = made("deadline_pending")
    assert due_escalations(state, T0 + 30 * DAY - timedelta(seconds=1)) == []
    assert next_wake(state) == T0 + 30 * DAY
    rises = due_escalations(state, T0 + 30 * DAY)
    assert rises == [Escalation(kind=DeadlineKind.UNSET, due=T0 + 30 * DAY, level=2)]  # one rung: the Office's
    reminded, event = escalate(state, rises[0], T0 + 30 * DAY)
    assert event.data["audience"] == LADDER[1].audience_vi and event.data["kind"] == "unset"
    assert bound(reminded) == {"unset": T0 + 60 * DAY}  # re-armed for the next period
    assert next_wake(reminded) == T0 + 60 * DAY
    assert due_escalations(reminded, T0 + 60 * DAY - timedelta(seconds=1)) == []
    assert reminded.overdue is False and reminded.escalation_level == 0  # nothing against the lead


def test_a_lapsed_reminder_makes_no_task_overdue() -> None:
    state = made("deadline_pending")
    refresh_deadlines(state, T0 + 31 * DAY)
    assert state.overdue is False


def test_the_reminder_period_follows_the_setting() -> None:
    state = made("deadline_pending", settings=LifecycleSettings(deadline_pending_reminder=7 * DAY))
    assert bound(state) == {"unset": T0 + 7 * DAY}


def test_setting_the_deadline_ends_the_reminders_and_binds_the_deadline() -> None:
    state = act(made("deadline_pending"), OFFICE, c.Correct(reason="Luật có hiệu lực", deadline="2026-Q3"))
    assert bound(state) == {"deadline": Q3}


@pytest.mark.parametrize("kind", ["recurring", "standing"])
def test_a_closed_task_binds_nothing_and_never_wakes(kind: str) -> None:
    state = act(made(kind, reporting="monthly"), OFFICE, c.Close(reason="Không còn cần thiết"))
    assert open_deadlines(state) == [] and next_wake(state) is None


# --- the lifecycle's rules per kind ------------------------------------------------------------------

def test_a_standing_task_is_never_completed() -> None:
    refused = refusal(made("standing"), HEAD, c.EvidenceSubmit(summary="Xong", files=[FILE]))
    assert (refused.code, refused.conflict, STATUS[refused.code]) == (Code.STANDING_NEVER_COMPLETED, True, 409)
    assert "evidence.submit" not in available_actions(made("standing"))


@pytest.mark.parametrize("kind", ["recurring", "standing"])
@pytest.mark.parametrize("stage", [Stage.ASSIGNED, Stage.IN_PROGRESS])
def test_close_ends_a_recurring_or_standing_task(kind: str, stage: Stage) -> None:
    state = made(kind, reporting="monthly", stage=stage)
    assert "close" in available_actions(state)
    closed, event = apply(state, c.ActionRequest(actor=OFFICE, command=c.Close(reason="Đã lồng ghép")), T0 + DAY)
    assert (closed.stage, closed.close_reason) == (Stage.CLOSED, "Đã lồng ghép")
    assert (event.type, event.data) == ("close", {"reason": "Đã lồng ghép"})
    assert available_actions(closed) == ["comment"]


@pytest.mark.parametrize(("kind", "deadline"), [("one_off", "2026-Q3"), ("deadline_pending", "")])
def test_close_is_refused_for_a_task_that_completes(kind: str, deadline: str) -> None:
    state = made(kind, deadline)
    refused = refusal(state, OFFICE, c.Close(reason="r"))
    assert (refused.code, refused.conflict, refused.params) == (Code.NOT_CLOSABLE, True, {"kind": kind})
    assert "close" not in available_actions(state)


@pytest.mark.parametrize(("kind", "reporting"), [("deadline_pending", "none"), ("standing", "none"),
                                                 ("recurring", "monthly")])
def test_a_task_without_an_instant_cannot_be_extended(kind: str, reporting: str) -> None:
    state = made(kind, reporting=reporting)
    refused = refusal(state, HEAD, c.ExtensionRequestCommand(new_deadline="2026-Q4", reason="r"))
    assert (refused.code, refused.conflict, STATUS[refused.code]) == (Code.NO_DEADLINE_TO_EXTEND, True, 409)
    assert "extension.request" not in available_actions(state)


def test_a_task_completed_without_an_instant_is_never_late() -> None:
    state = made("recurring", reporting="monthly", stage=Stage.CROSS_CHECK, reviewer="dng.reviewer",
                 reviewer_agency="DNG")
    done = act(state, REVIEWER, c.ReviewApprove(), T0 + 400 * DAY)
    assert (done.stage, done.late) == (Stage.COMPLETED, False)


def test_setting_a_pending_deadline_makes_the_task_a_one_off() -> None:
    state = made("deadline_pending", "khẩn trương")
    after, event = apply(state, c.ActionRequest(actor=OFFICE, command=c.Correct(reason="Luật có hiệu lực",
                                                                                deadline="2026-Q3")), T0 + DAY)
    assert (after.kind, after.deadline, after.original_deadline, after.deadline_text) == (
        TaskKind.ONE_OFF, Q3, Q3, "2026-Q3")
    assert event.data["changes"] == {
        "deadline": {"old": "khẩn trương", "new": "2026-Q3", "old_due": None, "new_due": Q3.isoformat()},
        "kind": {"old": "deadline_pending", "new": "one_off"}}
    assert TaskState.model_validate(after.model_dump(mode="json")).kind == TaskKind.ONE_OFF  # as it is carried


def test_setting_a_pending_deadline_with_another_kind_keeps_that_kind() -> None:
    state = made("deadline_pending", reporting="monthly")
    after = act(state, OFFICE, c.Correct(reason="Báo cáo hằng tháng đến khi xong", deadline="2026-Q3",
                                         kind=TaskKind.RECURRING))
    assert (after.kind, after.deadline) == (TaskKind.RECURRING, Q3)


def test_a_pending_task_corrected_to_standing_reports_each_quarter() -> None:
    after, event = apply(made("deadline_pending"), c.ActionRequest(actor=OFFICE, command=c.Correct(
        reason="Nhiệm vụ thường xuyên", kind=TaskKind.STANDING)), T0 + DAY)
    assert (after.kind, after.spec.reporting) == (TaskKind.STANDING, Reporting.QUARTERLY)
    assert event.data["changes"] == {"kind": {"old": "deadline_pending", "new": "standing"},
                                     "reporting": {"old": "none", "new": "quarterly"}}


@pytest.mark.parametrize(("kind", "deadline", "correction", "field", "code"), [
    ("one_off", "2026-Q3", {"kind": "standing"}, "kind", Code.KIND_TAKES_NO_DEADLINE),
    ("standing", "", {"kind": "one_off"}, "kind", Code.DEADLINE_REQUIRED),
    ("standing", "", {"deadline": "2026-Q4"}, "deadline", Code.KIND_TAKES_NO_DEADLINE),
    ("deadline_pending", "", {"kind": "recurring"}, "kind", Code.RECURRING_NEEDS_REPORTING),
])
def test_a_correction_whose_kind_does_not_fit_is_refused(kind: str, deadline: str, correction: dict[str, str],
                                                        field: str, code: Code) -> None:
    refused = refusal(made(kind, deadline), OFFICE, c.Correct(reason="r", **correction))
    assert (refused.code, refused.conflict, refused.field, STATUS[refused.code]) == (code, False, field, 422)


# --- each kind's place in the agency index ----------------------------------------------------------

Q1 = parse_period("2026-Q1", "Asia/Ho_Chi_Minh")
NOW = datetime(2026, 4, 15, tzinfo=UTC)


def on_time(code: str) -> IndexTask:
    state = made("one_off", "2026-03-31", stage=Stage.COMPLETED,
                 reviews=[Review(at=T0 + DAY, by="dng.reviewer", decision="approved")])
    return IndexTask(state=state.model_copy(update={"spec": state.spec.model_copy(update={"code": code})}))


def test_a_standing_task_is_no_due_item_and_its_missed_report_counts_against_the_lead() -> None:
    standing = IndexTask(state=made("standing"), escalations={1: 1})
    row = agency_index([on_time("H1"), standing], NOW)[0]
    assert (row.assigned, row.due, row.periodic, row.deadline_pending) == (1, 1, 1, 0)
    assert row.escalations == {1: 1, 2: 0, 3: 0}
    assert row.score == 95.0  # 100 - 5 × 1·L1 / 1 due


def test_a_pending_task_is_counted_apart_and_due_in_no_period() -> None:
    row = agency_index([IndexTask(state=made("deadline_pending"))], NOW)[0]
    assert (row.assigned, row.due, row.periodic, row.deadline_pending) == (0, 0, 0, 1)
    assert (row.score, row.rank) == (None, None)


@pytest.mark.parametrize(("kind", "escalated", "due", "counted"), [
    ("one_off", DeadlineKind.DEADLINE, end_of(2026, 3, 31), True),
    ("one_off", DeadlineKind.REPORT, end_of(2026, 5, 31), True),  # a one-off counts in its own period
    ("one_off", DeadlineKind.UNSET, end_of(2026, 2, 1), False),  # set later: its reminders were the Office's
    ("standing", DeadlineKind.REPORT, end_of(2026, 3, 31), True),
    ("standing", DeadlineKind.REPORT, end_of(2026, 4, 30), False),  # another period's report
    ("deadline_pending", DeadlineKind.ACCEPT, end_of(2026, 3, 17), True),
    ("deadline_pending", DeadlineKind.UNSET, end_of(2026, 3, 17), False),  # never against the lead
])
def test_which_escalations_count_in_a_period(kind: str, escalated: DeadlineKind, due: datetime,
                                              counted: bool) -> None:
    deadline = "2026-03-31" if kind == "one_off" else ""
    assert counts(made(kind, deadline), escalated, due, Q1) is counted


@pytest.mark.parametrize(("state", "concerned"), [
    (made("one_off", "2026-03-31"), True),
    (made("one_off", "2026-04-30"), False),
    (made("standing"), True),
    (made("standing").model_copy(update={"created_at": datetime(2026, 4, 2, tzinfo=UTC)}), False),
    (made("recurring", reporting="monthly", stage=Stage.CLOSED).model_copy(update={
        "created_at": datetime(2025, 10, 1, tzinfo=UTC), "updated_at": datetime(2025, 12, 1, tzinfo=UTC)}),
     False),  # closed before the period
    (made("deadline_pending"), True),
    (made("one_off", "2026-03-31").model_copy(update={"parent": "T-0", "overseers": ["HNI"]}), False),
], ids=["one-off-due-in-it", "one-off-due-later", "standing", "standing-assigned-later",
        "recurring-closed-before", "pending", "sub-task-the-parents-lead-answers-for"])
def test_which_tasks_a_period_concerns(state: TaskState, concerned: bool) -> None:
    assert concerns(state, Q1, NOW) is concerned


def test_a_period_not_yet_begun_assesses_no_task_of_another_kind() -> None:
    assert concerns(made("standing"), Q1, Q1.start - DAY) is False
    assert concerns(made("one_off", "2026-03-31"), Q1, Q1.start - DAY) is True  # due in it, as before


# --- the program file's kind column -----------------------------------------------------------------

@pytest.mark.parametrize(("written", "deadline", "reporting", "kind"), [
    ("", "2026-Q2", "", TaskKind.ONE_OFF),
    ("một lần", "2026-Q2", "", TaskKind.ONE_OFF),
    ("Định kỳ", "", "monthly", TaskKind.RECURRING),
    ("recurring", "", "quarterly", TaskKind.RECURRING),
    ("thường xuyên", "", "", TaskKind.STANDING),
    ("Chưa xác định thời hạn", "", "", TaskKind.DEADLINE_PENDING),
    ("", "khẩn trương", "", TaskKind.DEADLINE_PENDING),
])
def test_the_kind_column_reads_the_api_names_and_the_committees_words(written: str, deadline: str, reporting: str,
                                                                     kind: TaskKind) -> None:
    row = {"code": "K-1", "title": "Nhiệm vụ", "lead_agency": "HNI", "kind": written, "deadline": deadline,
           "reporting": reporting}
    assert spec_from_row(row).kind == kind


def test_an_unknown_kind_word_is_refused_naming_the_column() -> None:
    with pytest.raises(Refusal) as refused:
        spec_from_row({"code": "K-1", "title": "Nhiệm vụ", "lead_agency": "HNI", "kind": "thỉnh thoảng",
                       "deadline": "2026-Q2"})
    assert (refused.value.code, refused.value.field) == (Code.NOT_ONE_OF, "kind")
    assert "thường xuyên" in refused.value.params["allowed"]


def test_the_office_corrects_a_one_off_into_a_recurring_report_with_its_cadence() -> None:
    after = act(made("one_off", "2026-06-30"),
                OFFICE, c.Correct(reason="Văn bản giao báo cáo định kỳ", kind="recurring", reporting="monthly"))
    assert after.spec.kind == TaskKind.RECURRING and after.spec.reporting == Reporting.MONTHLY
    assert DeadlineKind.REPORT.value in bound(after)


def test_a_recurring_kind_without_a_cadence_is_refused_naming_the_reporting() -> None:
    refused = refusal(made("one_off", "2026-06-30"), OFFICE,
                      c.Correct(reason="r", kind="recurring", reporting="none"))
    assert refused.code == Code.RECURRING_NEEDS_REPORTING and refused.field == "reporting"
