"""The Casbin policy as data an administrator reads and changes, without a deploy."""

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from api.deps import ContextDep, allowed
from api.errors import responses
from domain.actors import Actor
from services import policy
from services.policy import PolicyRule

router = APIRouter(prefix="/api/v1/policy", tags=["administration"])
Editor = Annotated[Actor, Depends(allowed("policy.change"))]


@router.get("", responses=responses(401, 403))
async def read_policy(actor: Annotated[Actor, Depends(allowed("policy.read"))], ctx: ContextDep) -> list[PolicyRule]:
    return policy.rules(ctx, actor)


@router.post("/rules", status_code=status.HTTP_201_CREATED,
             responses=responses(401, 403, 409, 413, 422, notes={409: "The rule is already in the policy."}))
async def add_rule(rule: PolicyRule, actor: Editor, ctx: ContextDep) -> PolicyRule:
    return await policy.add_rule(ctx, actor, rule)


@router.post("/rules/delete", status_code=status.HTTP_204_NO_CONTENT, responses=responses(
    401, 403, 404, 409, 413, 422, notes={404: "The rule is not in the policy.",
                                         409: "Nobody could change the policy any more without it."}))
async def remove_rule(rule: PolicyRule, actor: Editor, ctx: ContextDep) -> Response:
    await policy.remove_rule(ctx, actor, rule)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
