"""Recomputes every task's event chain and every evidence file's SHA-256: a changed, removed or
reordered event row, or a swapped file, is named."""

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import models
from domain.audit import GENESIS, event_hash
from domain.task import TaskState


class AuditResult(BaseModel):
    ok: bool
    events: int
    first_bad_seq: int | None = None
    first_bad_task: str | None = None
    detail: str = "Chuỗi sự kiện và tệp minh chứng toàn vẹn"
    evidence_files: int = 0
    bad_files: list[str] = []
    tasks_compared: int = 0  # tasks whose projection was compared with their workflow's record
    drift: list[str] = []  # each difference between the projection and the workflows
    superseded_events: int = 0  # rows of attempts that never became durable, kept apart

    def with_drift(self, compared: int, differences: list[str]) -> "AuditResult":
        """The result once the projection is compared with what the workflows recorded."""
        update: dict[str, Any] = {"tasks_compared": compared, "drift": differences}
        if differences:
            update["ok"] = False
            if self.ok:
                update["detail"] = f"Dữ liệu lệch khỏi quy trình (Temporal): {differences[0]}"
        return self.model_copy(update=update)


async def verify(session: AsyncSession, blob_sha256: Callable[[str], Awaitable[str | None]] | None = None
                 ) -> AuditResult:
    """`blob_sha256` (the evidence store's `sha256_of`: what the file of that name hashes to now, None
    when it is gone) turns on the check of evidence files."""
    result = AuditResult(ok=True, events=0)
    last_seq: dict[str, int] = {}
    # Each task's seq BEFORE its events: events only grow, so one recorded meanwhile is no false alarm.
    task_seq = dict((await session.execute(select(models.Task.code, models.Task.seq))).all())
    rows = await session.stream_scalars(select(models.Event).order_by(models.Event.task_code, models.Event.seq))
    expected_prev, expected_seq, current = GENESIS, 1, None
    async for event in rows:
        result.events += 1
        if event.task_code != current:
            current, expected_prev, expected_seq = event.task_code, GENESIS, 1
        problem = None
        if event.seq != expected_seq:
            problem = f"sự kiện số {expected_seq} bị thiếu hoặc sai thứ tự"
        elif event.prev_hash != expected_prev:
            problem = "mã băm của sự kiện trước không khớp (sự kiện bị xóa hoặc đổi chỗ)"
        elif event.hash != event_hash(event.prev_hash, event.task_code, event.seq, event.type, event.actor,
                                      event.at, event.data):
            problem = "nội dung sự kiện đã bị thay đổi"
        if problem and result.ok:  # the seq that should stand here is the one that is bad
            result.ok, result.first_bad_task, result.first_bad_seq = False, event.task_code, expected_seq
            result.detail = f"Nhiệm vụ {event.task_code}, sự kiện {expected_seq}: {problem}"
        expected_prev, expected_seq = event.hash, event.seq + 1
        last_seq[event.task_code] = event.seq
    for task in await session.scalars(select(models.Task).order_by(models.Task.code)):
        if result.ok and last_seq.get(task.code, 0) < task_seq.get(task.code, 0):
            result.ok, result.first_bad_task = False, task.code
            result.first_bad_seq = last_seq.get(task.code, 0) + 1
            result.detail = f"Nhiệm vụ {task.code}: thiếu sự kiện từ số {result.first_bad_seq} trở đi"
        if blob_sha256 is not None:
            for evidence in TaskState.model_validate(task.state).evidence:
                for file in evidence.files:
                    result.evidence_files += 1
                    if await blob_sha256(file.sha256) != file.sha256:
                        result.bad_files.append(f"{task.code}/{file.sha256}")
    result.superseded_events = await session.scalar(select(func.count()).select_from(models.SupersededEvent)) or 0
    if result.bad_files:
        if result.ok:
            result.detail = f"Tệp minh chứng bị thiếu hoặc bị thay đổi: {', '.join(result.bad_files[:5])}"
        result.ok = False
    return result
