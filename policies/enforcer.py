"""The Casbin enforcer, its policy kept in the database through the SQLAlchemy adapter so an
administrator can change it without a deploy. The files beside this module are the default.

An account stands in the role links (`g`) as `user:<username>`, never as its bare name: Casbin's
role links are transitive, so an account named like a role (`steering_office`) would otherwise hand
its own roles to everyone who holds that role. Only this module names accounts to Casbin."""

import ast
import asyncio
import contextlib
import csv
import logging
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, TypeVar, cast

import casbin
from casbin.util.expression import SimpleEval
from casbin_async_sqlalchemy_adapter import Adapter
from sqlalchemy import delete, exists, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from db.models import CasbinRule, PolicySeed, PolicyVersion, User

T = TypeVar("T")

# What a policy line may name besides the lifecycle's actions (domain.lifecycle.ACTIONS).
OTHER_ACTIONS = ("task.read", "evidence.read", "task.create", "task.import", "agency.create", "agency.update",
                 "user.create", "policy.read", "policy.change", "audit.verify", "ranking.publish")

MODEL_PATH = Path(__file__).with_name("model.conf")
DEFAULT_POLICY_PATH = Path(__file__).with_name("policy.csv")
log = logging.getLogger("nq57.policy")
ACCOUNT = "user:"  # usernames cannot hold ":" (services/views.py), role names never start with it


def subject(username: str) -> str:
    """How an account is named to Casbin."""
    return ACCOUNT + username


