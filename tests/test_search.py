"""Search that finds (issue 13): accent- and case-insensitive over code, title, product and agency
names, on SQLite and PostgreSQL alike (the `stack` runs on both); filters for lead, coordinating and
"my agency" that mean what they say; sortable columns; the downloads select what the page shows."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from db import models, word_index
from db.session import create_schema, make_engine, make_sessions
from tests.helpers import POSTGRES_URL, Stack, act, browser_at, ok, postgres_schema, task_row, unique_code, web_login


async def _assign(stack: Stack, code: str, title: str, lead: str = "HNI", coordinating: list[str] | None = None,
                  product: str = "") -> None:
    ok(await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json={
        "code": code, "title": title, "lead_agency": lead, "coordinating_agencies": coordinating or [],
        "deadline": "31/12/2027", "product": product}), 201)


async def _found(stack: Stack, user: str = "office", **params: Any) -> list[str]:
    answer = ok(await stack.http.get("/api/v1/tasks", params={"limit": 500, **params},
                                     headers=await stack.login(user)))
    return [item["code"] for item in answer["items"]]


async def test_a_title_is_found_whatever_its_case_and_accents(stack: Stack) -> None:
    token = unique_code("TIM")
    await _assign(stack, token, f"Chuyển đổi số trong y tế cơ sở {token}")
    for typed in ("chuyển đổi số", "CHUYỂN ĐỔI", "chuyen doi so", "Chuyen Doi  So", "CHUYEN DOI SO TRONG Y TE"):
        assert token in await _found(stack, q=typed), typed
    assert token in await _found(stack, q=token.lower())


async def test_a_product_and_the_agencies_names_are_searched_too(stack: Stack) -> None:
    token = unique_code("TIM")
    await _assign(stack, token, "Nhiệm vụ thử tìm kiếm", lead="BCA", product=f"Cổng dữ liệu dân cư {token}")
    assert token in await _found(stack, q=f"cong du lieu dan cu {token}")
    found = await _found(stack, q="bo cong an")  # the lead's name, without its accents
    assert token in found


async def test_a_renamed_agency_s_tasks_are_found_by_its_new_name(stack: Stack) -> None:
    agency, token = unique_code("AG"), unique_code("TIM")
    admin = await stack.login("admin")
    ok(await stack.http.post("/api/v1/agencies", headers=admin, json={
        "code": agency, "name": f"Sở thử {agency}", "kind": "other"}), 201)
    await _assign(stack, token, "Nhiệm vụ của một sở đổi tên", lead=agency)
    ok(await stack.http.patch(f"/api/v1/agencies/{agency}", headers=admin, json={"name": f"Sở mới {token}"}))
    assert await _found(stack, q=f"so moi {token}") == [token]


async def test_words_that_are_not_there_find_nothing_and_a_percent_sign_is_only_a_character(stack: Stack) -> None:
    token = unique_code("TIM")
    await _assign(stack, token, f"Tỷ lệ 100% hồ sơ trực tuyến {token}")
    assert await _found(stack, q=f"{token} khong co") == []
    assert await _found(stack, q=f"100% ho so truc tuyen {token}".lower()) == [token]
    assert token not in await _found(stack, q=f"100%ho{token}")
    assert token not in await _found(stack, q=f"100_ ho so truc tuyen {token}".lower())  # nor "_" a wildcard


async def test_the_lead_filter_leaves_out_tasks_the_agency_only_coordinates(stack: Stack) -> None:
    led, coordinated = unique_code("TIM"), unique_code("TIM")
    prefix = led[:4]  # "TIM-": both codes, and only codes made here
    await _assign(stack, led, "Chủ trì", lead="BTC")
    await _assign(stack, coordinated, "Phối hợp", lead="HNI", coordinating=["BTC"])
    both = {led, coordinated}
    assert both <= set(await _found(stack, agency="BTC", q=prefix))
    assert both <= set(await _found(stack, agency="BTC", relation="any", q=prefix))
    as_lead = set(await _found(stack, agency="BTC", relation="lead", q=prefix))
    assert led in as_lead and coordinated not in as_lead
    as_coordinating = set(await _found(stack, agency="BTC", relation="coordinating", q=prefix))
    assert coordinated in as_coordinating and led not in as_coordinating


async def test_a_list_sorts_by_the_column_chosen_either_way(stack: Stack) -> None:
    token = unique_code("SAP")
    codes = [f"{token}-{letter}" for letter in "BCA"]
    for code, title in zip(codes, ("Bắc", "Cà Mau", "An Giang"), strict=True):
        await _assign(stack, code, title)
    assert await _found(stack, q=token, sort="code") == sorted(codes)
    assert await _found(stack, q=token, sort="-code") == sorted(codes, reverse=True)
    assert await _found(stack, q=token, sort="title") == [codes[2], codes[0], codes[1]]


async def test_an_agency_s_list_follows_a_deadline_an_extension_moved(stack: Stack) -> None:
    """An agency's list is read in deadline order off its own rows (db/models.py TaskAgency keeps
    the task's deadline): an approved extension moves its task behind the other, there as in the list
    of every task."""
    agency, token = unique_code("AG"), unique_code("HAN")
    ok(await stack.http.post("/api/v1/agencies", headers=await stack.login("admin"), json={
        "code": agency, "name": f"Sở thử {agency}", "kind": "other"}), 201)
    first, second = f"{token}-1", f"{token}-2"
    for code, deadline in ((first, "30/04/2027"), (second, "31/05/2027")):
        ok(await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json={
            "code": code, "title": "Nhiệm vụ phối hợp", "lead_agency": "HNI", "coordinating_agencies": [agency],
            "deadline": deadline}), 201)
    assert await _found(stack, agency=agency) == [first, second]
    await act(stack, "hni.head", first, "accept", {})
    await act(stack, "hni.head", first, "extension.request", {"new_deadline": "30/06/2027", "reason": "Chờ số liệu"})
    await act(stack, "office", first, "extension.approve", {})
    assert await _found(stack, agency=agency) == [second, first]
    assert await _found(stack, agency=agency, relation="coordinating") == [second, first]
    assert await _found(stack, q=token) == [second, first]


async def test_an_unknown_sort_or_relation_is_refused_with_the_field_named(stack: Stack) -> None:
    office = await stack.login("office")
    for params in ({"sort": "password"}, {"relation": "directing"}):
        answer = await stack.http.get("/api/v1/tasks", params=params, headers=office)
        assert answer.status_code == 422, answer.text
        assert next(iter(params)) in answer.text


async def test_my_agency_on_the_page_is_the_readers_agency_and_the_downloads_follow_it(stack: Stack) -> None:
    token = unique_code("TIM")
    await _assign(stack, f"{token}-L", "Của Hà Nội", lead="HNI")
    await _assign(stack, f"{token}-C", "Hà Nội phối hợp", lead="BCA", coordinating=["HNI"])
    async with browser_at(stack) as browser:
        await web_login(browser, "office")
        page = (await browser.get("/tasks", params={"q": token, "agency": "HNI", "relation": "lead"})).text
        assert f"{token}-L" in page and f"{token}-C" not in page
        assert f"format=csv&agency=HNI&amp;relation=lead&amp;q={token}" in page  # the export selects the same
        await web_login(browser, "hni.head")
        mine = (await browser.get("/tasks", params={"q": token, "mine": "1", "relation": "coordinating"})).text
        assert f"{token}-C" in mine and f"{token}-L" not in mine
        download = mine.split("format=csv", 1)[1].split('"', 1)[0]
        assert "agency=HNI" in download and "mine" not in download


async def test_the_page_finds_without_accents_and_keeps_the_words_typed(stack: Stack) -> None:
    token = unique_code("TIM")
    await _assign(stack, token, f"Đào tạo nhân lực số {token}")
    async with browser_at(stack) as browser:
        await web_login(browser, "office")
        page = (await browser.get("/tasks", params={"q": f"DAO TAO NHAN LUC SO {token}"})).text
        assert f'href="/tasks/{token}"' in page and f'value="DAO TAO NHAN LUC SO {token}"' in page


async def test_a_search_counts_its_tasks_up_to_a_bound_and_says_when_there_are_more(stack: Stack,
                                                                                   monkeypatch: Any) -> None:
    from services import tasks
    token = unique_code("TIM")
    for n in range(3):
        await _assign(stack, f"{token}-{n}", f"Đếm kết quả tìm kiếm {token}")
    office = await stack.login("office")
    for params in ({"q": token}, {"q": token, "limit": 2}, {"q": token, "offset": 1}):  # the page: all, full, past some
        exact = ok(await stack.http.get("/api/v1/tasks", params=params, headers=office))
        assert (exact["total"], exact["total_exact"]) == (3, True), params
    monkeypatch.setattr(tasks, "SEARCH_COUNTED", 2)
    bounded = ok(await stack.http.get("/api/v1/tasks", params={"q": token, "limit": 1},
                                      headers=await stack.login("office")))
    assert (bounded["total"], bounded["total_exact"], len(bounded["items"])) == (2, False, 1)
    listed = ok(await stack.http.get("/api/v1/tasks", params={"limit": 1}, headers=await stack.login("office")))
    assert listed["total_exact"] is True and listed["total"] >= 3  # without words: counted in full


async def test_a_word_shared_by_many_tasks_is_found_walking_the_list_and_a_rare_one_by_its_codes(
        stack: Stack, monkeypatch: Any) -> None:
    """Rare words are looked up in the word index (db/word_index.py: on PostgreSQL, those with a digit
    and no space) and common ones found walking the list's order; both find the same tasks."""
    token = unique_code("TIM7")  # a digit in it, as codes have
    codes = [f"{token}-{n}" for n in range(3)]
    for code in codes:
        await _assign(stack, code, f"Tìm theo chỉ mục từ {token}")
    async with stack.sessions() as session:
        looked_up = await word_index.few_codes(session, token.lower())
        if stack.database == "postgres":  # words with a space: its trigram index serves them
            assert await word_index.few_codes(session, f"tu {token.lower()}") is None
    assert sorted(looked_up or []) == codes
    rare = ok(await stack.http.get("/api/v1/tasks", params={"q": token}, headers=await stack.login("office")))
    monkeypatch.setattr(word_index, "FEW", 2)  # now three tasks are many
    async with stack.sessions() as session:
        assert await word_index.few_codes(session, token.lower()) is None
    common = ok(await stack.http.get("/api/v1/tasks", params={"q": token}, headers=await stack.login("office")))
    assert sorted(item["code"] for item in rare["items"]) == sorted(item["code"] for item in common["items"]) == codes
    assert rare["total"] == common["total"] == 3


