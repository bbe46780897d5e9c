"""Cascading down the chain ("theo ngành dọc đến cấp xã"): the lead's head hands parts of a task down
to its own units — a ministry's department, a province's commune —, each a task of its own; the
parent's evidence waits for every part; progress and KPI actuals roll up; who acts on a part
follows the hierarchy (the unit's own people, and those above it to read, comment and close it),
never a sibling, never the other way up."""

from typing import Any

from tests.helpers import Stack, act, get_task, ok, post_action, task_until, unique_code

PARENT_DEADLINE = "trong quý IV/2027"


async def _in_execution(stack: Stack, lead: str, head: str, kpis: list[dict[str, Any]] | None = None) -> str:
    code = unique_code("CAS")
    ok(await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json={
        "code": code, "title": "Triển khai nền tảng số dùng chung", "lead_agency": lead,
        "deadline": PARENT_DEADLINE, "kpis": kpis or [],
        "source": {"document": "20-TB/CQTTBCĐ", "section": "Phụ lục, mục 7"}}), 201)
    await act(stack, head, code, "accept")
    return code


async def _split(stack: Stack, head: str, parent: str, unit: str, deadline: str = "trong tháng 9/2027",
                 kpis: list[dict[str, Any]] | None = None) -> Any:
    return await stack.http.post(f"/api/v1/tasks/{parent}/subtasks", headers=await stack.login(head), json={
        "code": f"{parent}-{unit}", "title": f"Phần việc của {unit}", "lead_agency": unit,
        "deadline": deadline, "kpis": kpis or []})


async def test_a_head_hands_a_part_down_to_a_unit_of_its_own(stack: Stack) -> None:
    parent = await _in_execution(stack, "BKHCN", "bkhcn.head")
    part = ok(await _split(stack, "bkhcn.head", parent, "BKHCN-CDS"), 201)
    assert part["code"] == f"{parent}-BKHCN-CDS" and part["parent"] == parent
    assert part["lead_agency"] == "BKHCN-CDS" and part["stage"] == "assigned"
    assert part["deadline_text"] == "trong tháng 9/2027"
    assert part["source"]["document"] == "20-TB/CQTTBCĐ"  # the directive goes down with it
    assert (await get_task(stack, parent))["subtasks"] == [part["code"]]
    # The unit's own head takes it from there.
    await act(stack, "cds.head", part["code"], "accept", {"officer": "cds.officer"})


async def test_a_part_goes_only_to_a_unit_under_the_lead(stack: Stack) -> None:
    parent = await _in_execution(stack, "BKHCN", "bkhcn.head")
    refused = await _split(stack, "bkhcn.head", parent, "HNI-HOANKIEM")
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "subtask_not_under_lead"
    assert (await get_task(stack, parent))["subtasks"] == []


async def test_a_part_is_due_no_later_than_the_task(stack: Stack) -> None:
    parent = await _in_execution(stack, "BKHCN", "bkhcn.head")
    refused = await _split(stack, "bkhcn.head", parent, "BKHCN-CDS", deadline="trong quý I/2028")
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "subtask_deadline_after_parent"


async def test_only_the_leads_head_splits_and_only_in_execution(stack: Stack) -> None:
    parent = await _in_execution(stack, "BKHCN", "bkhcn.head")
    assert (await _split(stack, "bkhcn.officer", parent, "BKHCN-CDS")).status_code == 403
    assert (await _split(stack, "btc.head", parent, "BKHCN-CDS")).status_code == 403
    waiting = unique_code("CAS")
    ok(await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json={
        "code": waiting, "title": "Chưa tiếp nhận", "lead_agency": "BKHCN", "deadline": PARENT_DEADLINE}), 201)
    not_yet = await _split(stack, "bkhcn.head", waiting, "BKHCN-CDS")
    assert not_yet.status_code == 409 and not_yet.json()["stage"] == "assigned"


async def test_a_head_is_refused_on_a_siblings_part_and_on_the_parent(stack: Stack) -> None:
    parent = await _in_execution(stack, "BKHCN", "bkhcn.head")
    cds = ok(await _split(stack, "bkhcn.head", parent, "BKHCN-CDS"), 201)["code"]
    dmst = ok(await _split(stack, "bkhcn.head", parent, "BKHCN-DMST"), 201)["code"]
    # beside: the other unit's head neither reads nor acts on its sibling's part
    assert (await post_action(stack, "dmst.head", cds, "accept")).status_code == 403
    assert (await stack.http.get(f"/api/v1/tasks/{cds}", headers=await stack.login("dmst.head"))).status_code == 403
    # up: a unit's head does not act for the ministry on the parent task
    assert (await post_action(stack, "cds.head", parent, "progress.report", {"percent": 50})).status_code == 403
    assert (await post_action(stack, "cds.head", parent, "subtask.create", {
        "code": f"{parent}-X", "title": "x", "lead_agency": "BKHCN-DMST", "deadline": "2027-06"})).status_code == 403
    # down: the ministry's head reads the part and comments, but does not act as the unit
    bkhcn = await stack.login("bkhcn.head")
    assert ok(await stack.http.get(f"/api/v1/tasks/{dmst}", headers=bkhcn))["parent"] == parent
    await act(stack, "bkhcn.head", dmst, "comment", {"text": "Đề nghị Cục khẩn trương triển khai"})
    assert (await post_action(stack, "bkhcn.head", dmst, "accept")).status_code == 403
    # a ministry outside the chain sees nothing of it
    assert (await stack.http.get(f"/api/v1/tasks/{dmst}", headers=await stack.login("btc.head"))).status_code == 403


