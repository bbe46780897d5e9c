"""The projection against its source of truth: what each task's workflow says it recorded.

- `drift` names every difference between a task's rows and its workflow's log (audit verify).
- `catch_up` brings every open task whose projection is not in step with its workflow back to it:
  the worker runs it when it starts, since a crash can leave rows written by attempts that never
  became durable. Such rows were written after the last catch-up that went through began, so that
  one alone is looked at (`CatchUp`), not the whole program; the first looks at every running
  workflow. `rebuild` does it for every task, open or closed (`nq57 projection rebuild`: after a
  database is restored from a backup, say, which no crash explains)."""

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from db import models
from db.projection import rebuild as rebuild_rows
from db.session import transaction
from domain.audit import GENESIS
from domain.events import ChainHead, Recorded
from workflows.task_lifecycle import FENCE_PER_RUN, TaskLifecycleWorkflow, workflow_id

log = logging.getLogger("nq57.reconcile")
PARALLEL = 8  # workflows asked at once
CLOCKS_APART = timedelta(minutes=10)  # how far the clocks of the processes writing rows may differ


class Reconciled(BaseModel):
    tasks: int = 0  # workflows looked at
    resynced: list[str] = []  # tasks whose projection was rewritten from their workflow


async def task_codes(client: Client, task_queue: str, running_only: bool = False) -> list[str]:
    """Every task workflow on this task queue (each task's latest run)."""
    query = f"WorkflowType = 'TaskLifecycleWorkflow' AND TaskQueue = '{task_queue}'"
    if running_only:
        query += " AND ExecutionStatus = 'Running'"
    codes = {execution.id.removeprefix("task-") async for execution in client.list_workflows(query)}
    return sorted(codes)


async def workflow_record(client: Client, code: str, with_data: bool = False) -> Recorded | None:
    """What the task's workflow says it recorded; None when Temporal has no such workflow."""
    try:
        return await client.get_workflow_handle_for(TaskLifecycleWorkflow.run, workflow_id(code)).query(
            TaskLifecycleWorkflow.recorded, with_data)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


async def drift(session: AsyncSession, code: str, record: Recorded | None) -> list[str]:
    """Each way the task's projection differs from its workflow's record, in Vietnamese."""
    row = await session.get(models.Task, code)
    rows = {event.seq: event for event in await session.scalars(
        select(models.Event).where(models.Event.task_code == code))}
    if record is None:
        return [f"Nhiệm vụ {code}: có trong cơ sở dữ liệu nhưng Temporal không có quy trình nào của nó"]
    found = []
    if row is None:
        found.append(f"Nhiệm vụ {code}: quy trình có nhưng cơ sở dữ liệu không có dòng nhiệm vụ")
    elif (row.seq, row.stage) != (record.state.seq, record.state.stage.value):
        found.append(f"Nhiệm vụ {code}: cơ sở dữ liệu ghi sự kiện {row.seq}, giai đoạn '{row.stage}'; "
                     f"quy trình ghi sự kiện {record.state.seq}, giai đoạn '{record.state.stage.value}'")
    for event in record.events:
        stored = rows.pop(event.seq, None)
        if stored is None:
            found.append(f"Nhiệm vụ {code}, sự kiện {event.seq} ({event.type}): quy trình đã ghi, "
                         "cơ sở dữ liệu không có")
        elif stored.hash != event.hash or stored.type != event.type:
            found.append(f"Nhiệm vụ {code}, sự kiện {event.seq}: nội dung trong cơ sở dữ liệu ({stored.type}) "
                         f"khác điều quy trình đã ghi ({event.type}) — mã băm không khớp")
        elif stored.request_id != event.request_id:
            found.append(f"Nhiệm vụ {code}, sự kiện {event.seq}: mã yêu cầu '{stored.request_id}' khác "
                         f"'{event.request_id}' mà quy trình đã ghi")
    for seq in sorted(rows):
        found.append(f"Nhiệm vụ {code}, sự kiện {seq} ({rows[seq].type}): có trong cơ sở dữ liệu nhưng "
                     "quy trình chưa từng ghi nhận")
    return found


async def _in_step(session: AsyncSession, code: str, head: ChainHead) -> bool:
    row = await session.get(models.Task, code)
    last = await session.scalar(select(models.Event.hash).where(models.Event.task_code == code)
                                .order_by(models.Event.seq.desc()).limit(1))
    count = await session.scalar(select(func.count()).where(models.Event.task_code == code))
    # seq is unique per task, so head.seq rows whose last one chains to head.hash are 1..head.seq
    return (row is not None and (row.seq, row.stage) == (head.seq, head.stage)
            and (last or GENESIS) == head.hash and count == head.seq)


