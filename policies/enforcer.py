"""The Casbin enforcer, its policy kept in the database through the SQLAlchemy adapter so an
administrator can change it without a deploy. The files beside this module are the default."""

import csv
from pathlib import Path

import casbin
from casbin_async_sqlalchemy_adapter import Adapter
from sqlalchemy.ext.asyncio import AsyncEngine

from db.models import CasbinRule

# What a policy line may name besides the lifecycle's actions (domain.lifecycle.ACTIONS).
OTHER_ACTIONS = ("task.read", "evidence.read", "task.create", "task.import", "agency.create", "user.create",
                 "policy.read", "policy.change", "audit.verify", "ranking.publish")

MODEL_PATH = Path(__file__).with_name("model.conf")
DEFAULT_POLICY_PATH = Path(__file__).with_name("policy.csv")


def default_policy_lines(path: Path = DEFAULT_POLICY_PATH) -> list[list[str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = csv.reader(line for line in lines if line.strip() and not line.lstrip().startswith("#"))
    return [[field.strip() for field in row] for row in rows]


async def load_enforcer(engine: AsyncEngine) -> casbin.AsyncEnforcer:
    enforcer = casbin.AsyncEnforcer(str(MODEL_PATH), Adapter(engine, db_class=CasbinRule))
    await enforcer.load_policy()
    if not enforcer.get_policy():
        rules = [row[1:] for row in default_policy_lines() if row[0] == "p"]
        await enforcer.add_policies(rules)
    return enforcer


def permits(enforcer: casbin.AsyncEnforcer, username: str, relation: str, stage: str, action: str) -> bool:
    """The bare Casbin question. Only services/authorization.py asks it (with the person's relation)."""
    return bool(enforcer.enforce(username, relation, stage, action))

