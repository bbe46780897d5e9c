"""The Casbin policy as data an administrator reads and changes, without a deploy."""

from casbin import AsyncEnforcer
from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from domain.actors import Actor, Relation, Role
from domain.lifecycle import ACTIONS
from domain.refusals import Code, Refusal, invalid
from domain.stages import Stage
from policies.enforcer import OTHER_ACTIONS
from services import authorization
from services.context import Context

# What each field of a policy line may name (`*`: any role, relation or stage).
_ALLOWED: dict[str, list[str]] = {"role": ["*", *Role], "relation": ["*", *Relation], "stage": ["*", *Stage],
                                  "action": [*ACTIONS, *OTHER_ACTIONS]}


class PolicyRule(BaseModel):
    """One line `p, role, relation, stage, action`; `*` stands for any role, relation or stage."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
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


def matrix(ctx: Context, actor: Actor) -> dict[str, dict[str, list[str]]]:
    """The policy as action → role → where (the relation, and the stage when it is not any)."""
    found: dict[str, dict[str, list[str]]] = {}
    for rule in rules(ctx, actor):
        found.setdefault(rule.action, {}).setdefault(rule.role, []).append(
            rule.relation if rule.stage == "*" else f"{rule.relation} @ {rule.stage}")
    return found


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
    remaining = [line for line in ctx.enforcer.get_policy() if line != rule.line()]
    if not _someone_may_change(ctx.enforcer, remaining):
        raise Refusal(Code.LAST_POLICY_EDITOR)
    await ctx.enforcer.remove_policy(*rule.line())


def _someone_may_change(enforcer: AsyncEnforcer, remaining: list[list[str]]) -> bool:
    """Whether the rules still let at least one existing person edit the policy."""
    holders = {role for _user, role, *_ in enforcer.get_grouping_policy()}
    return any(action == "policy.change" and relation in (Relation.NONE, "*") and (role == "*" or role in holders)
               for role, relation, _stage, action in remaining)