async def test_words_with_a_digit_find_exactly_the_tasks_whose_text_holds_them_wherever_they_stand(
        stack: Stack) -> None:
    """Words with a digit are looked up in the word index (on PostgreSQL by the suffixes of the text's
    words that hold a digit, db/word_index.py): what they find is what holds them as a substring, at
    a word's start, inside it or at its end, in a code, a title or a product."""
    mark = unique_code("").strip("-").lower()
    written = {f"S{mark}-250": ("Nhiệm vụ thử", ""), f"S{mark}-1250": ("Nhiệm vụ thử", ""),
               f"S{mark}-2500": ("Nhiệm vụ thử", ""), f"K{mark}-7": (f"Báo cáo theo mã s{mark}-250b", ""),
               f"P{mark}-8": ("Sản phẩm", f"Phụ lục {mark}-25/QĐ")}
    for code, (title, product) in written.items():
        await _assign(stack, code, title, product=product)
    async with stack.sessions() as session:
        texts = {code: search for code, search in await session.execute(text("SELECT code, search FROM tasks"))}
    for words in (f"s{mark}-250", f"{mark}-25", f"{mark[2:]}-125", f"{mark[-4:]}-2500", f"{mark}-25/q", f"{mark}-7"):
        async with stack.sessions() as session:
            looked_up = await word_index.few_codes(session, words)
        holding = sorted(code for code, search in texts.items() if words in (search or ""))
        assert sorted(looked_up or []) == holding and holding, words
        assert sorted(await _found(stack, q=words.upper())) == holding, words


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
async def test_the_word_index_of_an_older_database_is_made_from_its_tasks_and_follows_them(
        database: str, tmp_path: Path) -> None:
    if database == "postgres" and not POSTGRES_URL:
        pytest.skip("NQ57_TEST_POSTGRES_URL is not set: the PostgreSQL run is skipped")
    async with _engine(database, tmp_path) as engine:
        sessions = make_sessions(engine)
        await create_schema(engine)
        async with sessions() as session, session.begin():
            for statement in word_index._DROP if database == "sqlite" else word_index._POSTGRESQL_DROP:
                await session.execute(text(statement))  # as a database made before the index
            session.add_all(task_row(code, f"nhiem vu {code.lower()} xa vung cao") for code in ("OLD-1", "OLD-2"))
        await create_schema(engine)  # the next start
        async with sessions() as session:
            assert await _indexed(session, "old-2 xa vung") == 1
            assert await _indexed(session, "xa vung cao") == 2
            assert await word_index.few_codes(session, "ld-2") == ["OLD-2"]
        async with sessions() as session, session.begin():
            await session.execute(update(models.Task).where(models.Task.code == "OLD-2").values(search="doi ten"))
            await session.execute(delete(models.Task).where(models.Task.code == "OLD-1"))
            session.add(task_row("NEW-3", "nhiem vu new-3 xa vung cao"))
        async with sessions() as session:
            assert await _indexed(session, "xa vung cao") == 1  # NEW-3's
            assert await _indexed(session, "doi ten") == 1
            assert await _indexed(session, "old-1") == 0
            # Words with a digit, looked up on either database (PostgreSQL: by their suffixes).
            assert [await word_index.few_codes(session, words) for words in ("old-1", "old-2", "ew-3", "w-3 x")] == [
                [], [], ["NEW-3"], None if database == "postgres" else ["NEW-3"]]


