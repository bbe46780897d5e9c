"""Audit verify against the running stack: each task's hash chain and every evidence file's SHA-256,
through the API (auditor, admin) and the `cli.py audit verify` command, before and after someone with
database or disk access tampers with them.

verify walks every task in the database, so the module has a stack of its own (started empty, its walk
stays short whatever ran before), each test tampers with its own new task and puts the original rows
(or bytes) back before it ends, then checks that verify holds again."""

import asyncio
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update

from db import models
from db.audit import verify
from tests.helpers import Stack, act, ok, unique_code

REPO = Path(__file__).resolve().parent.parent
KPI = "Hệ thống vận hành"


@pytest.fixture(scope="module")
def stack(own_stack: Stack) -> Stack:
    return own_stack


async def _task_with_history(stack: Stack, prefix: str) -> tuple[str, str, bytes]:
    """A task with six events: created, accept, progress.report, comment, evidence.submit, review.assign.
    Returns its code, its evidence file's SHA-256 and the file's bytes (unique to this task)."""
    code = unique_code(prefix)
    ok(await stack.http.post("/api/v1/tasks", headers=await stack.login("office"), json={
        "code": code, "title": "Kiểm toán chuỗi sự kiện", "lead_agency": "HNI", "coordinating_agencies": [],
        "deadline": "2099-12-31", "kpis": [{"name": KPI, "target": 1, "unit": ""}]}), 201)
    await act(stack, "hni.head", code, "accept", {"officer": "hni.officer"})
    await act(stack, "hni.officer", code, "progress.report", {"percent": 50, "note": "Nửa chặng"})
    await act(stack, "hni.officer", code, "comment", {"text": "Đã chạy thử"})
    content = f"Biên bản nghiệm thu {code} {uuid.uuid4()}\n".encode()
    task = ok(await stack.http.post(
        f"/api/v1/tasks/{code}/actions/evidence.submit", headers=await stack.login("hni.head"),
        files=[("files", ("bien-ban.txt", content, "text/plain"))],
        data={"summary": "Xong", "kpi_results": json.dumps({KPI: 1})}))
    await act(stack, "office", code, "review.assign", {"reviewer": "reviewer"})
    sha = task["evidence"][0]["files"][0]["sha256"]
    history = ok(await stack.http.get(f"/api/v1/tasks/{code}/history", headers=await stack.login("office")))
    assert [entry["seq"] for entry in history] == [1, 2, 3, 4, 5, 6]
    return code, sha, content


async def _verify(stack: Stack, user: str = "auditor") -> dict[str, Any]:
    headers = await (stack.login(user, "admin-password") if user == "admin" else stack.login(user))
    return ok(await stack.http.get("/api/v1/audit/verify", headers=headers))


async def _cli(stack: Stack) -> tuple[int, dict[str, Any]]:
    env = {**os.environ, "NQ57_DATABASE_URL": stack.settings.database_url,
           "NQ57_DATA_DIR": str(stack.settings.data_dir), "NQ57_TASK_QUEUE": stack.settings.task_queue,
           "NQ57_TEMPORAL_ADDRESS": stack.settings.temporal_address}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "cli.py", "audit", "verify", cwd=REPO, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode in (0, 1), err.decode()
    return process.returncode, json.loads(out)


async def _event_row(stack: Stack, code: str, seq: int) -> dict[str, Any]:
    async with stack.sessions() as session:
        row = await session.scalar(select(models.Event).where(models.Event.task_code == code,
                                                              models.Event.seq == seq))
        assert row is not None, (code, seq)
        return {column.name: getattr(row, column.name) for column in models.Event.__table__.columns}


async def _execute(stack: Stack, statement: Any) -> None:
    async with stack.sessions() as session, session.begin():
        await session.execute(statement)


@asynccontextmanager
async def _tampered(stack: Stack, tamper: Callable[[], Awaitable[None]],
                    restore: Callable[[], Awaitable[None]]) -> AsyncIterator[None]:
    """Tamper, let the test look, put things back, and check that verify holds again."""
    await tamper()
    try:
        yield
    finally:
        await restore()
    assert (await _verify(stack))["ok"] is True


async def test_an_untouched_database_verifies(stack: Stack) -> None:
    code, _, _ = await _task_with_history(stack, "AUD-OK")
    result = await _verify(stack)
    assert result["ok"] is True, result
    assert result["first_bad_seq"] is None and result["first_bad_task"] is None and result["bad_files"] == []
    async with stack.sessions() as session:
        total = len(list(await session.scalars(select(models.Event.id))))
    assert result["events"] >= 6 and result["events"] <= total  # events recorded later are not yet counted
    assert result["evidence_files"] >= 1
    assert (await _verify(stack, "admin"))["ok"] is True


