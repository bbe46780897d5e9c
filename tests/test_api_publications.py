"""Quarterly publication ("định kỳ hằng quý công bố, công khai") over HTTP, on SQLite and PostgreSQL:
the Standing Office publishes a quarter that has ended, once; everyone reads it without login — the
status classes per lead agency, adding up, and the cross-check results telling "đạt chỉ tiêu" from
"không đạt chỉ tiêu" and an unusable product —; it names nobody; and it never changes afterwards.

The stack's database is shared by the session: the quarter here is in a year of long ago that no
other test uses, so its tasks are the ones made here (their deadlines lapsed at once)."""

import asyncio
import json
import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from domain.actors import Actor
from domain.refusals import Code, Refusal
from services import publications
from tests.helpers import PEOPLE, Stack, act, app_of, browser_at, csrf_of, ok, task_until, unique_code, web_login

TRAINED = {"name": "Kỹ sư được đào tạo", "target": 100, "unit": "người", "baseline": 0, "direction": "higher"}
DAYS = {"name": "Thời gian xử lý hồ sơ", "target": 5, "unit": "ngày", "baseline": 20, "direction": "lower"}
_TAKEN_YEARS: set[int] = set()


def _year(low: int, high: int) -> int:
    """A year no other test of this module uses (other modules use none of these ranges: test_api_status
    1900-1979, test_api_reports_public 2300-2999)."""
    while (year := random.randint(low, high)) in _TAKEN_YEARS:
        pass
    _TAKEN_YEARS.add(year)
    return year


async def _create(stack: Stack, lead: str, deadline: str, kpis: list[dict[str, Any]] | None = None) -> str:
    code = unique_code("PUB")
    ok(await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json={
        "code": code, "title": f"Nhiệm vụ công bố {code}", "lead_agency": lead, "deadline": deadline,
        "product": "Sản phẩm", "kpis": kpis or []}), 201)
    return code


async def _evidence(stack: Stack, head: str, code: str, results: dict[str, float]) -> None:
    ok(await stack.http.post(
        f"/api/v1/tasks/{code}/actions/evidence.submit", headers=await stack.login(head),
        files=[("files", ("ket-qua.pdf", f"%PDF-1.4 {code}".encode(), "application/pdf"))],
        data={"summary": "Đã hoàn thành", "kpi_results": json.dumps(results, ensure_ascii=False)}))


async def _publish(stack: Stack, period: str, who: str = "office") -> Any:
    return await stack.http.post("/api/v1/reports/publications", headers=await stack.login(who),
                                 json={"period": period})


@dataclass
class Quarter:
    period: str
    codes: dict[str, str]
    published: dict[str, Any]  # the Office's answer
    public: dict[str, Any]  # what the public read right after
    live_index: list[dict[str, Any]]  # the index of the quarter, read right after publishing