@asynccontextmanager
async def _engine(database: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An engine on a database of the test's own: a SQLite file, or a PostgreSQL schema."""
    if database == "postgres":
        async with postgres_schema() as (engine, _):
            yield engine
        return
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'older.db'}")
    try:
        yield engine
    finally:
        await engine.dispose()


async def _indexed(session: AsyncSession, words: str) -> int:
    """How many tasks the word index finds holding the words: SQLite's looks up their codes,
    PostgreSQL's copy counts them."""
    if session.get_bind().dialect.name == "sqlite":
        return len(await word_index.few_codes(session, words) or [])
    return await word_index.counted(session, f"%{words}%", 10) or 0


async def test_a_search_s_statements_are_planned_for_its_words_in_its_own_transaction(stack: Stack) -> None:
    """PostgreSQL plans a search's statements for the words given: a prepared statement's generic plan,
    made for any words, read the trigram index for every match of a common word. The setting ends with
    the search's transaction."""
    from services import tasks
    from services.views import TaskFilter
    if stack.database != "postgres":
        pytest.skip("a plan of PostgreSQL's")
    engine = stack.sessions.kw["bind"]
    async with engine.connect() as connection:
        async with AsyncSession(connection) as session:
            assert await session.scalar(text("SHOW plan_cache_mode")) == "auto"
            await tasks._rare(session, TaskFilter(q="chuyen doi so"))
            assert await session.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"
            await session.rollback()
        assert await connection.scalar(text("SHOW plan_cache_mode")) == "auto"
