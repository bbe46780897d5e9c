"""The Casbin policy as data an administrator reads and changes, without a deploy."""

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status
from pydantic import BaseModel, ConfigDict, field_validator

from api.deps import EnforcerDep, require
from api.errors import ApiError, responses
from domain.actors import Actor, Relation, Role
from domain.lifecycle import ACTIONS
from domain.stages import Stage
from policies.enforcer import OTHER_ACTIONS

router = APIRouter(prefix="/api/v1/policy", tags=["administration"])


class PolicyRule(BaseModel):
    """One line `p, role, relation, stage, action`; `*` stands for any role, relation or stage."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    role: str
    relation: str
    stage: str
    action: str

    @field_validator("role")
    @classmethod
    def _role(cls, value: str) -> str:
        return _one_of(value, ["*", *Role])

    @field_validator("relation")
    @classmethod
    def _relation(cls, value: str) -> str:
        return _one_of(value, ["*", *Relation])

    @field_validator("stage")
    @classmethod
    def _stage(cls, value: str) -> str:
        return _one_of(value, ["*", *Stage])

    @field_validator("action")
    @classmethod
    def _action(cls, value: str) -> str:
        return _one_of(value, [*ACTIONS, *OTHER_ACTIONS])

    def line(self) -> list[str]:
        return [self.role, self.relation, self.stage, self.action]


def _one_of(value: str, allowed: list[str]) -> str:
    if value not in allowed:
        raise ValueError("phải là một trong: " + ", ".join(allowed))
    return value


@router.get("", responses=responses(401, 403))
async def read_policy(enforcer: EnforcerDep, _: Annotated[Actor, Depends(require("policy.read"))]
                      ) -> list[PolicyRule]:
    return [PolicyRule(role=r[0], relation=r[1], stage=r[2], action=r[3]) for r in enforcer.get_policy()]


@router.post("/rules", status_code=status.HTTP_201_CREATED,
             responses=responses(401, 403, 409, 413, 422, notes={409: "The rule is already in the policy."}))
async def add_rule(rule: PolicyRule, enforcer: EnforcerDep,
                   _: Annotated[Actor, Depends(require("policy.change"))]) -> PolicyRule:
    if not await enforcer.add_policy(*rule.line()):
        raise ApiError(409, "Quy tắc này đã có trong chính sách")
    return rule


@router.post("/rules/delete", status_code=status.HTTP_204_NO_CONTENT, responses=responses(
    401, 403, 404, 409, 413, 422, notes={404: "The rule is not in the policy.",
                                         409: "Nobody could change the policy any more without it."}))
async def remove_rule(rule: PolicyRule, enforcer: EnforcerDep,
                      _: Annotated[Actor, Depends(require("policy.change"))]) -> Response:
    if rule.line() not in enforcer.get_policy():
        raise ApiError(404, "Không tìm thấy quy tắc này trong chính sách")
    remaining = [line for line in enforcer.get_policy() if line != rule.line()]
    if not _someone_may_change(enforcer, remaining):
        raise ApiError(409, "Không thể xóa quy tắc này: sau đó không còn ai có quyền sửa chính sách "
                            "(policy.change)", code="last_policy_editor")
    await enforcer.remove_policy(*rule.line())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _someone_may_change(enforcer: EnforcerDep, rules: list[list[str]]) -> bool:
    """Whether the rules still let at least one existing person edit the policy."""
    holders = {role for _user, role, *_ in enforcer.get_grouping_policy()}
    return any(action == "policy.change" and relation in (Relation.NONE, "*") and (role == "*" or role in holders)
               for role, relation, _stage, action in rules)