@pytest.fixture(scope="module")
async def quarter(stack: Stack) -> Quarter:
    """Q2 of a year long past:
    MET      BKHCN  due Y-05-15, extended, completed on time, its target met     -> completed on time
    NOT_MET  HNI    due Y-06-10, completed late: 8 days against 5, product unusable -> completed late
    OPEN     HNI    due Y-04-20, never accepted                                   -> overdue
    PARENT   BKHCN  due Y-06-20, accepted, a part handed down to BKHCN-CDS        -> overdue (its part: not counted)
    GONE     BTC    due Y-05-01, cancelled                                        -> not counted
    LATER    BCA    due Y-07-15 (Q3)                                              -> not counted"""
    year = _year(1800, 1899)
    period = f"{year}-Q2"
    codes = {
        "MET": await _create(stack, "BKHCN", f"{year}-05-15", [TRAINED]),
        "NOT_MET": await _create(stack, "HNI", f"{year}-06-10", [DAYS]),
        "OPEN": await _create(stack, "HNI", f"{year}-04-20"),
        "PARENT": await _create(stack, "BKHCN", f"{year}-06-20"),
        "GONE": await _create(stack, "BTC", f"{year}-05-01"),
        "LATER": await _create(stack, "BCA", f"{year}-07-15"),
    }
    await act(stack, "bkhcn.head", codes["MET"], "accept")
    await act(stack, "bkhcn.head", codes["MET"], "extension.request", {"new_deadline": "2999-Q4", "reason": "Chờ"})
    await act(stack, "office", codes["MET"], "extension.approve")
    await _evidence(stack, "bkhcn.head", codes["MET"], {TRAINED["name"]: 120})
    await act(stack, "office", codes["MET"], "review.assign", {"reviewer": "reviewer"})
    assert (await act(stack, "reviewer", codes["MET"], "review.approve", {}))["outcome"] == "met"

    await act(stack, "hni.head", codes["NOT_MET"], "accept")
    await _evidence(stack, "hni.head", codes["NOT_MET"], {DAYS["name"]: 8})
    await act(stack, "office", codes["NOT_MET"], "review.assign", {"reviewer": "reviewer"})
    done = await act(stack, "reviewer", codes["NOT_MET"], "review.approve",
                     {"outcome": "not_met", "reason": "Thời gian xử lý còn 8 ngày", "usable": False})
    assert (done["stage"], done["outcome"], done["late"]) == ("completed", "not_met", True)

    await act(stack, "bkhcn.head", codes["PARENT"], "accept")
    codes["PART"] = f"{codes['PARENT']}-BKHCN-CDS"
    ok(await stack.http.post(f"/api/v1/tasks/{codes['PARENT']}/subtasks", headers=await stack.login("bkhcn.head"),
                             json={"code": codes["PART"], "title": "Phần việc của Cục", "lead_agency": "BKHCN-CDS",
                                   "deadline": f"{year}-06-15"}), 201)
    await act(stack, "office", codes["GONE"], "cancel", {"reason": "Không còn cần thiết"})
    for code in (codes["OPEN"], codes["PARENT"]):
        await task_until(stack, code, lambda task: task["overdue"], what=f"{code} overdue")

    published = ok(await _publish(stack, period), 201)
    live_index = ok(await stack.http.get("/api/v1/reports/agencies", params={"period": period},
                                         headers=await stack.login("office")))
    public = ok(await stack.http.get(f"/public/v1/publications/{period}"))
    return Quarter(period=period, codes=codes, published=published, public=public, live_index=live_index)


CLASSES = ("completed_on_time", "completed_late", "in_progress", "due_soon", "overdue", "deadline_pending")


def _counts(row: dict[str, Any]) -> tuple[int, ...]:
    return tuple(row[name] for name in (*CLASSES, "total"))


async def test_the_office_publishes_a_quarter_that_has_ended(quarter: Quarter) -> None:
    assert (quarter.published["period"], quarter.published["published_by"]) == (quarter.period, "office")


async def test_anyone_reads_the_publication_without_login(stack: Stack, quarter: Quarter) -> None:
    listed = ok(await stack.http.get("/public/v1/publications"))
    assert quarter.period in [item["period"] for item in listed]
    expected = {key: value for key, value in quarter.published.items() if key != "published_by"}
    assert quarter.public == expected
    assert ok(await stack.http.get(f"/public/v1/publications/{quarter.period.lower()}")) == quarter.public


async def test_the_status_classes_per_agency(quarter: Quarter) -> None:
    by_agency = {row["agency"]: _counts(row) for row in quarter.public["agencies"]}
    #                on time, late, in progress, due soon, overdue, pending, total
    assert by_agency == {"BKHCN": (1, 0, 0, 0, 1, 0, 2), "HNI": (0, 1, 0, 0, 1, 0, 2)}
    assert _counts(quarter.public["totals"]) == (1, 1, 0, 0, 2, 0, 4)
    # whose delay: both overdue tasks wait on their lead (to accept; to deliver)
    assert quarter.public["totals"]["overdue_by_owner"] == {"lead": 2, "finance": 0, "office": 0, "reviewer": 0}


