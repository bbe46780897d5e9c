"""The Casbin policy as data an administrator reads and changes, without a deploy: rule by rule
(the JSON API), or as the role × action matrix, edited whole and previewed before it is saved (the
administrator's page): who gains or loses what, and the people who hold each role."""

from collections.abc import Iterable

from casbin import AsyncEnforcer
from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from domain.actors import Actor, Relation, Role
from domain.lifecycle import ACTIONS
from domain.refusals import Code, Refusal, invalid
from domain.stages import Stage
from policies.enforcer import OTHER_ACTIONS, holders
from services import authorization, people
from services.context import Context

# What each field of a policy line may name (`*`: any role, relation or stage).
_ALLOWED: dict[str, list[str]] = {"role": ["*", *Role], "relation": ["*", *Relation], "stage": ["*", *Stage],
                                  "action": [*ACTIONS, *OTHER_ACTIONS]}


class PolicyRule(BaseModel):
    """One line `p, role, relation, stage, action`; `*` stands for any role, relation or stage."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)  # frozen: in sets
    role: str
    relation: str
    stage: str
    action: str

    @field_validator("role", "relation", "stage", "action")
    @classmethod
    def _known(cls, value: str, info: ValidationInfo) -> str:
        allowed = _ALLOWED[info.field_name or ""]
        if value not in allowed:
            raise invalid(Code.NOT_ONE_OF, allowed=", ".join(allowed))
        return value

    def line(self) -> list[str]:
        return [self.role, self.relation, self.stage, self.action]


def rules(ctx: Context, actor: Actor) -> list[PolicyRule]:
    authorization.require(ctx.enforcer, actor, "policy.read")
    return [PolicyRule(role=r[0], relation=r[1], stage=r[2], action=r[3]) for r in ctx.enforcer.get_policy()]


class MatrixRow(BaseModel):
    """One row of the matrix: an action where it applies (the relation to the task, and the stage),
    and the roles (`*`: anyone) the policy lets take it there."""

    action: str
    relation: str
    stage: str
    roles: list[str]


# The matrix's columns (`*`, anyone, last) and the order of its rows: the lifecycle's actions first.
COLUMNS: list[str] = [*Role, "*"]
POLICY_ACTIONS: list[str] = _ALLOWED["action"]
_ORDER = {field: {name: place for place, name in enumerate(names)} for field, names in _ALLOWED.items()}


def _place(rule: PolicyRule) -> tuple[int, ...]:
    """Where a rule sorts: by action, relation, stage, role (a name a release no longer knows, last)."""
    return tuple(_ORDER[field].get(getattr(rule, field), len(_ORDER[field]))
                 for field in ("action", "relation", "stage", "role"))


def rows(found: Iterable[PolicyRule]) -> list[MatrixRow]:
    """The rules as the matrix's rows: one per action, relation and stage that some rule names."""
    grouped: dict[tuple[str, str, str], set[str]] = {}
    for rule in sorted(found, key=_place):
        grouped.setdefault((rule.action, rule.relation, rule.stage), set()).add(rule.role)
    return [MatrixRow(action=action, relation=relation, stage=stage,
                      roles=[role for role in COLUMNS if role in grouped[(action, relation, stage)]])
            for action, relation, stage in grouped]


def matrix(ctx: Context, actor: Actor) -> list[MatrixRow]:
    return rows(rules(ctx, actor))


async def add_rule(ctx: Context, actor: Actor, rule: PolicyRule) -> PolicyRule:
    authorization.require(ctx.enforcer, actor, "policy.change")
    if not await ctx.enforcer.add_policy(*rule.line()):
        raise Refusal(Code.RULE_EXISTS)
    return rule


