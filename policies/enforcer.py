"""The Casbin enforcer, its policy kept in the database through the SQLAlchemy adapter so an
administrator can change it without a deploy. The files beside this module are the default.

An account stands in the role links (`g`) as `user:<username>`, never as its bare name: Casbin's
role links are transitive, so an account named like a role (`steering_office`) would otherwise hand
its own roles to everyone who holds that role. Only this module names accounts to Casbin."""

import csv
from pathlib import Path

import casbin
from casbin_async_sqlalchemy_adapter import Adapter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from db.models import CasbinRule, User

# What a policy line may name besides the lifecycle's actions (domain.lifecycle.ACTIONS).
OTHER_ACTIONS = ("task.read", "evidence.read", "task.create", "task.import", "agency.create", "user.create",
                 "policy.read", "policy.change", "audit.verify", "ranking.publish")

MODEL_PATH = Path(__file__).with_name("model.conf")
DEFAULT_POLICY_PATH = Path(__file__).with_name("policy.csv")
ACCOUNT = "user:"  # usernames cannot hold ":" (services/views.py), role names never start with it


def subject(username: str) -> str:
    """How an account is named to Casbin."""
    return ACCOUNT + username


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
    await _name_accounts_apart(enforcer, engine)
    return enforcer


async def _name_accounts_apart(enforcer: casbin.AsyncEnforcer, engine: AsyncEngine) -> None:
    """Role links written before accounts had a name of their own (`admin -> admin`) are renamed
    once: an account's links move to `user:<username>`; a role-to-role link stays as it is."""
    async with AsyncSession(engine) as session:
        accounts = set(await session.scalars(select(User.username)))
    old = [rule for rule in enforcer.get_grouping_policy() if rule[0] in accounts]
    if old:
        await enforcer.remove_grouping_policies(old)
        await enforcer.add_grouping_policies([[subject(account), *rest] for account, *rest in old])


async def roles_of(enforcer: casbin.AsyncEnforcer, username: str) -> list[str]:
    return list(await enforcer.get_roles_for_user(subject(username)))


async def give_roles(enforcer: casbin.AsyncEnforcer, username: str, roles: list[str]) -> None:
    await enforcer.add_grouping_policies([[subject(username), role] for role in roles])


async def take_roles(enforcer: casbin.AsyncEnforcer, username: str) -> None:
    await enforcer.delete_roles_for_user(subject(username))


async def holders(enforcer: casbin.AsyncEnforcer, role: str) -> list[str]:
    """The usernames of the accounts that hold the role."""
    return [name.removeprefix(ACCOUNT) for name in await enforcer.get_users_for_role(role)
            if name.startswith(ACCOUNT)]


def permits(enforcer: casbin.AsyncEnforcer, username: str, relation: str, stage: str, action: str) -> bool:
    """The bare Casbin question. Only services/authorization.py asks it (with the person's relation)."""
    return bool(enforcer.enforce(subject(username), relation, stage, action))