async def test_only_auditor_and_admin_may_verify(stack: Stack) -> None:
    for user in ("office", "committee", "hni.head", "finance", "reviewer"):
        answer = await stack.http.get("/api/v1/audit/verify", headers=await stack.login(user))
        assert answer.status_code == 403, (user, answer.text)
    assert (await stack.http.get("/api/v1/audit/verify")).status_code == 401
    admin = await stack.login("admin")
    answer = await stack.http.get("/api/v1/audit/verify", headers=admin)
    assert answer.status_code == 200 and "ok" in answer.json()


async def test_changed_event_data_is_found_at_that_task_and_seq(stack: Stack) -> None:
    code, _, _ = await _task_with_history(stack, "AUD-DATA")
    original = await _event_row(stack, code, 3)  # progress.report
    assert original["type"] == "progress.report" and original["data"]["percent"] == 50
    forged = {**original["data"], "percent": 100}
    where = (models.Event.task_code == code, models.Event.seq == 3)

    async def tamper() -> None:
        await _execute(stack, update(models.Event).where(*where).values(data=forged))

    async def restore() -> None:
        await _execute(stack, update(models.Event).where(*where).values(data=original["data"]))

    async with _tampered(stack, tamper, restore):
        result = await _verify(stack)
        assert result["ok"] is False
        assert (result["first_bad_task"], result["first_bad_seq"]) == (code, 3), result
        assert code in result["detail"]
        status, printed = await _cli(stack)
        assert status == 1 and printed["ok"] is False
        assert (printed["first_bad_task"], printed["first_bad_seq"]) == (code, 3)


async def test_a_changed_actor_or_time_is_found_too(stack: Stack) -> None:
    code, _, _ = await _task_with_history(stack, "AUD-ACTOR")
    original = await _event_row(stack, code, 2)  # accept, by hni.head
    where = (models.Event.task_code == code, models.Event.seq == 2)
    for forged in ({"actor": "bca.head"}, {"type": "cancel"}, {"at": original["at"].replace(year=2020)}):
        async def tamper(forged: dict = forged) -> None:
            await _execute(stack, update(models.Event).where(*where).values(**forged))

        async def restore(forged: dict = forged) -> None:
            await _execute(stack, update(models.Event).where(*where).values(
                **{key: original[key] for key in forged}))

        async with _tampered(stack, tamper, restore):
            result = await _verify(stack)
            assert (result["ok"], result["first_bad_task"], result["first_bad_seq"]) == (False, code, 2), forged


async def _delete_and_reinsert(stack: Stack, code: str, seq: int) -> tuple[Callable[[], Awaitable[None]],
                                                                          Callable[[], Awaitable[None]]]:
    original = await _event_row(stack, code, seq)

    async def tamper() -> None:
        await _execute(stack, delete(models.Event).where(models.Event.id == original["id"]))

    async def restore() -> None:
        await _execute(stack, insert(models.Event).values(**original))

    return tamper, restore


async def test_a_deleted_middle_event_is_found(stack: Stack) -> None:
    code, _, _ = await _task_with_history(stack, "AUD-DEL")
    tamper, restore = await _delete_and_reinsert(stack, code, 3)
    async with _tampered(stack, tamper, restore):
        result = await _verify(stack)
        assert (result["ok"], result["first_bad_task"], result["first_bad_seq"]) == (False, code, 3), result
        assert "số 3" in result["detail"]  # the sentence names the missing event
        status, printed = await _cli(stack)
        assert status == 1 and printed["first_bad_task"] == code


async def _swap_seq(stack: Stack, code: str, first: int, second: int) -> None:
    """Swap the seq of two events (through a free value: (task, seq) is unique)."""
    async with stack.sessions() as session, session.begin():
        for old, new in ((first, -1), (second, first), (-1, second)):
            await session.execute(update(models.Event).where(
                models.Event.task_code == code, models.Event.seq == old).values(seq=new))


async def test_reordered_events_are_found(stack: Stack) -> None:
    code, _, _ = await _task_with_history(stack, "AUD-SWAP")
    async with _tampered(stack, lambda: _swap_seq(stack, code, 3, 4), lambda: _swap_seq(stack, code, 3, 4)):
        result = await _verify(stack)
        # the first displaced position is 3 (the event standing there does not follow event 2)
        assert (result["ok"], result["first_bad_task"], result["first_bad_seq"]) == (False, code, 3), result
        assert "sự kiện 3" in result["detail"] and "đổi chỗ" in result["detail"]


async def test_a_deleted_last_event_is_found(stack: Stack) -> None:
    code, _, _ = await _task_with_history(stack, "AUD-TAIL")
    tamper, restore = await _delete_and_reinsert(stack, code, 6)
    async with _tampered(stack, tamper, restore):
        result = await _verify(stack)
        assert (result["ok"], result["first_bad_task"], result["first_bad_seq"]) == (False, code, 6), result
        status, printed = await _cli(stack)
        assert (status, printed["ok"], printed["first_bad_seq"]) == (1, False, 6)


