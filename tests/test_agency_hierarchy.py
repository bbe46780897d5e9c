"""The agency hierarchy (ministry → department → unit; province → commune): the reference data and
its demo people, the walk up the chain (`ancestors`, `is_under`), agencies with a `parent` over the
API and the admin page, and the bridge that gives a data directory made before `parent` the column
(db/session.py, until migrations): on SQLite always, on PostgreSQL when NQ57_TEST_POSTGRES_URL is set."""

import csv
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.bootstrap import DEMO_USERS, REFERENCE_DIR, load_agencies
from db import models
from db.session import create_schema, make_engine, make_sessions
from services.people import HIERARCHY_DEPTH, ancestors, is_under
from services.views import AGENCY_KINDS
from tests.helpers import ORIGIN, PEOPLE, POSTGRES_URL, Stack, browser_at, csrf_of, ok, postgres_schema, web_login

UNITS = {"BKHCN-CDS": "BKHCN", "BKHCN-DMST": "BKHCN", "BTC-THTK": "BTC", "BCA-C06": "BCA", "HNI-SKHCN": "HNI",
         "HNI-HOANKIEM": "HNI", "HNI-SOCSON": "HNI", "HNI-BAVI": "HNI", "HCM-SKHCN": "HCM",
         "HCM-BENTHANH": "HCM", "HCM-CANGIO": "HCM"}


def _reference(name: str) -> list[dict[str, str]]:
    with (REFERENCE_DIR / name).open(encoding="utf-8-sig") as file:
        return list(csv.DictReader(file))


# --- the reference data ---------------------------------------------------------------------------

def test_the_reference_units_stand_after_their_parents_and_join_no_group() -> None:
    rows = _reference("agencies.csv")
    seen: set[str] = set()
    for row in rows:
        assert row["kind"] in AGENCY_KINDS and row["code"] not in seen, row
        assert not row["parent"] or row["parent"] in seen, f"{row['code']} before its parent"
        seen.add(row["code"])
    parents = {row["code"]: row["parent"] for row in rows if row["parent"]}
    assert parents == UNITS
    communes = {"HNI-HOANKIEM", "HNI-SOCSON", "HNI-BAVI", "HCM-BENTHANH", "HCM-CANGIO"}
    assert {code: row["kind"] for row in rows if (code := row["code"]) in UNITS} == {
        code: "commune" if code in communes else "unit" for code in UNITS}
    members = {code for group in _reference("agency_groups.csv") for code in group["members"].split(";")}
    assert members.isdisjoint(UNITS) and members <= seen


def test_the_demo_people_of_the_units_are_the_same_in_the_bootstrap_and_the_tests() -> None:
    demo = {username: (agency, roles) for username, _, agency, roles in DEMO_USERS}
    assert {name: (agency, [role]) for name, (agency, role) in PEOPLE.items() if name != "admin"} == demo
    assert demo["cds.head"] == ("BKHCN-CDS", ["agency_head"]) and demo["socson.head"] == ("HNI-SOCSON", ["agency_head"])


# --- the walk up the chain ------------------------------------------------------------------------