async def remove_rule(ctx: Context, actor: Actor, rule: PolicyRule) -> None:
    """The last rule that lets someone change the policy cannot go."""
    authorization.require(ctx.enforcer, actor, "policy.change")
    if rule.line() not in ctx.enforcer.get_policy():
        raise Refusal(Code.RULE_NOT_FOUND)
    _require_an_editor(ctx.enforcer, [line for line in ctx.enforcer.get_policy() if line != rule.line()])
    await ctx.enforcer.remove_policy(*rule.line())


def _someone_may_change(enforcer: AsyncEnforcer, remaining: list[list[str]]) -> bool:
    """Whether the rules still let at least one existing person edit the policy."""
    holders = {role for _user, role, *_ in enforcer.get_grouping_policy()}
    return any(action == "policy.change" and relation in (Relation.NONE, "*") and (role == "*" or role in holders)
               for role, relation, _stage, action in remaining)


# --- the matrix edited whole: what it changes, for whom, and saving it -----------------------------


class RuleChange(BaseModel):
    """A rule the edit adds (`gained`: the role gains the action there) or removes."""

    rule: PolicyRule
    gained: bool


class ChangePreview(RuleChange):
    """A change, and the people it concerns: the full names of the role's holders, or `everyone`
    when the rule names any role (`*`)."""

    people: list[str]
    everyone: bool


def diff(was: Iterable[PolicyRule], now: Iterable[PolicyRule]) -> list[RuleChange]:
    """What turning the matrix from `was` into `now` changes, in the matrix's order. Only the edit's
    own changes: a rule someone else added or removed meanwhile is neither in `was` nor undone."""
    before, after = set(was), set(now)
    changes = [RuleChange(rule=rule, gained=True) for rule in after - before]
    changes += [RuleChange(rule=rule, gained=False) for rule in before - after]
    return sorted(changes, key=lambda change: (_place(change.rule), change.gained))


async def preview(ctx: Context, actor: Actor, changes: list[RuleChange]) -> list[ChangePreview]:
    """The changes with whom they concern. Refused, as saving them would be, when they would leave
    nobody able to change the policy: nothing is shown that cannot be saved."""
    authorization.require(ctx.enforcer, actor, "policy.change")
    _require_an_editor(ctx.enforcer, _after(ctx.enforcer, changes))
    names: dict[str, list[str]] = {}
    for role in {change.rule.role for change in changes} - {"*"}:
        found = await people.full_names(ctx, await holders(ctx.enforcer, role))
        names[role] = sorted(found.values())
    return [ChangePreview(**dict(change), people=names.get(change.rule.role, []), everyone=change.rule.role == "*")
            for change in changes]


async def apply(ctx: Context, actor: Actor, changes: list[RuleChange]) -> None:
    """Saves the changes, the gained rules first: an edit that hands changing the policy to another
    role and takes it from this one is checked as a whole, never stopped half-way. A change already
    made (by someone else, meanwhile) is skipped."""
    authorization.require(ctx.enforcer, actor, "policy.change")
    _require_an_editor(ctx.enforcer, _after(ctx.enforcer, changes))
    current = {tuple(line) for line in ctx.enforcer.get_policy()}
    for change in (c for c in changes if c.gained and tuple(c.rule.line()) not in current):
        await add_rule(ctx, actor, change.rule)
    for change in (c for c in changes if not c.gained and tuple(c.rule.line()) in current):
        await remove_rule(ctx, actor, change.rule)


def _after(enforcer: AsyncEnforcer, changes: list[RuleChange]) -> list[list[str]]:
    """The policy's lines as they would be with the changes."""
    gained = [change.rule.line() for change in changes if change.gained]
    lost = [change.rule.line() for change in changes if not change.gained]
    current = [list(line) for line in enforcer.get_policy()]
    return [line for line in current + [line for line in gained if line not in current] if line not in lost]


def _require_an_editor(enforcer: AsyncEnforcer, remaining: list[list[str]]) -> None:
    if not _someone_may_change(enforcer, remaining):
        raise Refusal(Code.LAST_POLICY_EDITOR)