def default_policy_lines(path: Path = DEFAULT_POLICY_PATH) -> list[list[str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = csv.reader(line for line in lines if line.strip() and not line.lstrip().startswith("#"))
    return [[field.strip() for field in row] for row in rows]


class Enforcer(casbin.AsyncEnforcer):  # type: ignore[misc]  # pycasbin ships no type hints
    """pycasbin parses the model's matcher with `ast.parse` on every `enforce` (a list of tasks asks
    dozens of times). Parsed once here and kept: faster, and off CPython 3.11's AST converter, whose
    recursion counter two threads can trip at once (gh-106905: "AST constructor recursion depth
    mismatch", seen as a 500 while the in-process worker ran)."""

    @staticmethod
    def _get_expression(expr: str, functions: dict[str, Any] | None = None) -> SimpleEval:
        evaluator = SimpleEval("", functions)
        evaluator.expr, evaluator.ast_parsed_value = _matcher(expr)
        return evaluator

    # Decisions are remembered: the matcher walks every policy line (about 1 ms), and an inbox or a
    # list asks the same few questions hundreds of times. Every change of the policy or of anyone's
    # roles goes through the methods below (pycasbin's funnels), which forget them all.
    DECISIONS_KEPT = 100_000

    def enforce(self, *rvals: Any) -> bool:
        decisions: dict[tuple[Any, ...], bool] = self.__dict__.setdefault("_decisions", {})
        found = decisions.get(rvals)
        if found is None:
            if len(decisions) >= self.DECISIONS_KEPT:
                decisions.clear()
            found = decisions[rvals] = bool(super().enforce(*rvals))
        return found

    # What is built from the policy, kept beside the decisions and forgotten with them, per kind: the
    # queries of what a person reads and what awaits them (about 1 and 3 ms to build, at every list and
    # inbox; some KiB each), the actions a relation may take at a stage (an inbox asks it per task),
    # each person's inbox items (services/reports.py; each keeps its task's state, some KiB), and each
    # person's last inbox answer (its states and its text: up to about 250 KB for 200 tasks).
    KEPT = {"query": 500, "actions": 100_000, "inbox": 2048, "answers": 64}

    def remembered(self, kind: str, key: tuple[Any, ...], build: Callable[[], T]) -> T:
        built: dict[tuple[Any, ...], Any] = self.__dict__.setdefault("_built", {}).setdefault(kind, {})
        if key not in built:
            if len(built) >= self.KEPT[kind]:
                built.clear()
            built[key] = build()
        return cast(T, built[key])

    def forget_decisions(self) -> None:
        self.__dict__["_decisions"] = {}
        self.__dict__["_built"] = {}

    async def load_policy(self) -> None:
        self.forget_decisions()
        await super().load_policy()
        self.forget_decisions()  # a question asked while the policy was being read

    def clear_policy(self) -> None:
        self.forget_decisions()
        super().clear_policy()

    # --- one policy for every process (issue 15) ------------------------------------------------
    # Each change stored moves the database's policy version on (`_forgetting`); every process
    # reloads the policy when it sees the version move (`catch_up`, every FOLLOW_EVERY seconds).
    engine: AsyncEngine | None = None
    version = 0  # the database's policy version this process's policy was read at

    async def _moved_on(self) -> None:
        if self.engine is not None:
            async with self.engine.begin() as connection:
                await connection.execute(update(PolicyVersion).where(PolicyVersion.id == ONLY_ROW)
                                         .values(version=PolicyVersion.version + 1))

    @contextlib.asynccontextmanager
    async def alone(self) -> Any:
        """One change or reading again of the policy at a time in this process: a reading of the
        stored rules that began before a change was stored would otherwise put back, once read, what
        the change took away. A change made within one (a funnel calling another) goes on."""
        me = asyncio.current_task()
        if self.__dict__.get("_changing_in") is me:
            yield
            return
        async with self.__dict__.setdefault("_changing", asyncio.Lock()):
            self.__dict__["_changing_in"] = me
            try:
                yield
            finally:
                self.__dict__["_changing_in"] = None

    async def catch_up(self) -> bool:
        """The policy read again if it changed since this process read it (in another process, or
        here); whether it was."""
        if self.engine is None:
            return False
        async with self.alone():
            stored = await _stored_version(self.engine)
            if stored == self.version:
                return False
            await self.load_policy()
            self.version = stored
        return True

    async def follow(self) -> None:
        """`catch_up` every FOLLOW_EVERY seconds, as long as the process runs (a database that does
        not answer is tried again, and said once)."""
        failing = False
        while True:
            await asyncio.sleep(FOLLOW_EVERY)
            try:
                if await self.catch_up():
                    log.info("Chính sách đã thay đổi: đã nạp lại (phiên bản %d)", self.version)
                failing = False
            except Exception as error:  # noqa: BLE001 (kept following: the next try may answer)
                if not failing:
                    log.warning("Không đọc được phiên bản chính sách, sẽ thử lại: %s", error)
                failing = True


FOLLOW_EVERY = 0.5  # seconds: a change reaches every process within a second
ONLY_ROW = 1


async def _stored_version(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(select(PolicyVersion.version).where(PolicyVersion.id == ONLY_ROW)) or 0)


def _forgetting(name: str) -> Any:
    """pycasbin's funnel `name`, forgetting the remembered decisions before it changes the policy."""
    async def changed(self: Enforcer, *args: Any) -> Any:
        async with self.alone():
            self.forget_decisions()
            try:
                return await getattr(super(Enforcer, self), name)(*args)
            finally:
                self.forget_decisions()  # a question asked while the change was being stored
                await self._moved_on()  # the others read it again
    changed.__name__ = name
    return changed


for _funnel in ("_add_policy", "_add_policies", "_update_policy", "_update_policies", "_update_filtered_policies",
                "_remove_policy", "_remove_policies", "_remove_filtered_policy",
                "_remove_filtered_policy_returns_effects"):
    setattr(Enforcer, _funnel, _forgetting(_funnel))


def _forgetting_after(name: str) -> Any:
    """pycasbin's change of roles `name`: it links the roles anew only after its funnel has stored the
    change (and awaited the version's move on), so what was decided meanwhile is forgotten once more."""
    async def changed(self: Enforcer, *args: Any, **kwargs: Any) -> Any:
        try:
            return await getattr(super(Enforcer, self), name)(*args, **kwargs)
        finally:
            self.forget_decisions()
    changed.__name__ = name
    return changed


for _roles_change in ("add_named_grouping_policy", "add_named_grouping_policies", "remove_named_grouping_policy",
                      "remove_named_grouping_policies", "remove_filtered_named_grouping_policy"):
    setattr(Enforcer, _roles_change, _forgetting_after(_roles_change))


@cache
def _matcher(expr: str) -> tuple[str, Any]:
    """The matcher as pycasbin rewrites it (`&&`, `||`, `!` as Python), and its parsed expression
    (read only by the evaluator, so one parse serves every call)."""
    python = re.sub(r"!(?!=)", "not ", expr.replace("&&", "and").replace("||", "or")).strip()
    return python, ast.parse(python).body[0].value  # type: ignore[attr-defined]


async def load_enforcer(engine: AsyncEngine) -> Enforcer:
    await _name_accounts_apart(engine)
    enforcer = Enforcer(str(MODEL_PATH), Adapter(engine, db_class=CasbinRule))
    enforcer.engine = engine
    enforcer.version = await _stored_version(engine)  # before reading: a change made meanwhile is caught up
    await enforcer.load_policy()
    await _offer_defaults(enforcer, engine)
    return enforcer


def _names(rule: list[str]) -> set[str]:
    """What a policy line (role, relation, stage, action) names that a release may add."""
    return {f"relation:{rule[1]}", f"action:{rule[3]}"}


async def _offer_defaults(enforcer: casbin.AsyncEnforcer, engine: AsyncEngine) -> None:
    """A new policy is the default. A stored one gets, once, the default lines of an action or a
    relation added since it was stored (a new feature is not locked for everyone), and never again:
    what an administrator removed stays removed. Each name offered is remembered (`policy_seeds`)."""
    async with AsyncSession(engine) as session:
        offered = set(await session.scalars(select(PolicySeed.name)))
    stored = list(enforcer.get_policy())  # a copy: pycasbin hands out its own list, which add_policies grows
    known = offered | {name for rule in stored for name in _names(rule)}
    defaults = [row[1:] for row in default_policy_lines() if row[0] == "p"]
    new = [rule for rule in defaults if not stored or not _names(rule) <= known]
    new = [rule for rule in new if rule not in stored]
    if new:
        await enforcer.add_policies(new)
        if stored:  # an upgrade: say exactly what was added; a new policy is simply the default
            log.info("Chính sách: thêm %d dòng mặc định mới: %s", len(new), "; ".join(", ".join(r) for r in new))
    remember = ({name for rule in defaults for name in _names(rule)} | known) - offered
    if remember:
        async with AsyncSession(engine) as session:
            session.add_all(PolicySeed(name=name) for name in remember)
            with contextlib.suppress(IntegrityError):  # another process starting at once remembered them
                await session.commit()


async def _name_accounts_apart(engine: AsyncEngine) -> None:
    """Role links written before accounts had a name of their own (`admin -> admin`) move to
    `user:<username>`, before the policy is loaded: in one transaction (all or nothing), idempotent
    (a renamed link names no account), and safe when two processes start at once (the second finds
    nothing left to rename). A link already there under the new name is not written twice."""
    old, new = CasbinRule.__table__, CasbinRule.__table__.alias("new")
    accounts = select(User.username)
    renamed = literal(ACCOUNT) + old.c.v0
    async with engine.begin() as connection:
        await connection.execute(delete(old).where(
            old.c.ptype == "g", old.c.v0.in_(accounts),
            exists().where(new.c.ptype == "g", new.c.v0 == renamed, new.c.v1 == old.c.v1)))
        await connection.execute(update(old).where(old.c.ptype == "g", old.c.v0.in_(accounts)).values(v0=renamed))


async def roles_of(enforcer: casbin.AsyncEnforcer, username: str) -> list[str]:
    return list(await enforcer.get_roles_for_user(subject(username)))


async def give_roles(enforcer: casbin.AsyncEnforcer, username: str, roles: list[str]) -> None:
    await enforcer.add_grouping_policies([[subject(username), role] for role in dict.fromkeys(roles)])


async def take_roles(enforcer: casbin.AsyncEnforcer, username: str) -> None:
    await enforcer.delete_roles_for_user(subject(username))


async def holders(enforcer: casbin.AsyncEnforcer, role: str) -> list[str]:
    """The usernames of the accounts that hold the role."""
    return [name.removeprefix(ACCOUNT) for name in await enforcer.get_users_for_role(role)
            if name.startswith(ACCOUNT)]


def permits(enforcer: casbin.AsyncEnforcer, username: str, relation: str, stage: str, action: str) -> bool:
    """The bare Casbin question. Only services/authorization.py asks it (with the person's relation)."""
    return bool(enforcer.enforce(subject(username), relation, stage, action))