async def test_a_whole_deleted_chain_is_found(stack: Stack) -> None:
    code, _, _ = await _task_with_history(stack, "AUD-ALL")
    async with stack.sessions() as session:
        rows = [dict(row._mapping) for row in await session.execute(
            select(*models.Event.__table__.columns).where(models.Event.task_code == code))]
    assert len(rows) == 6

    async def tamper() -> None:
        await _execute(stack, delete(models.Event).where(models.Event.task_code == code))

    async def restore() -> None:
        await _execute(stack, insert(models.Event).values(rows))

    async with _tampered(stack, tamper, restore):
        result = await _verify(stack)
        assert (result["ok"], result["first_bad_task"], result["first_bad_seq"]) == (False, code, 1), result


async def test_a_changed_evidence_file_is_listed_and_its_download_refused(stack: Stack) -> None:
    code, sha, content = await _task_with_history(stack, "AUD-FILE")
    blob = stack.settings.blob_dir / sha[:2] / sha
    assert blob.read_bytes() == content
    url = f"/api/v1/tasks/{code}/evidence/{sha}"
    assert (await stack.http.get(url, headers=await stack.login("auditor"))).content == content

    async def tamper() -> None:
        blob.write_bytes(content.replace(b"nghi", b"NGHI"))

    async def restore() -> None:
        blob.write_bytes(content)

    async with _tampered(stack, tamper, restore):
        result = await _verify(stack)
        assert result["ok"] is False and result["bad_files"] == [f"{code}/{sha}"], result
        assert result["first_bad_task"] is None  # the event chains still hold
        assert code in result["detail"]
        for user in ("auditor", "hni.head"):
            answer = await stack.http.get(url, headers=await stack.login(user))
            assert answer.status_code == 409, answer.text
            assert "SHA-256" in answer.json()["detail"]
        status, printed = await _cli(stack)
        assert status == 1 and printed["bad_files"] == [f"{code}/{sha}"]
    again = await stack.http.get(url, headers=await stack.login("auditor"))
    assert again.status_code == 200 and again.content == content


async def test_a_missing_evidence_file_is_listed(stack: Stack) -> None:
    code, sha, content = await _task_with_history(stack, "AUD-GONE")
    blob = stack.settings.blob_dir / sha[:2] / sha
    hidden = blob.with_name(sha + ".hidden")

    async def tamper() -> None:
        blob.rename(hidden)

    async def restore() -> None:
        hidden.rename(blob)

    async with _tampered(stack, tamper, restore):
        result = await _verify(stack)
        assert result["ok"] is False and f"{code}/{sha}" in result["bad_files"], result
        answer = await stack.http.get(f"/api/v1/tasks/{code}/evidence/{sha}", headers=await stack.login("auditor"))
        assert answer.status_code == 404


async def test_cli_prints_json_and_exits_zero_when_everything_holds(stack: Stack) -> None:
    await _task_with_history(stack, "AUD-CLI")
    status, printed = await _cli(stack)
    assert status == 0, printed
    assert printed["ok"] is True and printed["first_bad_seq"] is None and printed["bad_files"] == []
    assert printed["events"] >= 6 and printed["evidence_files"] >= 1


class _EventWrittenMeanwhile:
    """A session that lets `meanwhile` run right after verify has read the last event row: the
    moment an action (or an escalation timer) of normal operation may record an event."""

    def __init__(self, session: Any, meanwhile: Callable[[], Awaitable[None]]):
        self._session, self._meanwhile = session, meanwhile

    async def stream_scalars(self, statement: Any) -> Any:
        rows = await self._session.stream_scalars(statement)

        async def then_meanwhile() -> AsyncIterator[Any]:
            async for row in rows:
                yield row
            await self._meanwhile()

        return then_meanwhile()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


async def test_an_event_recorded_while_verify_runs_is_no_false_alarm(stack: Stack) -> None:
    code, _, _ = await _task_with_history(stack, "AUD-RACE")

    async def comment() -> None:
        await act(stack, "hni.officer", code, "comment", {"text": "Ghi nhận trong lúc kiểm toán"})

    async with stack.sessions() as session:
        result = await verify(_EventWrittenMeanwhile(session, comment))  # type: ignore[arg-type]
    history = ok(await stack.http.get(f"/api/v1/tasks/{code}/history", headers=await stack.login("office")))
    assert [entry["seq"] for entry in history] == [1, 2, 3, 4, 5, 6, 7]  # the comment was recorded
    assert (await _verify(stack))["ok"] is True  # and the chain is intact
    assert result.ok is True, result  # so verify, running meanwhile, has nothing to report
