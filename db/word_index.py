"""The words inside a task's search text, indexed beside the tasks in a narrow copy of that text
(`task_words`: a code and its search text, about 200 bytes, where a task's row is about 2 KB with its
state), kept by triggers in the transaction that writes `tasks.search`, whoever writes it (the
recording step, `fill_in`, the benchmark's rows). Made here, not by migrations, on each start where it
is missing (a new database, one from before it, or a tasks table made anew).

SQLite: an FTS5 trigram index over the copy, so that a rare word (a task's code, a place) is found
among 100,000 tasks in a millisecond instead of by reading every search text. Its entries are keyed
by `task_words.id`, an INTEGER PRIMARY KEY that VACUUM keeps (the tasks table's own rowid it may
renumber). A common word is better served by walking the list's order until a page is found:
`few_codes` asks the index first and answers the codes only when there are few.

PostgreSQL: its trigram index on `tasks.search` (pg_trgm, db/models.py Task) finds a page itself; the
copy, with a trigram index of its own, counts a search's tasks (`counted`): a common word's first
thousand are met reading a few thousand narrow rows in turn (2 ms among 100,000 tasks), where the
tasks' index gathers every one of them first and their wide rows are read (13 ms). And the words with
a digit in them (codes, numbers: "p1000-250", "57-nq/tw") are kept by their suffixes
(`task_code_words`, about ten rows a task), so that a search for one (no space in it, a digit) finds
its tasks by one range of a B-tree, the suffixes that begin with it (`few_codes`): the trigrams of a
numbered code ("p10", "100", "000", " 25"…) are each in nearly every task's text, and GIN read all of
their postings to meet one task, 22 buffers among 1,000 tasks and 240 among 100,000. Exact, since the
words have no space: wherever they stand in a text, they begin a suffix of one of its words, which
holds their digit."""

import logging
import re
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

log = logging.getLogger("nq57.db")

# Below this many matching tasks the codes are looked up; from it, the list walks its order.
FEW = 200