async def test_the_status_classes_add_up(quarter: Quarter) -> None:
    rows = quarter.public["agencies"]
    for row in [*rows, quarter.public["totals"]]:
        assert sum(row[name] for name in CLASSES) == row["total"], row
    for name in (*CLASSES, "total"):
        assert sum(row[name] for row in rows) == quarter.public["totals"][name], name


async def test_the_cross_check_results_tell_met_from_not_met(quarter: Quarter) -> None:
    lines = {line["code"]: line for line in quarter.public["results"]}
    assert set(lines) == {quarter.codes["MET"], quarter.codes["NOT_MET"]}
    met, not_met = lines[quarter.codes["MET"]], lines[quarter.codes["NOT_MET"]]
    assert (met["lead_agency"], met["outcome"], met["usable"], met["achievement"], met["late"]) == (
        "BKHCN", "met", True, 1.0, False)
    assert met["kpis"] == [{"name": TRAINED["name"], "unit": "người", "target": 100.0, "baseline": 0.0,
                            "direction": "higher", "result": 120.0, "achievement": 1.0}]
    assert (not_met["lead_agency"], not_met["outcome"], not_met["usable"], not_met["late"]) == (
        "HNI", "not_met", False, True)
    # lower is better: from 20 days towards 5, reached 8 -> (20 − 8) / (20 − 5) = 0.8
    assert not_met["kpis"] == [{"name": DAYS["name"], "unit": "ngày", "target": 5.0, "baseline": 20.0,
                                "direction": "lower", "result": 8.0, "achievement": 0.8}]


async def test_the_publication_carries_the_index_of_the_quarter(quarter: Quarter) -> None:
    assert quarter.public["index"] == quarter.live_index


def _values(found: Any) -> list[Any]:
    """Every value in a JSON document (not the keys)."""
    if isinstance(found, dict):
        return [value for item in found.values() for value in _values(item)]
    if isinstance(found, list):
        return [value for item in found for value in _values(item)]
    return [found]


async def test_the_publication_names_nobody(quarter: Quarter) -> None:
    assert [value for value in _values(quarter.public) if value in PEOPLE] == []
    text = json.dumps(quarter.public, ensure_ascii=False)
    for secret in ("published_by", "accountable", "Thời gian xử lý còn 8 ngày", "lines", "findings", "ket-qua.pdf"):
        assert secret not in text


async def test_a_publication_never_changes(stack: Stack, quarter: Quarter) -> None:
    """The tasks move on — the overdue one accepted and completed, the parent cancelled —; the
    quarter answers the figures it was published with."""
    open_code = quarter.codes["OPEN"]
    await act(stack, "hni.head", open_code, "accept")
    await _evidence(stack, "hni.head", open_code, {})
    await act(stack, "office", open_code, "review.assign", {"reviewer": "reviewer"})
    await act(stack, "reviewer", open_code, "review.approve", {})
    await act(stack, "office", quarter.codes["PART"], "cancel", {"reason": "Gộp vào nhiệm vụ chính"})
    await act(stack, "office", quarter.codes["PARENT"], "cancel", {"reason": "Không còn cần thiết"})
    assert ok(await stack.http.get(f"/public/v1/publications/{quarter.period}")) == quarter.public
    # and nobody can publish it again over itself
    assert (await _publish(stack, quarter.period)).status_code == 409


async def test_a_quarter_is_published_once(stack: Stack, quarter: Quarter) -> None:
    again = await _publish(stack, quarter.period)
    assert again.status_code == 409, again.text
    assert again.json()["code"] == "already_published"


async def test_two_publishing_at_once_publish_it_once(stack: Stack) -> None:
    period = f"{_year(1800, 1899)}-Q3"
    answers = await asyncio.gather(_publish(stack, period), _publish(stack, period))
    assert sorted(answer.status_code for answer in answers) == [201, 409], [a.text for a in answers]


