"""Under concurrent load the API answers every request, never holds the pool while it waits on
Temporal, and records each action once (issue "It holds under load and under attack")."""

import asyncio
import uuid
from collections import Counter

from sqlalchemy import func, select

from db import models
from tests.helpers import Figures, Stack, ok, unique_code

KPI = "Chỉ tiêu"


async def _task(stack: Stack, office: dict[str, str]) -> str:
    code = unique_code("LOAD")
    ok(await stack.http.post("/api/v1/tasks", headers=office, json={
        "code": code, "title": "Nhiệm vụ chịu tải", "lead_agency": "HNI", "coordinating_agencies": [],
        "deadline": "2099-12-31", "kpis": [{"name": KPI, "target": 1, "unit": ""}]}), 201)
    return code


async def _events(stack: Stack, code: str, kind: str) -> int:
    async with stack.sessions() as session:
        return await session.scalar(select(func.count()).select_from(models.Event).where(
            models.Event.task_code == code, models.Event.type == kind)) or 0


async def test_64_simultaneous_actions_on_different_tasks_all_answer(stack: Stack, figures: Figures) -> None:
    office, head = await stack.login("office"), await stack.login("hni.head")
    codes = await asyncio.gather(*(_task(stack, office) for _ in range(64)))
    answers = await asyncio.gather(*(stack.http.post(f"/api/v1/tasks/{code}/actions/accept", headers=head, json={})
                                     for code in codes))
    statuses = Counter(answer.status_code for answer in answers)
    figures(f"64 simultaneous actions on 64 tasks: {dict(statuses)}")
    assert statuses == {200: 64}, [a.text for a in answers if a.is_error]
    assert ok(await stack.http.get("/readyz"))["database"] == "ok"
    assert all([await _events(stack, code, "accept") for code in codes])


async def test_50_concurrent_approvals_of_one_task_record_one(stack: Stack, figures: Figures) -> None:
    office, head, reviewer = await stack.login("office"), await stack.login("hni.head"), await stack.login("reviewer")
    code = await _task(stack, office)
    base = f"/api/v1/tasks/{code}/actions"
    ok(await stack.http.post(f"{base}/accept", headers=head, json={}))
    ok(await stack.http.post(f"{base}/evidence.submit", headers=head,
                              files=[("files", ("bien-ban.txt", f"Biên bản {code}".encode(), "text/plain"))],
                              data={"summary": "Xong", "kpi_results": f'{{"{KPI}": 1}}'}))
    ok(await stack.http.post(f"{base}/review.assign", headers=office, json={"reviewer": "reviewer"}))
    answers = await asyncio.gather(*(stack.http.post(f"{base}/review.approve", headers=reviewer, json={})
                                     for _ in range(50)))
    statuses = Counter(answer.status_code for answer in answers)
    figures(f"50 concurrent approvals of one task: {dict(statuses)}")
    assert statuses[200] == 1 and set(statuses) <= {200, 409, 429, 503}, statuses
    for answer in answers:
        if answer.status_code in (429, 503):
            assert answer.headers["Retry-After"], answer.text
    assert await _events(stack, code, "review.approve") == 1
    assert ok(await stack.http.get("/readyz"))["database"] == "ok"


async def test_200_copies_with_one_key_get_one_answer_and_one_event(stack: Stack, figures: Figures) -> None:
    office, head = await stack.login("office"), await stack.login("hni.head")
    code = await _task(stack, office)
    ok(await stack.http.post(f"/api/v1/tasks/{code}/actions/accept", headers=head, json={}))
    headers = {**head, "Idempotency-Key": f"comment-{uuid.uuid4()}"}
    answers = await asyncio.gather(*(stack.http.post(f"/api/v1/tasks/{code}/actions/comment", headers=headers,
                                                     json={"text": "Một lần thôi"}) for _ in range(200)))
    statuses = Counter(answer.status_code for answer in answers)
    figures(f"200 copies of one comment with one key: {dict(statuses)}")
    assert set(statuses) <= {200, 429, 503} and statuses[200] >= 1, statuses
    assert len({answer.text for answer in answers if answer.status_code == 200}) == 1
    assert await _events(stack, code, "comment") == 1


async def test_one_key_sent_by_two_people_at_once_records_one_and_tells_the_other(stack: Stack) -> None:
    office, head, officer = await stack.login("office"), await stack.login("hni.head"), await stack.login("hni.officer")
    code = await _task(stack, office)
    ok(await stack.http.post(f"/api/v1/tasks/{code}/actions/accept", headers=head, json={}))
    key = f"shared-{uuid.uuid4()}"
    answers = await asyncio.gather(*(stack.http.post(
        f"/api/v1/tasks/{code}/actions/comment", headers={**who, "Idempotency-Key": key},
        json={"text": "Cùng một khóa"}) for who in (head, officer)))
    assert sorted(answer.status_code for answer in answers) == [200, 422], [a.text for a in answers]
    assert await _events(stack, code, "comment") == 1