async def test_a_cascade_to_a_commune_rolls_up_and_the_parent_waits_for_it(stack: Stack) -> None:
    kpis = [{"name": "Hộ dân được hướng dẫn", "target": 1000, "unit": "hộ"}]
    parent = await _in_execution(stack, "HNI", "hni.head", kpis)
    commune = ok(await _split(stack, "hni.head", parent, "HNI-HOANKIEM", kpis=kpis), 201)["code"]
    other = ok(await _split(stack, "hni.head", parent, "HNI-SOCSON", kpis=kpis), 201)["code"]
    await act(stack, "hoankiem.head", commune, "accept", {"officer": "hoankiem.officer"})
    await act(stack, "hoankiem.officer", commune, "progress.report",
              {"percent": 40, "kpi_actuals": {"Hộ dân được hướng dẫn": 320}, "note": "Đã hướng dẫn 320 hộ"})
    rolled = (await get_task(stack, parent))["subtask_rollup"]
    assert rolled["percent"] == 20  # 40 % and 0 %
    assert rolled["kpi_actuals"] == {"Hộ dân được hướng dẫn": 320}
    assert {part["code"]: part["stage"] for part in rolled["parts"]} == {commune: "in_progress", other: "assigned"}
    assert sorted(rolled["open"]) == sorted([commune, other])
    # The parent's evidence waits while a part is open ...
    waiting = await stack.http.post(f"/api/v1/tasks/{parent}/actions/evidence.submit",
                                    headers=await stack.login("hni.head"),
                                    files={"files": ("bao-cao.pdf", b"%PDF-1.4 bao cao", "application/pdf")},
                                    data={"kpi_results": '{"Hộ dân được hướng dẫn": 1000}'})
    assert waiting.status_code == 409, waiting.text
    assert waiting.json()["code"] == "subtasks_open" and commune in waiting.json()["detail"]
    # ... until each is closed: one cancelled by the head above as not needed, the other too.
    await act(stack, "hni.head", other, "cancel", {"reason": "Xã đã hoàn thành trong chương trình khác"})
    await act(stack, "hni.head", commune, "cancel", {"reason": "Gộp vào kế hoạch của Thành phố"})
    closed = await task_until(stack, parent, lambda task: task["subtask_rollup"]["open"] == [],
                              what="the parent hears its parts closed")
    assert closed["stage"] == "in_progress"
    history = ok(await stack.http.get(f"/api/v1/tasks/{parent}/history", headers=await stack.login("office")))
    assert sorted(e["data"]["code"] for e in history if e["type"] == "subtask.closed") == sorted([commune, other])
    done = await stack.http.post(f"/api/v1/tasks/{parent}/actions/evidence.submit",
                                 headers=await stack.login("hni.head"),
                                 files={"files": ("bao-cao.pdf", b"%PDF-1.4 bao cao", "application/pdf")},
                                 data={"kpi_results": '{"Hộ dân được hướng dẫn": 1000}'})
    assert done.status_code == 200, done.text
    assert done.json()["stage"] == "cross_check"


async def test_a_department_hands_parts_only_to_its_own_units(stack: Stack) -> None:
    """Below the first level the rule is the same, relative to the part's own lead."""
    parent = await _in_execution(stack, "BKHCN", "bkhcn.head")
    department = ok(await _split(stack, "bkhcn.head", parent, "BKHCN-CDS"), 201)["code"]
    await act(stack, "cds.head", department, "accept")
    # The department has no unit of its own in the reference data: a unit elsewhere is refused.
    refused = await _split(stack, "cds.head", department, "BKHCN-DMST")
    assert refused.status_code == 422 and refused.json()["code"] == "subtask_not_under_lead"


async def test_a_reviewer_from_a_unit_under_the_lead_does_not_cross_check_it(stack: Stack) -> None:
    admin = await stack.login("admin")
    reviewer = unique_code("rv").lower()
    ok(await stack.http.post("/api/v1/users", headers=admin, json={
        "username": reviewer, "password": "Kiem-tra-cheo-2027!", "full_name": "Chuyên gia của Cục",
        "agency": "BKHCN-CDS", "roles": ["cross_check_reviewer"]}), 201)
    code = await _in_execution(stack, "BKHCN", "bkhcn.head")
    await stack.http.post(f"/api/v1/tasks/{code}/actions/evidence.submit", headers=await stack.login("bkhcn.head"),
                          files={"files": ("bao-cao.pdf", b"%PDF-1.4 bao cao", "application/pdf")})
    refused = await post_action(stack, "office", code, "review.assign", {"reviewer": reviewer})
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "reviewer_not_independent"


async def test_the_committee_does_not_replace_a_lead_whose_parts_are_open(stack: Stack) -> None:
    parent = await _in_execution(stack, "BKHCN", "bkhcn.head")
    ok(await _split(stack, "bkhcn.head", parent, "BKHCN-CDS"), 201)
    refused = await post_action(stack, "committee", parent, "reassign", {"lead_agency": "BTC", "reason": "Chậm"})
    assert refused.status_code == 409 and refused.json()["code"] == "subtasks_open_reassign"