@pytest.mark.parametrize("period", ["2026-03", "2026", "2026-Q5", "quý 1", "0001-Q1"])
async def test_only_a_quarter_is_published(stack: Stack, period: str) -> None:
    answer = await _publish(stack, period)
    assert answer.status_code == 422, answer.text
    assert (answer.json()["code"], answer.json()["errors"][0]["field"]) == ("publication_not_a_quarter", "period")


async def test_a_quarter_past_the_calendar_is_refused(stack: Stack) -> None:
    answer = await _publish(stack, "9999-Q4")  # its end is past the calendar: no period names that year
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "publication_not_a_quarter"


async def test_a_quarter_not_ended_is_not_published(stack: Stack) -> None:
    answer = await _publish(stack, f"{_year(3000, 3099)}-Q4")
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "period_not_ended"


async def test_a_quarter_ends_at_local_midnight(stack: Stack) -> None:
    """Q1 ends on 1 April at 00:00 in the system's time zone: a second before, it is refused."""
    ctx = app_of(stack).state.ctx
    office = Actor(username="office", agency="VPTW", roles=["steering_office"])
    period = f"{_year(3000, 3099)}-Q1"
    end = publications.quarter(period, ctx).end
    with pytest.raises(Refusal) as refused:
        await publications.publish(ctx, office, period, now=end - timedelta(seconds=1))
    assert refused.value.code == Code.PERIOD_NOT_ENDED
    published = await publications.publish(ctx, office, period, now=end)
    assert (published.period, published.published_at) == (period, end)


@pytest.mark.parametrize("who", ["hni.head", "reviewer", "auditor"])
async def test_only_the_standing_office_publishes(stack: Stack, who: str) -> None:
    answer = await _publish(stack, f"{_year(1800, 1899)}-Q1", who)
    assert answer.status_code == 403, answer.text


async def test_an_unpublished_quarter_is_not_found(stack: Stack) -> None:
    for period in (f"{_year(1800, 1899)}-Q4", "2026-03", "nothing"):
        answer = await stack.http.get(f"/public/v1/publications/{period}")
        assert answer.status_code == 404, answer.text
        assert answer.json()["code"] == "publication_not_found"


async def test_the_public_portal_shows_the_quarter(stack: Stack, quarter: Quarter) -> None:
    async with browser_at(stack) as browser:
        portal = await browser.get("/public")
        assert portal.status_code == 200
        assert f'href="/public/publications/{quarter.period}"' in portal.text
        page = await browser.get(f"/public/publications/{quarter.period}")
        assert page.status_code == 200, page.text[:500]
        for words in ("Hoàn thành, đạt chỉ tiêu", "Hoàn thành, không đạt chỉ tiêu", "Sản phẩm chưa sử dụng được",
                      "Hoàn thành đúng hạn", "Quá hạn", quarter.codes["MET"], quarter.codes["NOT_MET"]):
            assert words in page.text, words
        assert quarter.codes["OPEN"] not in page.text  # never completed in the quarter: no cross-check line
        assert "reviewer" not in page.text and "office" not in page.text
        assert (await browser.get(f"/public/publications/{_year(1800, 1899)}-Q4")).status_code == 404


async def test_the_office_publishes_the_quarter_from_the_dashboard(stack: Stack) -> None:
    year = _year(1800, 1899)
    period = f"{year}-Q2"
    await _create(stack, "HNI", f"{year}-05-15")  # something due in it: the dashboard offers only such a period
    async with browser_at(stack) as browser:
        await web_login(browser, "office")
        dashboard = await browser.get("/dashboard", params={"period": period})
        assert 'action="/dashboard/publish-quarter"' in dashboard.text
        form = {"csrf_token": csrf_of(dashboard), "period": period}
        done = await browser.post("/dashboard/publish-quarter", data=form)
        assert done.status_code == 303 and done.headers["location"] == f"/public/publications/{period}"
        again = await browser.post("/dashboard/publish-quarter", data=form)
        assert again.status_code == 409
    assert ok(await stack.http.get(f"/public/v1/publications/{period}"))["period"] == period
