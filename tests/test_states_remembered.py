"""What is made of a task's state is made once per state read (db/states.py `parsed`, `ByState`):
a list, an inbox or a page read again parses and builds only what changed (issue 14, the inbox's
cost per item), and an inbox item once per state and person while the policy stays. One rule per
test."""

from datetime import UTC, datetime

from pydantic import TypeAdapter

from db import states
from db.states import STATES_REMEMBERED, ByState, parsed
from domain.actors import Actor
from domain.deadlines import parse_deadline
from domain.stages import Stage
from domain.task import TaskSpec, TaskState
from policies.enforcer import MODEL_PATH, Enforcer, give_roles
from services.reports import inbox_item
from services.views import _VIEW_TEXTS, DeadlineView, GroupedTaskPage, InboxItem, TaskPage, TaskView

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def _state(code: str = "MEMO-1", stage: Stage = Stage.IN_PROGRESS) -> TaskState:
    spec = TaskSpec(code=code, title="Nhớ trạng thái", lead_agency="HNI", deadline="2027-Q4", product="Hệ thống",
                    kpis=[{"name": "Xã kết nối", "target": 100, "unit": "xã"}])
    deadline = parse_deadline(spec.deadline)
    return TaskState(spec=spec, lead_agency="HNI", coordinating_agencies=["BTC"], stage=stage, deadline=deadline,
                     deadline_text=spec.deadline, original_deadline=deadline, created_at=T0, updated_at=T0, seq=3)


def test_the_same_text_is_parsed_once_and_another_text_afresh() -> None:
    text = _state().model_dump_json()
    first = parsed(text)
    assert parsed("".join(text)) is first  # an equal text read again: the same state
    moved = parsed(_state(stage=Stage.CROSS_CHECK).model_dump_json())
    assert moved is not first and moved.stage == Stage.CROSS_CHECK


def test_a_state_read_from_a_row_is_the_state_written() -> None:
    state = _state()
    assert parsed(state.model_dump_json()) == state


def test_what_is_made_of_a_state_is_made_once_per_state() -> None:
    made: list[str] = []
    remembered = ByState(lambda state: made.append(state.code) or state.code)
    state, equal = _state(), _state()
    assert remembered(state) == remembered(state) == "MEMO-1"
    assert made == ["MEMO-1"]
    remembered(equal)  # another state object: made again (by identity, never by a look-alike)
    assert made == ["MEMO-1", "MEMO-1"]


def test_as_many_states_are_remembered_as_parsed_keeps() -> None:
    made: list[int] = []
    remembered = ByState(lambda state: made.append(1) or len(made))
    kept = [_state(f"MEMO-{n}") for n in range(STATES_REMEMBERED + 1)]
    for state in kept:
        remembered(state)
    assert len(remembered._known) == STATES_REMEMBERED
    remembered(kept[-1])  # the newest is still there
    assert len(made) == STATES_REMEMBERED + 1
    remembered(kept[0])  # the oldest was forgotten: made again
    assert len(made) == STATES_REMEMBERED + 2
    assert states.parsed.cache_info().maxsize == STATES_REMEMBERED


def test_a_task_view_is_built_once_per_state_and_shared() -> None:
    state = _state()
    assert TaskView.of(state) is TaskView.of(state)


def test_an_inbox_item_is_its_task_view_with_its_own_fields_as_if_validated_whole() -> None:
    state = _state()
    mine = {"actions": ["progress.report", "comment"], "to_do": ["progress.report"], "notifications": [],
            "returned": None, "running": DeadlineView(kind="deadline", due=state.deadline, level=0, owner="lead")}
    item = InboxItem.of(state, **mine)
    validated = InboxItem.model_validate({**TaskView.of(state).model_dump(), **mine})
    assert item.model_dump_json() == validated.model_dump_json()
    assert TaskView.of(state).model_dump_json() == TaskView._built(state).model_dump_json()


def test_a_page_s_json_is_what_its_response_model_writes() -> None:
    tasks = [_state("MEMO-1"), _state("MEMO-2", Stage.CROSS_CHECK)]
    for shown, total, exact in ((tasks, 7, True), ([], 0, True), (tasks[:1], 1000, False)):
        written = TypeAdapter(GroupedTaskPage | TaskPage).dump_json(  # the list route's response model
            TaskPage(items=[TaskView.of(state) for state in shown], total=total, total_exact=exact), by_alias=True)
        assert TaskPage.json_of(shown, total, exact) == written


def test_a_page_writes_each_task_s_text_once_per_state() -> None:
    state = _state()
    TaskPage.json_of([state], 1, True)
    assert _VIEW_TEXTS(state) is _VIEW_TEXTS(state)
    made = len(_VIEW_TEXTS._known)
    TaskPage.json_of([state, state], 2, True)
    assert len(_VIEW_TEXTS._known) == made  # read again: nothing made
    TaskPage.json_of([_state()], 1, True)  # another state object: its text made afresh
    assert len(_VIEW_TEXTS._known) == made + 1


async def _head_may_submit() -> Enforcer:
    enforcer = Enforcer(str(MODEL_PATH))
    await enforcer.add_policies([["agency_head", "lead", "*", "task.read"],
                                 ["agency_head", "lead", "in_progress", "evidence.submit"]])
    await give_roles(enforcer, "hni.head", ["agency_head"])
    await give_roles(enforcer, "btc.head", ["agency_head"])
    return enforcer


HEAD = Actor(username="hni.head", agency="HNI", roles=["agency_head"])


async def test_an_inbox_item_is_made_once_per_state_and_person() -> None:
    enforcer, state = await _head_may_submit(), _state()
    item = inbox_item(enforcer, HEAD, state)
    assert item is not None and item[0].to_do == ["evidence.submit"]
    assert inbox_item(enforcer, HEAD, state) is item
    assert inbox_item(enforcer, HEAD, _state()) is not item  # another state object: made afresh
    # Another person, of the coordinating agency, with the same role: their own (and here none to read).
    assert inbox_item(enforcer, Actor(username="btc.head", agency="BTC", roles=["agency_head"]), state) is None


async def test_an_inbox_item_is_made_again_once_the_policy_changes() -> None:
    enforcer, state = await _head_may_submit(), _state()
    assert inbox_item(enforcer, HEAD, state) is not None
    await enforcer.remove_policy("agency_head", "lead", "in_progress", "evidence.submit")
    item = inbox_item(enforcer, HEAD, state)
    assert item is not None and item[0].actions == [] and item[0].to_do == []
    await enforcer.remove_policy("agency_head", "lead", "*", "task.read")
    assert inbox_item(enforcer, HEAD, state) is None
