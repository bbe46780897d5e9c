"""The Casbin policy as data an administrator reads and changes, without a deploy."""

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status
from pydantic import BaseModel, ConfigDict, field_validator

from api.deps import EnforcerDep, require
from api.errors import ApiError
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


@router.get("")
async def read_policy(enforcer: EnforcerDep, _: Annotated[Actor, Depends(require("policy.read"))]
                      ) -> list[PolicyRule]:
    return [PolicyRule(role=r[0], relation=r[1], stage=r[2], action=r[3]) for r in enforcer.get_policy()]


@router.post("/rules", status_code=status.HTTP_201_CREATED)
async def add_rule(rule: PolicyRule, enforcer: EnforcerDep,
                   _: Annotated[Actor, Depends(require("policy.change"))]) -> PolicyRule:
    if not await enforcer.add_policy(*rule.line()):
        raise ApiError(409, "Quy tắc này đã có trong chính sách")
    return rule


@router.post("/rules/delete", status_code=status.HTTP_204_NO_CONTENT)
async def remove_rule(rule: PolicyRule, enforcer: EnforcerDep,
                      _: Annotated[Actor, Depends(require("policy.change"))]) -> Response:
    if not await enforcer.remove_policy(*rule.line()):
        raise ApiError(404, "Không tìm thấy quy tắc này trong chính sách")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