@asynccontextmanager
async def _sqlite(path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_ancestors_are_the_agencies_above_nearest_first_and_is_under_reads_them(tmp_path: Path) -> None:
    async with _sqlite(tmp_path / "chain.db") as engine:
        await create_schema(engine)
        sessions = make_sessions(engine)
        await load_agencies(sessions, REFERENCE_DIR / "agencies.csv")
        async with sessions() as session:
            session.add(models.Agency(code="HNI-HOANKIEM-TDP1", name="Tổ dân phố số 1", kind="other",
                                      parent="HNI-HOANKIEM"))
            await session.commit()
            assert await ancestors(session, "HNI-HOANKIEM-TDP1") == ["HNI-HOANKIEM", "HNI"]
            assert await ancestors(session, "BKHCN-CDS") == ["BKHCN"]
            assert await ancestors(session, "BKHCN") == [] and await ancestors(session, "KHONG-CO") == []
            assert await is_under(session, "HNI-HOANKIEM-TDP1", "HNI")
            assert await is_under(session, "BKHCN-CDS", "BKHCN")
            assert not await is_under(session, "BKHCN", "BKHCN-CDS")  # not upwards
            assert not await is_under(session, "BKHCN-CDS", "BKHCN-CDS")  # not itself
            assert not await is_under(session, "BKHCN-CDS", "BKHCN-DMST")  # not a sibling
            assert not await is_under(session, "HNI-SOCSON", "HCM")


async def test_the_walk_up_ends_on_a_cycle_and_after_the_deepest_chain(tmp_path: Path) -> None:
    async with _sqlite(tmp_path / "odd.db") as engine:
        await create_schema(engine)
        async with make_sessions(engine)() as session:
            session.add_all([models.Agency(code="X", name="X", kind="other"),
                             models.Agency(code="Y", name="Y", kind="other", parent="X")])
            await session.flush()
            (await session.get_one(models.Agency, "X")).parent = "Y"  # X under Y under X
            chain = [f"L{level}" for level in range(HIERARCHY_DEPTH + 5)]  # L0 at the top
            for parent, code in zip([None, *chain], chain, strict=False):
                session.add(models.Agency(code=code, name=code, kind="other", parent=parent))
                await session.flush()
            await session.commit()
            assert await ancestors(session, "X") == ["Y"] and await ancestors(session, "Y") == ["X"]
            assert await is_under(session, "X", "Y") and not await is_under(session, "X", "X")
            above = await ancestors(session, chain[-1])
            assert above == chain[-2::-1][:HIERARCHY_DEPTH]


# --- the bridge until migrations ------------------------------------------------------------------

OLD_TABLES = (
    "CREATE TABLE agencies (code VARCHAR(32) NOT NULL PRIMARY KEY, name VARCHAR(300) NOT NULL, "
    "name_en VARCHAR(300) NOT NULL, kind VARCHAR(16) NOT NULL)",
    "CREATE TABLE users (username VARCHAR(64) NOT NULL PRIMARY KEY, password_hash VARCHAR(200) NOT NULL, "
    "full_name VARCHAR(200) NOT NULL, agency VARCHAR(32) REFERENCES agencies (code), email VARCHAR(254), "
    "created_at TIMESTAMP WITH TIME ZONE NOT NULL)",  # before `disabled` and `token_version`
)
OLD_ROWS = (
    "INSERT INTO agencies VALUES ('HNI', 'Thành phố Hà Nội', 'Hanoi', 'province'), "
    "('HNI-SKHCN', 'Sở Khoa học và Công nghệ Hà Nội', '', 'province')",  # a unit stored before `parent`
    "INSERT INTO users VALUES ('hni.head', 'x', 'Chủ tịch UBND thành phố Hà Nội', 'HNI', NULL, "
    "'2026-01-05 08:00:00')",
)


async def _upgrades_an_old_database(engine: AsyncEngine, caplog: pytest.LogCaptureFixture) -> None:
    async with engine.begin() as connection:
        for statement in (*OLD_TABLES, *OLD_ROWS):
            await connection.execute(text(statement))
    with caplog.at_level(logging.INFO, logger="nq57.db"):
        await create_schema(engine)
    added = sorted(record.getMessage() for record in caplog.records if record.name == "nq57.db")
    assert len(added) == 3 and all("'parent'" in m or "'disabled'" in m or "'token_version'" in m for m in added)

    async with engine.connect() as connection:
        columns = await connection.run_sync(lambda sync: {
            table: {c["name"] for c in inspect(sync).get_columns(table)} for table in ("agencies", "users")})
    assert {"parent"} <= columns["agencies"] and {"disabled", "token_version"} <= columns["users"]
    sessions = make_sessions(engine)
    async with sessions() as session:
        old = await session.get_one(models.Agency, "HNI-SKHCN")
        assert (old.name, old.kind, old.parent) == ("Sở Khoa học và Công nghệ Hà Nội", "province", None)
        user = await session.get_one(models.User, "hni.head")
        assert (user.agency, user.disabled, user.token_version) == ("HNI", False, 0)

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="nq57.db"):
        await create_schema(engine)  # nothing left to add
    assert [record for record in caplog.records if record.name == "nq57.db"] == []

    added_agencies = await load_agencies(sessions, REFERENCE_DIR / "agencies.csv")
    assert added_agencies == len(_reference("agencies.csv")) - 2
    async with sessions() as session:
        upgraded = await session.get_one(models.Agency, "HNI-SKHCN")
        assert upgraded.parent == "HNI" and upgraded.kind == "province"  # only a missing parent is filled in
        assert await session.scalar(select(models.Agency.parent).where(models.Agency.code == "HCM-CANGIO")) == "HCM"


