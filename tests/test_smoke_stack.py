from tests.helpers import Stack, unique_code


async def test_office_assigns_a_task_and_lead_head_accepts(stack: Stack) -> None:
    office = await stack.login("office")
    code = unique_code()
    created = await stack.http.post("/api/v1/tasks", headers=office, json={
        "code": code, "title": "Nhiệm vụ thử", "lead_agency": "HNI", "coordinating_agencies": ["BKHCN"],
        "deadline": "2027-Q2", "kpis": [{"name": "Xã", "target": 100, "unit": "%"}]})
    assert created.status_code == 201, created.text
    assert created.json()["stage"] == "assigned"
    accepted = await stack.http.post(f"/api/v1/tasks/{code}/actions/accept", headers=await stack.login("hni.head"),
                                     json={})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["stage"] == "in_progress"
