"""The database: the projection of the workflows' state, the event log, people and agencies."""

from datetime import UTC, datetime
from typing import Any

from casbin_async_sqlalchemy_adapter import create_casbin_rule_model
from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    desc,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes stored in UTC; SQLite forgets the zone, so it is put back on reading."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON}


class Agency(Base):
    __tablename__ = "agencies"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    name_en: Mapped[str] = mapped_column(String(300), default="")
    kind: Mapped[str] = mapped_column(String(16))
    # The agency this one is a unit of (a ministry's department, a province's commune); None at the top.
    parent: Mapped[str | None] = mapped_column(ForeignKey("agencies.code"), default=None)


class User(Base):
    """Roles are not here: they are Casbin `g` links, the policy's own record. A token carries the
    `token_version` it was issued under; moving the version on (logout, lock, password reset)
    ends every token issued before. A `disabled` account neither logs in nor keeps its tokens."""

    __tablename__ = "users"
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    full_name: Mapped[str] = mapped_column(String(200))
    agency: Mapped[str | None] = mapped_column(ForeignKey("agencies.code"))
    email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime]
    disabled: Mapped[bool] = mapped_column(default=False, server_default=false())
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Task(Base):
    """One row per task: the columns lists filter on, and the workflow's whole state as JSON."""

    __tablename__ = "tasks"
    # The lists' orders and filters (services/tasks.selection): by deadline, within a stage by deadline.
    __table_args__ = (Index("ix_tasks_deadline_code", "deadline", "code"),
                      Index("ix_tasks_stage_deadline", "stage", "deadline"),
                      # Search (services/tasks.matching: words anywhere in the text) is found through
                      # these. SQLite walks the lists' order with the text beside it, never the rows with
                      # their state (a page of a common word stops early; a rare one reads the index
                      # once); PostgreSQL looks the words up by their trigrams (pg_trgm), and counts a
                      # search among every task off a narrow copy of the text (db/word_index.py).
                      Index("ix_tasks_deadline_code_search", "deadline", "code", "search").ddl_if(dialect="sqlite"),
                      Index("ix_tasks_search_trgm", "search", postgresql_using="gin",
                            postgresql_ops={"search": "gin_trgm_ops"}).ddl_if(dialect="postgresql"))
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    lead_agency: Mapped[str] = mapped_column(String(32), index=True)
    stage: Mapped[str] = mapped_column(String(32), index=True)
    deadline: Mapped[datetime] = mapped_column(index=True)
    original_deadline: Mapped[datetime] = mapped_column(index=True)  # the period a task counts in
    overdue: Mapped[bool] = mapped_column(default=False, index=True)
    late: Mapped[bool] = mapped_column(default=False)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    reviewer: Mapped[str | None] = mapped_column(String(64), index=True)
    officer: Mapped[str | None] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    fence: Mapped[int] = mapped_column(Integer, default=0)  # of the recording that wrote this state
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    state: Mapped[dict[str, Any]]
    # A number the database sets anew whenever this row's state is written, by whichever writer
    # (triggers, migration 0007): a state this process read once is known again by it, and its text is
    # not read again (db/states.py `read_kept`).
    version: Mapped[int] = mapped_column(BigInteger, server_default="0")
    # What search compares (domain/text.fold): code, title, product and the lead's and coordinating
    # agencies' names. Empty in rows written before it existed, until their task next moves.
    search: Mapped[str | None] = mapped_column(Text, default=None)
    # When the projection last wrote this row (the recording's clock, not the workflow's): the catch-up
    # after a restart looks only at rows written since the last one began (db/reconcile.py).
    recorded_at: Mapped[datetime | None] = mapped_column(index=True, default=None)


class TaskAgency(Base):
    """Which agencies stand in which relation to a task, for filters and inboxes."""

    __tablename__ = "task_agencies"
    # "the tasks this agency leads (coordinates...)": every person's reads and inbox ask it; and an
    # agency's tasks in the lists' order, by deadline (services/tasks.py `selection`, `agency=`).
    __table_args__ = (Index("ix_task_agencies_agency_relation", "agency", "relation", "task_code"),
                      Index("ix_task_agencies_agency_deadline", "agency", "deadline", "task_code", "relation"))
    task_code: Mapped[str] = mapped_column(ForeignKey("tasks.code", ondelete="CASCADE"), primary_key=True)
    agency: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)
    relation: Mapped[str] = mapped_column(String(16))
    deadline: Mapped[datetime]  # the task's (Task.deadline), kept with it by the recording step