async def test_an_old_sqlite_database_gets_the_new_columns_and_keeps_its_rows(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with _sqlite(tmp_path / "old.db") as engine:
        await _upgrades_an_old_database(engine, caplog)


@pytest.mark.skipif(not POSTGRES_URL, reason="NQ57_TEST_POSTGRES_URL is not set: the PostgreSQL run is skipped")
async def test_an_old_postgres_database_gets_the_new_columns_and_keeps_its_rows(
        caplog: pytest.LogCaptureFixture) -> None:
    """In a schema of its own, made for the test and dropped after it: no other test's tables."""
    async with postgres_schema() as (engine, _):
        await _upgrades_an_old_database(engine, caplog)


# --- over the API and the admin page --------------------------------------------------------------

async def test_the_agencies_show_their_parent_and_the_demo_units_log_in(stack: Stack) -> None:
    agencies = {a["code"]: a for a in ok(await stack.http.get("/api/v1/agencies", headers=await stack.login("office")))}
    assert {code: agencies[code]["parent"] for code in UNITS} == UNITS
    assert agencies["BKHCN"]["parent"] is None and agencies["HNI-HOANKIEM"]["kind"] == "commune"
    for username in ("cds.head", "cds.officer", "dmst.head", "hoankiem.head", "hoankiem.officer", "socson.head"):
        me = ok(await stack.http.get("/api/v1/me", headers=await stack.login(username)))
        assert (me["agency"], me["roles"]) == (PEOPLE[username][0], [PEOPLE[username][1]])


async def test_an_agency_is_created_under_a_parent(stack: Stack) -> None:
    admin = await stack.login("admin")
    code = f"HNI-X{uuid.uuid4().hex[:6].upper()}"
    created = ok(await stack.http.post("/api/v1/agencies", headers=admin, json={
        "code": code, "name": "Phường thử", "kind": "commune", "parent": "HNI"}), 201)
    assert created["parent"] == "HNI"
    unit = f"{code}-TDP"
    ok(await stack.http.post("/api/v1/agencies", headers=admin, json={
        "code": unit, "name": "Tổ dân phố thử", "kind": "other", "parent": code}), 201)
    listed = {a["code"]: a["parent"] for a in ok(await stack.http.get("/api/v1/agencies", headers=admin))}
    assert listed[code] == "HNI" and listed[unit] == code
    async with stack.sessions() as session:
        assert await ancestors(session, unit) == [code, "HNI"] and await is_under(session, unit, "HNI")

    top = f"TOP{uuid.uuid4().hex[:6].upper()}"
    assert ok(await stack.http.post("/api/v1/agencies", headers=admin, json={
        "code": top, "name": "Cơ quan không trực thuộc", "kind": "other"}), 201)["parent"] is None


async def test_an_unknown_parent_or_the_agency_itself_is_refused_naming_it(stack: Stack) -> None:
    admin = await stack.login("admin")
    code = f"AG{uuid.uuid4().hex[:8].upper()}"
    unknown = await stack.http.post("/api/v1/agencies", headers=admin, json={
        "code": code, "name": "Cơ quan thử", "kind": "unit", "parent": "KHONG-CO"})
    assert unknown.status_code == 422, unknown.text
    body = unknown.json()
    assert body["code"] == "unknown_agency" and body["errors"][0]["field"] == "parent"
    assert "KHONG-CO" in body["detail"]
    itself = await stack.http.post("/api/v1/agencies", headers=admin, json={
        "code": code, "name": "Cơ quan thử", "kind": "unit", "parent": code})
    assert itself.status_code == 422, itself.text
    assert itself.json()["code"] == "agency_own_parent" and code in itself.json()["detail"]
    assert code not in {a["code"] for a in ok(await stack.http.get("/api/v1/agencies", headers=admin))}


async def test_the_admin_page_shows_the_parent_and_its_form_takes_one(stack: Stack) -> None:
    code, top = (f"{prefix}{uuid.uuid4().hex[:6].upper()}" for prefix in ("HCM-P", "W"))
    async with browser_at(stack) as browser:
        await web_login(browser, "admin")
        page = await browser.get("/admin")
        assert 'name="parent"' in page.text and "<td>BKHCN-CDS</td>" in page.text
        for form in ({"code": code, "name": "Phường thử", "kind": "commune", "parent": "HCM"},
                     {"code": top, "name": "Cơ quan thử", "kind": "other", "parent": ""}):
            answer = await browser.post("/admin/agencies", data={**form, "csrf_token": csrf_of(page)},
                                        headers={"Origin": ORIGIN})
            assert answer.status_code == 303, answer.text
        refused = await browser.post("/admin/agencies", data={
            "code": f"{code}X", "name": "x", "kind": "commune", "parent": "KHONG-CO", "csrf_token": csrf_of(page)},
            headers={"Origin": ORIGIN})
        assert refused.status_code == 422 and "KHONG-CO" in refused.text
    listed = {a["code"]: a["parent"] for a in ok(await stack.http.get("/api/v1/agencies",
                                                                      headers=await stack.login("admin")))}
    assert listed[code] == "HCM" and listed[top] is None
