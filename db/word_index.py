"""SQLite's index of the words inside a task's search text: an FTS5 trigram index, so that a rare word
(a task's code, a place) is found among 100,000 tasks in a millisecond instead of by reading every
search text. PostgreSQL needs none of this: its trigram index (pg_trgm, db/models.py Task) serves the
search's LIKE itself.

The index follows `tasks.search` by triggers, in the transaction that writes it, whoever writes it
(the recording step, `fill_in`, the benchmark's rows). Its entries are keyed by `task_words.id`, an
INTEGER PRIMARY KEY that VACUUM keeps (the tasks table's own rowid it may renumber).

A common word is better served by walking the list's order until a page is found: `few_codes` asks
the index first and answers the codes only when there are few."""

import logging
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

log = logging.getLogger("nq57.db")

# Below this many matching tasks the codes are looked up; from it, the list walks its order.
FEW = 200

def owns(table: str) -> bool:
    """Whether a table is this index's (its own, and FTS5's behind it), made here, not by migrations."""
    return table == "task_words" or table.startswith("task_words_index")


_TRIGGER = "task_search_added"  # the last one made: when it is there, so is everything
_DROP = ("DROP TRIGGER IF EXISTS task_search_added", "DROP TRIGGER IF EXISTS task_search_changed",
         "DROP TRIGGER IF EXISTS task_search_removed", "DROP TABLE IF EXISTS task_words_index",
         "DROP TABLE IF EXISTS task_words")
_MAKE = (
    "CREATE TABLE task_words (id INTEGER PRIMARY KEY, code TEXT NOT NULL UNIQUE, search TEXT)",
    "CREATE VIRTUAL TABLE task_words_index USING fts5(search, content='task_words', content_rowid='id', "
    "tokenize='trigram')",
    """CREATE TRIGGER task_words_added AFTER INSERT ON task_words BEGIN
         INSERT INTO task_words_index(rowid, search) VALUES (new.id, new.search); END""",
    """CREATE TRIGGER task_words_removed AFTER DELETE ON task_words BEGIN
         INSERT INTO task_words_index(task_words_index, rowid, search) VALUES ('delete', old.id, old.search); END""",
    """CREATE TRIGGER task_words_changed AFTER UPDATE OF search ON task_words BEGIN
         INSERT INTO task_words_index(task_words_index, rowid, search) VALUES ('delete', old.id, old.search);
         INSERT INTO task_words_index(rowid, search) VALUES (new.id, new.search); END""",
    "INSERT INTO task_words (code, search) SELECT code, search FROM tasks",
    """CREATE TRIGGER task_search_changed AFTER UPDATE OF search ON tasks BEGIN
         UPDATE task_words SET search = new.search WHERE code = new.code; END""",
    """CREATE TRIGGER task_search_removed AFTER DELETE ON tasks BEGIN
         DELETE FROM task_words WHERE code = old.code; END""",
    """CREATE TRIGGER task_search_added AFTER INSERT ON tasks BEGIN
         INSERT INTO task_words (code, search) VALUES (new.code, new.search); END""",
)


async def ensure(engine: AsyncEngine) -> None:
    """Made, and filled from the tasks, where it is missing (a new database, one from before it, or a
    tasks table made anew): in one immediate transaction, so that two processes starting together
    make it once. A SQLite built without FTS5 goes without it (searches then read every text)."""
    async with engine.connect() as connection:
        connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            if await connection.scalar(text("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' "
                                            "AND name = :name"), {"name": _TRIGGER}):
                await connection.exec_driver_sql("COMMIT")
                return
            for statement in (*_DROP, *_MAKE):
                await connection.exec_driver_sql(statement)
            indexed = await connection.scalar(text("SELECT count(*) FROM task_words"))
            await connection.exec_driver_sql("COMMIT")
            if indexed:  # a database from before the index
                log.info("Đã lập chỉ mục từ khóa tìm kiếm (FTS5) cho %s nhiệm vụ", indexed)
        except DBAPIError as error:
            await connection.exec_driver_sql("ROLLBACK")
            if "fts5" not in str(error).lower() and "trigram" not in str(error).lower():
                raise
            log.warning("SQLite này không có FTS5 trigram: tìm kiếm sẽ đọc mọi nhiệm vụ (%s)", error)


async def few_codes(session: AsyncSession, words: str) -> Sequence[str] | None:
    """The codes of the tasks whose search text holds `words` (folded, as the search text is), when
    fewer than FEW hold them; None when more do, when the words are too short for trigrams or hold
    LIKE's wildcards, or on a database without this index (PostgreSQL: its own serves the LIKE)."""
    if session.get_bind().dialect.name != "sqlite" or len(words) < 3 or "%" in words or "_" in words:
        return None
    try:
        codes = (await session.scalars(text(
            "SELECT code FROM task_words WHERE id IN "
            "(SELECT rowid FROM task_words_index WHERE search LIKE :pattern LIMIT :few)"),
            {"pattern": f"%{words}%", "few": FEW})).all()
    except DBAPIError:  # made without FTS5 (ensure)
        return None
    return codes if len(codes) < FEW else None
