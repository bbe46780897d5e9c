"""The policy lives in the database: an administrator changes it without a deploy."""

import logging
from pathlib import Path

import pytest
from sqlalchemy import delete, insert

from db import models
from db.session import create_schema, make_engine
from policies.enforcer import load_enforcer
from tests.helpers import Stack, assigned, unique_code

ACCEPT_RULE = {"role": "agency_head", "relation": "lead", "stage": "assigned", "action": "accept"}


async def _new_task(stack: Stack) -> str:
    return await assigned(stack, "POL", title="Chính sách")


async def test_admin_reads_the_policy_as_rules(stack: Stack) -> None:
    answer = await stack.http.get("/api/v1/policy", headers=await stack.login("admin"))
    assert answer.status_code == 200
    assert ACCEPT_RULE in answer.json()


async def test_only_an_admin_reads_or_changes_the_policy(stack: Stack) -> None:
    office = await stack.login("office")
    assert (await stack.http.get("/api/v1/policy", headers=office)).status_code == 403
    assert (await stack.http.post("/api/v1/policy/rules", headers=office, json=ACCEPT_RULE)).status_code == 403


async def test_a_rule_removed_by_the_admin_takes_effect_at_once_and_adding_it_back_restores_it(stack: Stack) -> None:
    admin = await stack.login("admin")
    head = await stack.login("hni.head")
    code = await _new_task(stack)
    removed = await stack.http.post("/api/v1/policy/rules/delete", headers=admin, json=ACCEPT_RULE)
    assert removed.status_code == 204
    try:
        refused = await stack.http.post(f"/api/v1/tasks/{code}/actions/accept", headers=head, json={})
        assert refused.status_code == 403
    finally:
        added = await stack.http.post("/api/v1/policy/rules", headers=admin, json=ACCEPT_RULE)
        assert added.status_code == 201
    accepted = await stack.http.post(f"/api/v1/tasks/{code}/actions/accept", headers=head, json={})
    assert accepted.status_code == 200, accepted.text


async def test_a_policy_rule_must_name_known_roles_relations_stages_and_actions(stack: Stack) -> None:
    admin = await stack.login("admin")
    answer = await stack.http.post("/api/v1/policy/rules", headers=admin,
                                   json={**ACCEPT_RULE, "role": "janitor", "action": "launch"})
    assert answer.status_code == 422
    assert {error["field"] for error in answer.json()["errors"]} == {"role", "action"}


async def test_adding_a_rule_already_there_is_a_conflict(stack: Stack) -> None:
    admin = await stack.login("admin")
    answer = await stack.http.post("/api/v1/policy/rules", headers=admin, json=ACCEPT_RULE)
    assert answer.status_code == 409


async def test_the_last_rule_that_lets_someone_edit_the_policy_cannot_be_removed(stack: Stack) -> None:
    admin = await stack.login("admin")
    editor = {"role": "admin", "relation": "none", "stage": "*", "action": "policy.change"}
    answer = await stack.http.post("/api/v1/policy/rules/delete", headers=admin, json=editor)
    assert answer.status_code == 409, answer.text
    assert "policy.change" in answer.json()["detail"]
    assert (await stack.http.get("/api/v1/policy", headers=admin)).status_code == 200


async def test_the_task_list_follows_the_policy_for_each_relation(stack: Stack) -> None:
    """Reading one task and listing tasks ask the same policy: without the rule that lets a
    coordinating agency read, its officer neither reads the task (403) nor finds it in the list."""
    admin, office = await stack.login("admin"), await stack.login("office")
    officer = await stack.login("btc.officer")
    code = unique_code("POL")
    created = await stack.http.post("/api/v1/tasks", headers=office, json={
        "code": code, "title": "Chính sách đọc", "lead_agency": "HNI", "coordinating_agencies": ["BTC"],
        "deadline": "2099-12-31"})
    assert created.status_code == 201, created.text

    async def listed() -> bool:
        page = await stack.http.get("/api/v1/tasks", headers=officer, params={"q": code})
        return code in {task["code"] for task in page.json()["items"]}

    assert await listed() and (await stack.http.get(f"/api/v1/tasks/{code}", headers=officer)).status_code == 200
    rule = {"role": "*", "relation": "coordinating", "stage": "*", "action": "task.read"}
    assert (await stack.http.post("/api/v1/policy/rules/delete", headers=admin, json=rule)).status_code == 204
    only_while_assigned = {**rule, "stage": "assigned"}
    try:
        assert (await stack.http.get(f"/api/v1/tasks/{code}", headers=officer)).status_code == 403
        assert not await listed()
        # A rule for one stage: the task (assigned) is readable and listed again.
        assert (await stack.http.post("/api/v1/policy/rules", headers=admin, json=only_while_assigned)).status_code \
            == 201
        assert (await stack.http.get(f"/api/v1/tasks/{code}", headers=officer)).status_code == 200
        assert await listed()
    finally:
        await stack.http.post("/api/v1/policy/rules/delete", headers=admin, json=only_while_assigned)
        assert (await stack.http.post("/api/v1/policy/rules", headers=admin, json=rule)).status_code == 201
    assert await listed()


async def test_a_stored_policy_gets_a_new_features_default_lines_once(tmp_path: Path) -> None:
    """A policy stored before `correct` and `directing` existed gets their default lines at the next
    start; an administrator who then removes one keeps it removed across restarts."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'policy.db'}")
    await create_schema(engine)
    correct = ["steering_office", "*", "*", "correct"]
    try:
        older = [line for line in (await load_enforcer(engine)).get_policy()
                 if "correct" not in line and "directing" not in line]
        async with engine.begin() as connection:  # as a release before them stored it
            await connection.execute(delete(models.CasbinRule))
            await connection.execute(delete(models.PolicySeed))
            await connection.execute(insert(models.CasbinRule), [
                {"ptype": "p", "v0": r[0], "v1": r[1], "v2": r[2], "v3": r[3]} for r in older])
        upgraded = await load_enforcer(engine)
        assert correct in upgraded.get_policy()
        assert ["*", "directing", "*", "task.read"] in upgraded.get_policy()
        await upgraded.remove_policy(*correct)
        assert correct not in (await load_enforcer(engine)).get_policy()
    finally:
        await engine.dispose()


async def test_a_new_policy_is_the_default_and_is_not_reported_as_an_upgrade(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Only a stored policy that gains lines says which (a fresh start used to list all 60-odd)."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")
    await create_schema(engine)
    try:
        with caplog.at_level(logging.INFO, logger="nq57.policy"):
            enforcer = await load_enforcer(engine)
        # The upgrade's own line only: the session's stack, following its policy beside this test, may
        # say it read a changed policy again (another test changed it).
        upgrades = [r for r in caplog.records if r.name == "nq57.policy" and r.msg.startswith("Chính sách: thêm")]
        assert enforcer.get_policy() and not upgrades
    finally:
        await engine.dispose()
