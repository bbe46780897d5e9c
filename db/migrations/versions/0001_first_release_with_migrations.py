"""The schema of the first release with migrations (2026-12): every table, column and index as it
stood then, frozen here (later revisions change it; `db/models.py` is always the newest).

A database made before migrations (by `create_all` and the start-up bridge that added the columns
and indexes a model had gained, nullable or with a default) is brought to this schema the same way:
what is missing is made, nothing there is touched, and its rows stay as they are. A new database gets
everything.

Revision ID: 0001
Revises:
Create Date: 2026-12-05
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import CreateColumn

from db.models import UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("nq57.db")
METADATA = sa.MetaData()

sa.Table('agencies', METADATA,
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('name_en', sa.String(length=300), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('parent', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['parent'], ['agencies.code'], ),
    sa.PrimaryKeyConstraint('code')
)
sa.Table('agency_groups', METADATA,
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=500), nullable=False),
    sa.Column('members', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('code')
)
sa.Table('casbin_rule', METADATA,
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ptype', sa.String(length=255), nullable=True),
    sa.Column('v0', sa.String(length=255), nullable=True),
    sa.Column('v1', sa.String(length=255), nullable=True),
    sa.Column('v2', sa.String(length=255), nullable=True),
    sa.Column('v3', sa.String(length=255), nullable=True),
    sa.Column('v4', sa.String(length=255), nullable=True),
    sa.Column('v5', sa.String(length=255), nullable=True),
    sa.PrimaryKeyConstraint('id')
)
sa.Table('catch_ups', METADATA,
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('started_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('tasks', sa.Integer(), nullable=False),
    sa.Column('resynced', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
)
sa.Table('events', METADATA,
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('task_code', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=48), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('request_id', sa.String(length=200), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('fence', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('task_code', 'seq')
)
sa.Table('notifications', METADATA,
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('task_code', sa.String(length=64), nullable=False),
    sa.Column('event_seq', sa.Integer(), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('read_at', UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username', 'task_code', 'event_seq')
)
sa.Table('policy_seeds', METADATA,
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.PrimaryKeyConstraint('name')
)
sa.Table('publications', METADATA,
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('published_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('published_by', sa.String(length=64), nullable=False),
    sa.Column('snapshot', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('period')
)
sa.Table('ranking_snapshots', METADATA,
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('published_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('published_by', sa.String(length=64), nullable=False),
    sa.Column('rows', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('period')
)
sa.Table('superseded_events', METADATA,
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('superseded_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('task_code', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=48), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('request_id', sa.String(length=200), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('fence', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
)
sa.Table('task_groups', METADATA,
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('agency_group', sa.String(length=32), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('children', sa.JSON(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('code')
)
sa.Table('tasks', METADATA,
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('lead_agency', sa.String(length=32), nullable=False),
    sa.Column('stage', sa.String(length=32), nullable=False),
    sa.Column('deadline', UTCDateTime(timezone=True), nullable=False),
    sa.Column('original_deadline', UTCDateTime(timezone=True), nullable=False),
    sa.Column('overdue', sa.Boolean(), nullable=False),
    sa.Column('late', sa.Boolean(), nullable=False),
    sa.Column('escalation_level', sa.Integer(), nullable=False),
    sa.Column('reviewer', sa.String(length=64), nullable=True),
    sa.Column('officer', sa.String(length=64), nullable=True),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('fence', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('state', sa.JSON(), nullable=False),
    sa.Column('search', sa.Text(), nullable=True),
    sa.Column('recorded_at', UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('code')
)
sa.Table('inbox_rows', METADATA,
    sa.Column('task_code', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=48), nullable=False),
    sa.Column('holder', sa.String(length=64), nullable=False),
    sa.Column('relation', sa.String(length=16), nullable=False),
    sa.Column('stage', sa.String(length=32), nullable=False),
    sa.Column('overdue', sa.Boolean(), nullable=False),
    sa.Column('escalation_level', sa.Integer(), nullable=False),
    sa.Column('deadline', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['task_code'], ['tasks.code'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('task_code', 'action', 'holder')
)
sa.Table('task_agencies', METADATA,
    sa.Column('task_code', sa.String(length=64), nullable=False),
    sa.Column('agency', sa.String(length=32), nullable=False),
    sa.Column('relation', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['task_code'], ['tasks.code'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('task_code', 'agency')
)
sa.Table('users', METADATA,
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('full_name', sa.String(length=200), nullable=False),
    sa.Column('agency', sa.String(length=32), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('disabled', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('token_version', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['agency'], ['agencies.code'], ),
    sa.PrimaryKeyConstraint('username')
)

TABLES = METADATA.tables


def _index(name: str, table: str, *columns: str, **options: object) -> sa.Index:
    return sa.Index(name, *(TABLES[table].c[column] for column in columns), **options)


_index('ix_catch_ups_started_at', 'catch_ups', 'started_at')
_index('ix_events_request', 'events', 'task_code', 'request_id')
_index('ix_notifications_username', 'notifications', 'username')
_index('ix_tasks_deadline', 'tasks', 'deadline')
_index('ix_tasks_deadline_code', 'tasks', 'deadline', 'code')
_index('ix_tasks_deadline_code_search', 'tasks', 'deadline', 'code', 'search').ddl_if(dialect='sqlite')
_index('ix_tasks_lead_agency', 'tasks', 'lead_agency')
_index('ix_tasks_original_deadline', 'tasks', 'original_deadline')
_index('ix_tasks_overdue', 'tasks', 'overdue')
_index('ix_tasks_recorded_at', 'tasks', 'recorded_at')
_index('ix_tasks_reviewer', 'tasks', 'reviewer')
TRIGRAMS = _index('ix_tasks_search_trgm', 'tasks', 'search', postgresql_using='gin',
                  postgresql_ops={'search': 'gin_trgm_ops'}).ddl_if(dialect='postgresql')
_index('ix_tasks_stage', 'tasks', 'stage')
_index('ix_tasks_stage_deadline', 'tasks', 'stage', 'deadline')
_index('ix_task_agencies_agency', 'task_agencies', 'agency')
_index('ix_task_agencies_agency_relation', 'task_agencies', 'agency', 'relation', 'task_code')
sa.Index('ix_inbox_rows_urgency', *(TABLES['inbox_rows'].c[name] for name in ('holder', 'relation', 'stage', 'action')),
         sa.desc(TABLES['inbox_rows'].c['overdue']), sa.desc(TABLES['inbox_rows'].c['escalation_level']),
         TABLES['inbox_rows'].c['deadline'], TABLES['inbox_rows'].c['task_code'])


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":  # the search's trigram index, by its operator class's full name
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")  # (the extension's schema may be off the path)
        schema = bind.scalar(sa.text("SELECT extnamespace::regnamespace::text FROM pg_extension "
                                     "WHERE extname = 'pg_trgm'"))
        TRIGRAMS.dialect_options["postgresql"]["ops"] = {"search": f"{schema}.gin_trgm_ops"}
    METADATA.create_all(bind)  # the tables missing, with their indexes; the others are left alone
    _add_missing_columns(bind)
    _add_missing_indexes(bind)
    # What the release before made for its inbox and this one reads otherwise (`inbox_rows`).
    op.execute("DROP INDEX IF EXISTS ix_tasks_urgency")
    op.execute("DROP TABLE IF EXISTS work_items")


def downgrade() -> None:
    METADATA.drop_all(op.get_bind())


def _add_missing_columns(bind: sa.Connection) -> None:
    """On a table an older version made: the columns this schema has and it lacks, each one its rows
    can do without (nullable, or with a server default; the only kind earlier versions added)."""
    inspector = sa.inspect(bind)
    preparer = bind.dialect.identifier_preparer
    for table in METADATA.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if not (column.nullable or column.server_default is not None):
                raise RuntimeError(f"cột '{column.name}' thiếu trong bảng '{table.name}' và không thể thêm tự động")
            spec = str(CreateColumn(column).compile(dialect=bind.dialect))
            spec += "".join(f" REFERENCES {preparer.format_table(key.column.table)} ({preparer.quote(key.column.name)})"
                            for key in column.foreign_keys)
            op.execute(f"ALTER TABLE {preparer.format_table(table)} ADD COLUMN {spec}")
            log.info("Đã thêm cột '%s' vào bảng '%s' (cơ sở dữ liệu cũ hơn mã nguồn)", column.name, table.name)


def _add_missing_indexes(bind: sa.Connection) -> None:
    """On a table an older version made: the indexes this schema has and it lacks (one for the other
    database only, `ddl_if`, is left out by `create` itself)."""
    for table in METADATA.sorted_tables:
        present = {index["name"] for index in sa.inspect(bind).get_indexes(table.name)}
        for index in table.indexes:
            if index.name not in present:
                index.create(bind, checkfirst=True)