def owns(table: str) -> bool:
    """Whether a table is this index's (its own, and FTS5's behind it), made here, not by migrations."""
    return table in ("task_words", "task_code_words") or table.startswith("task_words_index")


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
    tasks table made anew): in one transaction that holds the database's writers off, so that two
    processes starting together make it once and no task written meanwhile is left out."""
    if engine.dialect.name == "sqlite":
        await _ensure_sqlite(engine)
    else:
        await _ensure_postgresql(engine)


async def _ensure_sqlite(engine: AsyncEngine) -> None:
    """A SQLite built without FTS5 goes without it (searches then read every text)."""
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


_POSTGRESQL_TRIGGER = "task_search_indexed"
_POSTGRESQL_DROP = ("DROP TRIGGER IF EXISTS task_search_followed ON tasks",  # a release before the suffixes
                    "DROP TRIGGER IF EXISTS task_search_indexed ON tasks",
                    "DROP FUNCTION IF EXISTS task_words_follow()", "DROP TABLE IF EXISTS task_words",
                    "DROP TABLE IF EXISTS task_code_words", "DROP FUNCTION IF EXISTS task_code_suffixes(text)")
_POSTGRESQL_MAKE = (
    "CREATE TABLE task_words (code TEXT PRIMARY KEY, search TEXT)",
    "CREATE INDEX task_words_trgm ON task_words USING gin (search {trigrams})",
    # Byte order ("C"): the suffixes that begin with some words are one range of the key.
    'CREATE TABLE task_code_words (suffix TEXT COLLATE "C", code TEXT, PRIMARY KEY (suffix, code))',
    # The suffixes of the words of a search text that hold a digit, of three characters and more.
    """CREATE FUNCTION task_code_suffixes(search TEXT) RETURNS SETOF TEXT LANGUAGE sql IMMUTABLE AS $$
         SELECT DISTINCT suffix FROM regexp_split_to_table(coalesce(search, ''), ' ') AS word,
           generate_series(1, length(word) - 2) AS start, substr(word, start) AS suffix WHERE suffix ~ '[0-9]' $$""",
    """CREATE OR REPLACE FUNCTION task_words_follow() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF TG_OP <> 'INSERT' THEN
             DELETE FROM task_code_words WHERE code = OLD.code AND suffix IN (SELECT task_code_suffixes(OLD.search));
           END IF;
           IF TG_OP = 'DELETE' THEN
             DELETE FROM task_words WHERE code = OLD.code;
           ELSE
             INSERT INTO task_words (code, search) VALUES (NEW.code, NEW.search)
               ON CONFLICT (code) DO UPDATE SET search = excluded.search;
             INSERT INTO task_code_words (suffix, code) SELECT task_code_suffixes(NEW.search), NEW.code;
           END IF;
           RETURN NULL;
         END $$""",
    # The trigger first: from here no task is written until this commits, so the copy misses none.
    """CREATE TRIGGER task_search_indexed AFTER INSERT OR DELETE OR UPDATE OF search ON tasks
         FOR EACH ROW EXECUTE FUNCTION task_words_follow()""",
    "INSERT INTO task_words (code, search) SELECT code, search FROM tasks",
    "INSERT INTO task_code_words (suffix, code) SELECT suffix, code FROM tasks, task_code_suffixes(search) AS suffix",
)
_MAKING = 5758  # PostgreSQL's advisory lock: one process makes the copy, the others find it made


async def _ensure_postgresql(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MAKING})
        if await connection.scalar(text("SELECT count(*) FROM pg_trigger WHERE tgname = :name "
                                        "AND tgrelid = 'tasks'::regclass"), {"name": _POSTGRESQL_TRIGGER}):
            return
        trigrams = await connection.scalar(text(  # by its full name: the extension's schema may be off the path
            "SELECT extnamespace::regnamespace::text || '.gin_trgm_ops' FROM pg_extension WHERE extname = 'pg_trgm'"))
        for statement in (*_POSTGRESQL_DROP, *_POSTGRESQL_MAKE):
            await connection.exec_driver_sql(statement.replace("{trigrams}", trigrams))
        copied = await connection.scalar(text("SELECT count(*) FROM task_words"))
    if copied:  # a database from before the copy: its statistics made now, not when autovacuum comes
        async with engine.begin() as connection:
            await connection.exec_driver_sql("ANALYZE task_words, task_code_words")
        log.info("Đã lập chỉ mục từ khóa tìm kiếm (bản sao gọn) cho %s nhiệm vụ", copied)


async def planned_for_the_words(session: AsyncSession) -> None:
    """PostgreSQL: the rest of this transaction's statements planned for the words they are given, not
    by a generic plan. After five runs of a prepared statement PostgreSQL may keep one plan for any
    words: with the LIKE pattern unknown it guesses 500 matches and reads the trigram index, gathering
    every match of a common word (at 100,000 tasks, "chuyen doi so" counted in 6 ms, not 1.7; its page
    in 38, not 0.5). Nothing on SQLite."""
    if session.get_bind().dialect.name != "sqlite":
        await session.execute(text("SELECT set_config('plan_cache_mode', 'force_custom_plan', true)"))


def like_escaped(words: str) -> str:
    """The words as LIKE matches them literally, '/' its escape (`ESCAPE '/'`)."""
    return words.replace("/", "//").replace("%", "/%").replace("_", "/_")


async def counted(session: AsyncSession, pattern: str, at_most: int) -> int | None:
    """How many tasks' search text is LIKE `pattern` (as services/tasks.py `matching` makes it, '/'
    its escape), and no further than `at_most`: counted off PostgreSQL's copy, whose planner reads its
    trigram index for a rare word and its narrow rows in turn for a common one. None on SQLite (its
    lists count along an index that holds the text, db/models.py Task)."""
    if session.get_bind().dialect.name == "sqlite":
        return None
    return await session.scalar(text("SELECT count(*) FROM (SELECT 1 FROM task_words "
                                     "WHERE search LIKE :pattern ESCAPE '/' LIMIT :at_most) AS found"),
                                {"pattern": pattern, "at_most": at_most}) or 0


async def few_codes(session: AsyncSession, words: str) -> Sequence[str] | None:
    """The codes of the tasks whose search text holds `words` (folded, as the search text is), when
    fewer than FEW hold them; None when more do, when the words are too short for trigrams, or where
    this index does not serve them: on SQLite, words with LIKE's wildcards or a database without FTS5;
    on PostgreSQL, words without a digit or with a space (its trigram index serves them)."""
    if len(words) < 3:
        return None
    if session.get_bind().dialect.name != "sqlite":
        return await _few_coded(session, words)
    if "%" in words or "_" in words:
        return None
    try:
        codes = (await session.scalars(text(
            "SELECT code FROM task_words WHERE id IN "
            "(SELECT rowid FROM task_words_index WHERE search LIKE :pattern LIMIT :few)"),
            {"pattern": f"%{words}%", "few": FEW})).all()
    except DBAPIError:  # made without FTS5 (ensure)
        return None
    return codes if len(codes) < FEW else None


_DIGIT = re.compile("[0-9]")  # as task_code_suffixes has it

# A task's text may hold the words more than once (in its code and its title, "000" thrice in
# "p100000-25"): as many suffixes as this are read at most, for FEW tasks.
_SUFFIXES_READ = 4 * FEW


async def _few_coded(session: AsyncSession, words: str) -> Sequence[str] | None:
    """PostgreSQL's `few_codes`: words with a digit and no space, looked up by the suffixes that
    begin with them (`task_code_words`)."""
    if " " in words or not _DIGIT.search(words):
        return None
    begun = like_escaped(words) + "%"
    suffixes = (await session.scalars(text(
        "SELECT code FROM task_code_words WHERE suffix LIKE :begun ESCAPE '/' LIMIT :read"),
        {"begun": begun, "read": _SUFFIXES_READ})).all()
    codes = sorted(set(suffixes))
    return codes if len(suffixes) < _SUFFIXES_READ and len(codes) < FEW else None
