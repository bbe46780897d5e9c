"""The Committee's deadlines over HTTP: a task is assigned, and extended, with the deadline as the
Committee wrote it; the words are kept beside the instant; a phrase nobody can read is a 422 that
quotes it and lists the forms."""

from datetime import datetime

import pytest

from tests.helpers import Stack, act, ok, unique_code

PHRASES = [
    ("trong quý II/2026", "2026-06-30T23:59:59+07:00"),
    ("trước ngày 01/5/2026", "2026-04-30T23:59:59+07:00"),
    ("từ ngày 01/5/2026", "2026-05-01T00:00:00+07:00"),
    ("chậm nhất ngày 15/11/2025", "2025-11-15T23:59:59+07:00"),
]


@pytest.mark.parametrize(("phrase", "instant"), PHRASES)
async def test_a_task_is_assigned_with_the_committees_words(stack: Stack, phrase: str, instant: str) -> None:
    task = ok(await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json={
        "code": unique_code("DL"), "title": "Hạn theo lời Ban Chỉ đạo", "lead_agency": "HNI", "deadline": phrase}),
        201)
    assert task["deadline_text"] == phrase
    assert datetime.fromisoformat(task["deadline"]) == datetime.fromisoformat(instant)
    assert task["original_deadline"] == task["deadline"]


async def test_an_extension_is_asked_in_the_committees_words(stack: Stack) -> None:
    office = await stack.login("office")
    code = unique_code("DL")
    ok(await stack.http.post("/api/v1/tasks", headers=office, json={
        "code": code, "title": "Gia hạn theo lời Ban Chỉ đạo", "lead_agency": "HNI", "deadline": "trong tháng 4/2027"}),
        201)
    await act(stack, "hni.head", code, "accept", {})
    asked = await act(stack, "hni.head", code, "extension.request",
                      {"new_deadline": "6 tháng đầu năm 2027", "reason": "Chờ hướng dẫn của Bộ"})
    assert asked["extension_request"]["new_deadline_text"] == "6 tháng đầu năm 2027"
    granted = await act(stack, "office", code, "extension.approve", {})
    assert granted["deadline_text"] == "6 tháng đầu năm 2027"
    assert datetime.fromisoformat(granted["deadline"]) == datetime.fromisoformat("2027-06-30T23:59:59+07:00")


async def test_a_phrase_nobody_can_read_is_refused_quoting_it_and_listing_the_forms(stack: Stack) -> None:
    answer = await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json={
        "code": unique_code("DL"), "title": "Hạn không đọc được", "lead_agency": "HNI", "deadline": "sớm nhất có thể"})
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["errors"]
    assert error["field"] == "deadline"
    assert "'sớm nhất có thể'" in error["message"]
    assert "trong quý II/2026" in error["message"] and "YYYY-MM-DD" in error["message"]