class InboxRow(Base):
    """Who a task waits for: one row per action it awaits now (domain/lifecycle.py `awaiting`) and per
    holder of the task — each agency in its relation (`TaskAgency`), the reviewer, and anyone else
    (`holder` empty, relation `other`) — with the task's urgency, written with the task's row. Whether
    a holder's person may take it is the policy's answer for that relation, asked in SQL
    (services/authorization.py `awaiting_me`): a person's inbox reads, for each step the policy lets
    them take, the most urgent rows of one index range, however many tasks the program holds."""

    __tablename__ = "inbox_rows"
    # The version last: an inbox's range reads the rows' urgency and version off the index alone.
    __table_args__ = (Index("ix_inbox_rows_urgency", "holder", "relation", "stage", "action", desc("overdue"),
                            desc("escalation_level"), "deadline", "task_code", "version"),)
    task_code: Mapped[str] = mapped_column(ForeignKey("tasks.code", ondelete="CASCADE"), primary_key=True)
    action: Mapped[str] = mapped_column(String(48), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64), primary_key=True)  # an agency's code, a username, or ""
    relation: Mapped[str] = mapped_column(String(16))
    stage: Mapped[str] = mapped_column(String(32))  # the task's, as the policy answers by stage
    # The task's urgency (its row's): the inbox's order, most urgent first.
    overdue: Mapped[bool] = mapped_column(default=False)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    deadline: Mapped[datetime]
    # The task's state's version (Task.version), kept by the database whoever writes either (migration
    # 0009): an inbox reads it here, and its tasks' rows only for the states it has not met.
    version: Mapped[int] = mapped_column(BigInteger, server_default="0")


class TaskCount(Base):
    """How many tasks there are: one row, kept by triggers on `tasks` (migration 0006) in the
    transaction that adds or removes one, whoever does (the recording step, a rebuild, the benchmark's
    rows). The unfiltered list's total reads it (services/tasks.py `_total`): counting 100,000 tasks'
    index took 7 ms on PostgreSQL and grew with the program. A migration that makes `tasks` anew
    (SQLite's batch mode) drops the triggers and must make them again."""

    __tablename__ = "task_count"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # 1, the only row
    tasks: Mapped[int] = mapped_column(Integer)


class AgencyTaskCount(Base):
    """How many tasks an agency stands to in a relation: one row per agency and relation, kept by
    triggers on `task_agencies` (migration 0008) in the transaction that writes its rows, whoever
    does. An agency's people's list and a list by agency read their total off it (services/tasks.py
    `_total`): counting an agency's 2,400 rows of 100,000 tasks took 0.6–1.0 ms on PostgreSQL, 0.3–0.4
    at 1,000 tasks. As TaskCount's, its triggers go with a `task_agencies` a migration makes anew."""

    __tablename__ = "agency_task_counts"
    agency: Mapped[str] = mapped_column(String(32), primary_key=True)
    relation: Mapped[str] = mapped_column(String(16), primary_key=True)
    tasks: Mapped[int] = mapped_column(Integer)


class _EventColumns:
    task_code: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(48))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    data: Mapped[dict[str, Any]]
    request_id: Mapped[str | None] = mapped_column(String(200))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    fence: Mapped[int] = mapped_column(Integer, default=0)  # which recording attempt wrote it


