"""The inbox answers "what, by when, why" (issue 13): for each task, the deadline running for this
person (their own: the review for the reviewer, the rework for the lead…) and, when work came back,
the decision that returned it with its findings. On SQLite and PostgreSQL."""

from typing import Any

from tests.helpers import Stack, act, ok
from tests.test_api_results import MET, in_review


async def inbox_item(stack: Stack, user: str, code: str) -> dict[str, Any]:
    items = ok(await stack.http.get("/api/v1/inbox", headers=await stack.login(user)))
    return next(item for item in items if item["code"] == code)


async def test_the_reviewer_sees_the_review_running(stack: Stack) -> None:
    code = await in_review(stack, MET)
    item = await inbox_item(stack, "reviewer", code)
    assert (item["running"]["kind"], item["running"]["owner"]) == ("review", "reviewer")
    assert item["returned"] is None


async def test_a_head_whose_work_came_back_sees_the_rework_deadline_and_the_findings(stack: Stack) -> None:
    code = await in_review(stack, MET)
    rejected = await act(stack, "reviewer", code, "review.reject", {
        "reason": "Chưa dùng được", "findings": ["Thiếu biên bản nghiệm thu", "Số liệu chưa khớp"]})
    item = await inbox_item(stack, "bkhcn.head", code)
    assert item["running"]["kind"] == "rework" and item["running"]["due"] == rejected["rework_deadline"]
    assert item["running"]["due"] != item["deadline"]  # the task's own deadline is not what runs now
    assert item["returned"]["action"] == "review.reject"
    assert item["returned"]["findings"] == ["Thiếu biên bản nghiệm thu", "Số liệu chưa khớp"]
