"""Alembic's environment: migrations run on the connection `db.session.create_schema` hands over,
inside its transaction (the services upgrade the schema as they start); `make migration` writes the
next revision from the models (db/revision.py)."""

from typing import Any

from alembic import context
from sqlalchemy import Column, Index

from db.models import Base
from db.session import migrated

connection = context.config.attributes["connection"]
dialect = connection.dialect.name


def _unread(index: Index) -> bool:
    """An index a comparison on this database cannot weigh: one made for the other database only
    (`ddl_if`), or on SQLite one with a descending column (Alembic cannot read it back)."""
    condition = index._ddl_if  # noqa: SLF001 (how SQLAlchemy keeps it)
    other = condition is not None and condition.dialect not in (None, dialect)
    return other or (dialect == "sqlite" and any(not isinstance(part, Column) for part in index.expressions))


UNREAD = {index.name for table in Base.metadata.tables.values() for index in table.indexes if _unread(index)}


def compared(_object: Any, name: str | None, kind: str, _reflected: bool, _compare_to: Any) -> bool:
    return not (kind == "index" and name in UNREAD)


context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                  compare_type=True, include_name=migrated, include_object=compared)
with context.begin_transaction():
    context.run_migrations()