class Event(_EventColumns, Base):
    """Hash-chained per task, exactly the events the task's workflow recorded (its `recorded`
    query). Written only by the workflow's recording activities."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("task_code", "seq"),
        Index("ix_events_request", "task_code", "request_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)


class SupersededEvent(_EventColumns, Base):
    """A row written by a recording attempt that never became durable (its workflow task was lost
    in a crash), replaced by what the workflow decided for that seq: kept apart, for the record."""

    __tablename__ = "superseded_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    superseded_at: Mapped[datetime]


class Notification(Base):
    """An in-app notification; one per recipient and event, however often the activity retries."""

    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("username", "task_code", "event_seq"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    task_code: Mapped[str] = mapped_column(String(64))
    event_seq: Mapped[int] = mapped_column(Integer)
    level: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]


class RankingSnapshot(Base):
    """A published agency index: frozen when published, never changed after."""

    __tablename__ = "ranking_snapshots"
    period: Mapped[str] = mapped_column(String(16), primary_key=True)
    published_at: Mapped[datetime]
    published_by: Mapped[str] = mapped_column(String(64))
    rows: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


class Publication(Base):
    """A quarter published ("định kỳ hằng quý công bố, công khai"): status classes per agency, the
    cross-check results and the index, frozen when published (services/publications.py), never
    changed after. The period is the key: a quarter is published once, however many try at once."""

    __tablename__ = "publications"
    period: Mapped[str] = mapped_column(String(16), primary_key=True)
    published_at: Mapped[datetime]
    published_by: Mapped[str] = mapped_column(String(64))
    snapshot: Mapped[dict[str, Any]]


CasbinRule = create_casbin_rule_model(Base)


class CatchUp(Base):
    """A catch-up after a start that went through every task it looked at (db/reconcile.py): when
    it began. Rows a crash may have written out of step with their workflow were written after the
    last one began, so the next looks at those alone."""

    __tablename__ = "catch_ups"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(index=True)
    finished_at: Mapped[datetime]
    tasks: Mapped[int] = mapped_column(Integer)  # how many it looked at
    resynced: Mapped[int] = mapped_column(Integer)  # how many it rewrote from their workflow


class PolicyVersion(Base):
    """How many times the policy (its lines and everyone's roles) has changed, in its one row: every
    process that asks the policy reloads it when this moves (policies/enforcer.py `follow`), so a
    change made through one API process reaches the others within a second."""

    __tablename__ = "policy_version"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # the one row: ONLY_ROW
    version: Mapped[int] = mapped_column(Integer, default=0)


class LoginFailure(Base):
    """A wrong password, counted against its username and against its client address
    (services/login_throttle.py) where every API process counts them; kept for the lockout's span."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_key", "scope", "key", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(8))  # "user" or "client"
    key: Mapped[str] = mapped_column(String(100))
    at: Mapped[float] = mapped_column(index=True)  # seconds since the epoch: one clock for every process


class PublicHits(Base):
    """Requests one client made to the public endpoints in one minute (`minute`: seconds since the
    epoch // 60), added up by every API process (api/rate_limit.py); kept for two minutes."""

    __tablename__ = "public_hits"
    client: Mapped[str] = mapped_column(String(100), primary_key=True)
    minute: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)
    hits: Mapped[int] = mapped_column(Integer)


class LoginLock(Base):
    """A username or a client address locked out until `until` (seconds since the epoch)."""

    __tablename__ = "login_locks"
    scope: Mapped[str] = mapped_column(String(8), primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    until: Mapped[float]


class PolicySeed(Base):
    """An action or relation name (`action:correct`, `relation:directing`) whose default policy lines
    have been offered once (policies/enforcer.py): a line an administrator removed stays removed."""

    __tablename__ = "policy_seeds"
    name: Mapped[str] = mapped_column(String(80), primary_key=True)



class AgencyGroup(Base):
    """A group one directive can be addressed to ("Các Bộ, cơ quan ngang bộ"): reference data."""

    __tablename__ = "agency_groups"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(500))
    members: Mapped[list[str]] = mapped_column(JSON)


class TaskGroup(Base):
    """A directive assigned to a group: one task of its own (a workflow) per member, `<code>-<agency>`.
    What the group's item shows is rolled up from those tasks' projections. `agency_group` is the
    group's code, or "list" (services/tasks.py, LISTED) for a directive to agencies listed by code:
    the list itself is the lead of `spec` ("BTC;BCA;BYT"), however long."""

    __tablename__ = "task_groups"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency_group: Mapped[str] = mapped_column(String(32))
    spec: Mapped[dict[str, Any]]
    children: Mapped[list[str]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]