async def catch_up(client: Client, sessions: async_sessionmaker[AsyncSession], task_queue: str,
                   codes: Sequence[str] | None = None, force: bool = False) -> Reconciled:
    """Ask each task's workflow where its record stands — `codes`, or those written since the last
    catch-up began (every running one the first time) —; resync those the database disagrees with
    (all of them with `force`). The workflow rewrites its own rows, under its own lock."""
    began = datetime.now(UTC)
    looked_for = codes is None
    codes = list(codes) if codes is not None else await _written_since_last(client, sessions, task_queue)
    result = Reconciled(tasks=len(codes))
    gate = asyncio.Semaphore(PARALLEL)

    async def one(code: str) -> None:
        async with gate:
            handle = client.get_workflow_handle_for(TaskLifecycleWorkflow.run, workflow_id(code))
            try:
                for attempt in range(0 if force else 3):  # a recording under way is no drift: look again
                    head = await handle.query(TaskLifecycleWorkflow.head)
                    async with sessions() as session:
                        if await _in_step(session, code, head):
                            return
                    await asyncio.sleep(0.5 * (attempt + 1))
                if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
                    log.warning("Nhiệm vụ %s: dữ liệu khác quy trình đã kết thúc của nó; hãy chạy "
                                "'nq57 projection rebuild'", code)
                    return
                changed = await handle.execute_update(TaskLifecycleWorkflow.resync)
            except RPCError as error:
                if error.status != RPCStatusCode.NOT_FOUND:
                    raise
                log.warning("Nhiệm vụ %s: có trong cơ sở dữ liệu nhưng Temporal không có quy trình nào của nó", code)
                return
            if changed:
                result.resynced.append(code)

    await asyncio.gather(*(one(code) for code in codes))
    if result.resynced:
        log.warning("Đã đồng bộ lại %d nhiệm vụ với quy trình của chúng: %s", len(result.resynced),
                    ", ".join(sorted(result.resynced)[:20]))
    if looked_for:
        async with transaction(sessions) as session:
            session.add(models.CatchUp(started_at=began, finished_at=datetime.now(UTC), tasks=result.tasks,
                                       resynced=len(result.resynced)))
    return result


async def _written_since_last(client: Client, sessions: async_sessionmaker[AsyncSession], task_queue: str
                              ) -> list[str]:
    """The tasks whose rows were written since the last catch-up began; every running task's before
    the first."""
    async with sessions() as session:
        last = await session.scalar(select(func.max(models.CatchUp.started_at)))
        if last is not None:
            return list(await session.scalars(select(models.Task.code).where(
                models.Task.recorded_at >= last - CLOCKS_APART).order_by(models.Task.code)))
    return await task_codes(client, task_queue, running_only=True)


async def rebuild(client: Client, sessions: async_sessionmaker[AsyncSession], task_queue: str) -> Reconciled:
    """Every task's projection from its workflow: open ones resync themselves; closed ones cannot
    change any more, so their record is written here."""
    running = await task_codes(client, task_queue, running_only=True)
    result = await catch_up(client, sessions, task_queue, running, force=True)
    for code in sorted(set(await task_codes(client, task_queue)) - set(running)):
        handle = client.get_workflow_handle_for(TaskLifecycleWorkflow.run, workflow_id(code))
        if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            continue  # reopened meanwhile: it keeps its own rows
        record = await workflow_record(client, code, with_data=True)
        if record is None:
            continue
        result.tasks += 1
        async with transaction(sessions) as session:
            if await rebuild_rows(session, record.state, record.events, fence=FENCE_PER_RUN * 1000):
                result.resynced.append(code)
    return result


async def compare(client: Client, sessions: async_sessionmaker[AsyncSession], task_queue: str
                  ) -> tuple[int, list[str]]:
    """Every task, in the database or in Temporal, compared with its workflow's record: how many
    were compared, and each difference. A task that differs is looked at again a moment later,
    so an action recorded while we read is no false alarm."""
    async with sessions() as session:
        codes = set(await session.scalars(select(models.Task.code)))
    codes |= set(await task_codes(client, task_queue))
    found: dict[str, list[str]] = {}
    gate = asyncio.Semaphore(PARALLEL)

    async def one(code: str) -> None:
        async with gate:
            for attempt in range(3):
                record = await workflow_record(client, code)
                async with sessions() as session:
                    differences = await drift(session, code, record)
                if not differences:
                    return
                await asyncio.sleep(0.2 * (attempt + 1))
            found[code] = differences

    await asyncio.gather(*(one(code) for code in codes))
    return len(codes), [line for code in sorted(found) for line in found[code]]
