"""Every cell of role × relation × stage × action, checked against the application layer's one
decision (`services.authorization.decide`): allowed, 403 (the policy says no) or 409 (nobody may
do this at this stage: the stage is checked before the policy).

What each cell should be is read here, independently of the code under test: the policy lines
straight from `policies/policy.csv` (with the model's rule: `*` matches anything, a role matches
its holders), the stages from the design's table of actions (which must be the transition table,
`domain.lifecycle.ACTION_STAGES`). The decision runs on a real Casbin enforcer built from
`policies/model.conf` and the same CSV. Pure: no stack, no database."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import casbin
import pytest

from domain.actors import Actor, Relation, Role
from domain.lifecycle import ACTION_STAGES
from domain.refusals import Code, Refusal
from domain.stages import Stage
from domain.task import TaskSpec, TaskState
from policies.enforcer import DEFAULT_POLICY_PATH, MODEL_PATH, default_policy_lines, subject
from services.authorization import decide
from tests.helpers import PEOPLE as HELPER_PEOPLE

# One person for each role, the first demo person who holds it (tests/helpers.py): they name the
# cells, e.g. `hni.head-lead-assigned-accept`. Their agency is set by the cell's relation.
ROLE_OF: dict[str, str] = {}
for _person, (_agency, _role) in HELPER_PEOPLE.items():
    if _role not in ROLE_OF.values():
        ROLE_OF[_person] = _role
RELATIONS = (Relation.LEAD, Relation.COORDINATING, Relation.ABOVE, Relation.DIRECTING, Relation.REVIEWER,
             Relation.OTHER)
OPEN = {Stage.ASSIGNED, Stage.BUDGET_REGISTRATION, Stage.BUDGET_REVIEW, Stage.IN_PROGRESS, Stage.CROSS_CHECK}

# design.md, the table of actions, column "stage" ("open request": an extension can be pending at
# any open stage; "any open": not completed, not cancelled; "any": every stage).
DESIGN_STAGES: dict[str, set[Stage]] = {
    "accept": {Stage.ASSIGNED},
    "budget.submit": {Stage.BUDGET_REGISTRATION},
    # api.md v1.1, "Results": a finance reviewer decides a budget amendment in execution like a budget
    "budget.approve": {Stage.BUDGET_REVIEW, Stage.IN_PROGRESS},
    "budget.reject": {Stage.BUDGET_REVIEW, Stage.IN_PROGRESS},
    "budget.amend": {Stage.IN_PROGRESS},  # api.md v1.1, "Results": the lead's head, in execution
    "progress.report": {Stage.IN_PROGRESS},
    "extension.request": {Stage.BUDGET_REGISTRATION, Stage.IN_PROGRESS},
    "extension.approve": OPEN,
    "extension.reject": OPEN,
    "evidence.submit": {Stage.IN_PROGRESS},
    "review.assign": {Stage.CROSS_CHECK},
    "review.approve": {Stage.CROSS_CHECK},
    "review.reject": {Stage.CROSS_CHECK},
    "reassign": OPEN,
    "cancel": OPEN,
    "comment": set(Stage),
    "correct": OPEN,  # api.md v1.1, "Corrections": the Standing Office, at any open stage
    "subtask.create": {Stage.IN_PROGRESS},  # api.md v1.1, "Hierarchy": the lead's head, in execution
    "close": OPEN,  # issue 11, "Task kinds": the Standing Office ends a recurring or standing task, any open stage
}

# How each relation is made: the task is led by LEAD with COORD coordinating, directed by DIRECTS, split from a
# task led by ABOVE; the reviewer relation is the assigned reviewer's (the person's own username on the task).
LEAD, COORD, ABOVE, DIRECTS, ELSEWHERE = "LEAD", "COORD", "ABOVE", "DIRECTS", "ELSEWHERE"
_AGENCY_OF = {Relation.LEAD: LEAD, Relation.COORDINATING: COORD, Relation.ABOVE: ABOVE, Relation.DIRECTING: DIRECTS,
              Relation.REVIEWER: ELSEWHERE, Relation.OTHER: ELSEWHERE}
_NOW = datetime(2026, 3, 1, tzinfo=UTC)


def policy_lines(path: Path) -> list[tuple[str, str, str, str]]:
    """The `p` lines of a policy file as (role, relation, stage, action), read as the file reads."""
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        kind, role, relation, stage, action = (part.strip() for part in line.split(","))
        if kind == "p":
            found.append((role, relation, stage, action))
    return found


def policy_allows(lines: Iterable[tuple[str, str, str, str]], role: str, relation: str, stage: str,
                  action: str) -> bool:
    return any(r in ("*", role) and rel in ("*", relation) and s in ("*", stage) and a == action
               for r, rel, s, a in lines)


def enforcer_from(path: Path) -> casbin.Enforcer:
    """A real Casbin enforcer on the model and the given policy file, each person holding their role."""
    enforcer = casbin.Enforcer(str(MODEL_PATH))
    enforcer.add_policies([row[1:] for row in default_policy_lines(path) if row[0] == "p"])
    for person, role in ROLE_OF.items():
        enforcer.add_grouping_policy(subject(person), role)
    return enforcer


@dataclass(frozen=True)
class Cell:
    person: str
    relation: Relation
    stage: Stage
    action: str

    def __str__(self) -> str:
        return f"{self.person}-{self.relation}-{self.stage}-{self.action}"

    @property
    def role(self) -> str:
        return ROLE_OF[self.person]

    @property
    def actor(self) -> Actor:
        return Actor(username=self.person, agency=_AGENCY_OF[self.relation], roles=[self.role])

    @property
    def state(self) -> TaskState:
        spec = TaskSpec(code="MATRIX-1", title="Ô của ma trận", lead_agency=LEAD, coordinating_agencies=[COORD],
                        directing_agency=DIRECTS, deadline="2027-12")
        return TaskState(spec=spec, lead_agency=LEAD, coordinating_agencies=[COORD], stage=self.stage,
                         deadline=_NOW, deadline_text="2027-12", original_deadline=_NOW, created_at=_NOW,
                         updated_at=_NOW, reviewer=self.person if self.relation == Relation.REVIEWER else None,
                         parent="MATRIX-0", overseers=[ABOVE])

    def expected(self, lines: Iterable[tuple[str, str, str, str]]) -> str:
        """'409', '403' or 'allowed', as the design's stages and the policy's lines say."""
        if self.stage not in DESIGN_STAGES[self.action]:
            return "409"
        adds_to_other = self.relation in (Relation.DIRECTING, Relation.ABOVE)
        relations = [self.relation] + ([Relation.OTHER] if adds_to_other else [])
        allowed = any(policy_allows(lines, self.role, relation, self.stage, self.action) for relation in relations)
        return "allowed" if allowed else "403"  # a directing or overseeing agency keeps what any outsider may do


def outcome(enforcer: casbin.Enforcer, cell: Cell) -> str:
    """What the application layer decides for the cell, in the same words."""
    try:
        relation = decide(enforcer, cell.actor, cell.state, cell.action)
    except Refusal as refusal:
        return {Code.STAGE_CONFLICT: "409", Code.FORBIDDEN_ACTION: "403"}.get(refusal.code, refusal.code)
    return "allowed" if relation == cell.relation else f"allowed as {relation}"


CELLS = [Cell(person, relation, stage, action)
         for person in ROLE_OF for relation in RELATIONS for stage in Stage for action in DESIGN_STAGES]
POLICY = policy_lines(DEFAULT_POLICY_PATH)
ENFORCER = enforcer_from(DEFAULT_POLICY_PATH)


def cells(expected: str) -> list[Cell]:
    return [cell for cell in CELLS if cell.expected(POLICY) == expected]


def mismatches(enforcer: casbin.Enforcer, expect: Callable[[Cell], str]) -> dict[str, tuple[str, str]]:
    return {str(cell): (expect(cell), outcome(enforcer, cell)) for cell in CELLS
            if outcome(enforcer, cell) != expect(cell)}


def test_the_transition_table_is_the_designs_table_of_actions() -> None:
    assert {action: set(stages) for action, stages in ACTION_STAGES.items()} == DESIGN_STAGES


def test_the_matrix_has_every_cell_once() -> None:
    assert set(ROLE_OF.values()) == set(Role)
    assert len({str(cell) for cell in CELLS}) == len(ROLE_OF) * len(RELATIONS) * len(Stage) * len(DESIGN_STAGES)
    sizes = {kind: len(cells(kind)) for kind in ("allowed", "403", "409")}
    assert all(sizes.values()) and sum(sizes.values()) == len(CELLS), sizes


@pytest.mark.parametrize("cell", cells("allowed"), ids=str)
def test_allowed(cell: Cell) -> None:
    assert decide(ENFORCER, cell.actor, cell.state, cell.action) == cell.relation


@pytest.mark.parametrize("cell", cells("403"), ids=str)
def test_403_the_policy_refuses(cell: Cell) -> None:
    with pytest.raises(Refusal) as refused:
        decide(ENFORCER, cell.actor, cell.state, cell.action)
    assert refused.value.code == Code.FORBIDDEN_ACTION


@pytest.mark.parametrize("cell", cells("409"), ids=str)
def test_409_the_stage_refuses_before_the_policy(cell: Cell) -> None:
    with pytest.raises(Refusal) as refused:
        decide(ENFORCER, cell.actor, cell.state, cell.action)
    assert refused.value.code == Code.STAGE_CONFLICT


def test_a_changed_policy_line_shows_in_exactly_its_cells(tmp_path: Path) -> None:
    """The matrix can fail: a copy of the policy where the lead's officer, not its head, accepts."""
    changed = tmp_path / "policy.csv"
    changed.write_text(DEFAULT_POLICY_PATH.read_text(encoding="utf-8").replace(
        "p, agency_head, lead, assigned, accept", "p, agency_officer, lead, assigned, accept"), encoding="utf-8")
    assert mismatches(enforcer_from(changed), lambda cell: cell.expected(POLICY)) == {
        "hni.head-lead-assigned-accept": ("allowed", "403"),
        "hni.officer-lead-assigned-accept": ("403", "allowed"),
    }
