"""Tasks: assign (one, or a program file), act on one, read them. Every decision about a task is
taken here, once, for the JSON API and the pages alike.

What happened to a task is its workflow's to say: an action is decided on the state the workflow
holds and answered with the state the workflow recorded. Reads come from the projection."""

import asyncio
import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import Select, and_, case, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from starlette.datastructures import UploadFile

import messages
from db import models, states, word_index
from domain.actors import Actor, Relation, Role
from domain.commands import Action, ActionRequest, EvidenceSubmit, SubtaskCreate, fingerprint
from domain.deadlines import due_of
from domain.program_file import read_rows, spec_from_row
from domain.refusals import Code, Refusal
from domain.stages import CLOSED_STAGES, Stage
from domain.task import EvidenceFile, TaskSpec, TaskState
from domain.text import fold
from messages.fields import field_errors
from services import authorization, logs, people
from services.blobs import MAX_FILES, Fetched
from services.context import Context
from services.metrics import counting_action
from services.views import (
    AgencyRelation,
    Directive,
    GroupDetail,
    GroupedTaskPage,
    GroupView,
    HistoryEntry,
    ImportError_,
    ImportResult,
    SubtaskLine,
    SubtaskRollup,
    TaskDetail,
    TaskFilter,
    TaskPage,
    TaskView,
)
from services.workflows import (
    StaleDecision,
    created_state,
    key_reused,
    prior_answer,
    send_action,
    start_task,
    workflow_state,
)
from workflows.start import TaskStart

MAX_IMPORT_BYTES = 10 * 1024 * 1024
IMPORT_AT_ONCE = 16  # rows of a program file started together (Temporal takes them in parallel)
EXPORT_LIMIT = 10_000

# How an adapter turns what a person sent into the action's command, given the task's state (a
# form names KPIs by their place in the task). Called only once the person may act.
CommandBuilder = Callable[[TaskState], Awaitable[BaseModel]]


# --- assigning -----------------------------------------------------------------------------------


async def create(ctx: Context, actor: Actor, spec: TaskSpec, idempotency_key: str | None = None
                 ) -> TaskState | GroupView:
    """Retried with the same Idempotency-Key, it answers what it created. A lead that names a group
    of agencies, or lists agencies' codes separated by `;`, creates one task per member (a group
    directive; `spec` is then a Directive, whose lead may be that long)."""
    authorization.require(ctx.enforcer, actor, "task.create")
    return await assign(ctx, spec, actor.username, idempotency_key)


# TaskGroup.agency_group of a directive to agencies listed by code (its spec's lead keeps the list).
LISTED = "list"


def listed_agencies(lead: str) -> list[str] | None:
    """The agencies a lead written as codes separated by `;` addresses ("BTC;BCA;BYT"), in order and
    each once; None for a lead that is one code (an agency's or a group's)."""
    if ";" not in lead:
        return None
    listed = list(dict.fromkeys(code.strip() for code in lead.split(";") if code.strip()))
    return None if len(listed) == 1 else listed  # "BTC;" (a spreadsheet's trailing separator) is BTC


@dataclass(frozen=True)
class Known:
    """What the checks before a start read from the database, for many specs at once (a program
    file's rows): which of the agencies they name exist, the agency groups among their leads (with
    their members), and which of their codes are group directives'."""

    agencies: frozenset[str]
    groups: dict[str, list[str]]
    directives: frozenset[str]

    def missing(self, codes: Sequence[str]) -> list[str]:
        """Those of these agencies' codes that no agency has, in their order."""
        return [code for code in codes if code not in self.agencies]


def _unknown_agencies(field: str, codes: Sequence[str]) -> Refusal:
    """The refusal of a field naming agencies that do not exist: every stranger named at once."""
    return Refusal(Code.UNKNOWN_AGENCIES, field=field, agencies=", ".join(f"'{code}'" for code in codes))


def _one_lead(lead: str) -> str:
    """A lead of one agency as it is started ("BTC;", a spreadsheet's trailing separator, is BTC)."""
    return lead.strip().strip(";").strip()


KNOWN_AT_ONCE = 500  # codes in one IN of _known's reads (SQLite binds each as a variable)


async def assign(ctx: Context, spec: TaskSpec, by: str, idempotency_key: str | None = None,
                 known: Known | None = None) -> TaskState | GroupView:
    """A lead that lists agencies or names a group is a group directive; any other lead starts one
    task, its spec held to TaskSpec's own bounds (only a list may be longer than an agency's code).
    `known`: what the database holds about the names in this spec, read with other specs' (an
    import's file); read here when not given."""
    if (listed := listed_agencies(spec.lead_agency)) is not None:
        if not listed:
            raise Refusal(Code.UNKNOWN_AGENCY, field="lead_agency", agency=spec.lead_agency)
        written = spec.model_copy(update={"lead_agency": ";".join(listed)})  # a retry reads the same
        return await assign_group(ctx, written, LISTED, listed, by, idempotency_key)
    if known is None:
        async with ctx.sessions() as session:
            known = await _known(session, [spec])
    if (members := known.groups.get(spec.lead_agency)) is not None:
        return await assign_group(ctx, spec, spec.lead_agency, members, by, idempotency_key)
    lead = _one_lead(spec.lead_agency)
    return await start(ctx, TaskSpec.model_validate({**spec.model_dump(mode="json"), "lead_agency": lead}), by,
                       idempotency_key, known)


async def assign_group(ctx: Context, spec: TaskSpec, group: str, members: list[str], by: str,
                       idempotency_key: str | None = None) -> GroupView:
    """One task per member, each its own workflow (`<code>-<member>`); the group's item records
    which (`group`: the group's code, or LISTED). Every member's task is checked as any task is
    before anything is recorded; retried, it starts what a first attempt did not and answers the
    same item."""
    children = [f"{spec.code}-{member}" for member in members]
    async with ctx.sessions() as session:
        if await session.get(models.Task, spec.code) is not None:
            raise Refusal(Code.TASK_EXISTS, task=spec.code)
        # Each member's task, checked as any task is (a child's code, too long say, is refused whole).
        specs = [TaskSpec.model_validate({**spec.model_dump(mode="json"), "code": child, "lead_agency": member,
                                          "coordinating_agencies": [c for c in spec.coordinating_agencies
                                                                    if c != member]})
                 for member, child in zip(members, children, strict=True)]
        known = await _known(session, specs)
    if unknown := known.missing(members):
        raise _unknown_agencies("lead_agency", unknown)
    for child_spec in specs:
        _check(known, child_spec)
    async with ctx.sessions() as session:
        if await session.get(models.TaskGroup, spec.code) is None:
            session.add(models.TaskGroup(code=spec.code, agency_group=group, spec=spec.model_dump(mode="json"),
                                         children=children, created_by=by, created_at=datetime.now(UTC)))
            with contextlib.suppress(IntegrityError):  # the same directive sent twice at once
                await session.commit()
    async with ctx.sessions() as session:
        recorded = await session.get(models.TaskGroup, spec.code)
    if recorded is None or recorded.spec != spec.model_dump(mode="json") or recorded.created_by != by:
        raise Refusal(Code.TASK_EXISTS, task=spec.code)
    for child_spec in specs:
        try:
            await start(ctx, child_spec, by, idempotency_key, known)
        except Refusal as refusal:
            if refusal.code != Code.TASK_EXISTS:
                raise
    return (await _group(ctx, spec.code))[0]


async def _group(ctx: Context, code: str) -> tuple[GroupView, list[TaskState]]:
    async with ctx.sessions() as session:
        item = await session.get(models.TaskGroup, code)
        if item is None:
            raise Refusal(Code.TASK_NOT_FOUND, task=code)
        return (await _rolled_up(session, [item]))[0]


async def _rolled_up(session: AsyncSession, items: list[models.TaskGroup]) -> list[tuple[GroupView, list[TaskState]]]:
    """Each group directive's item with what its children's projections add up to, and those
    children (in the item's order; one not yet projected counts as 0% and in no stage)."""
    codes = [code for item in items for code in item.children]
    found = {state.code: state for state in await states.read(session, select(models.Task).where(
        models.Task.code.in_(codes)))}
    specs = [Directive.model_validate(item.spec) for item in items]
    # What the item is addressed to: the group's name, or the listed agencies' names.
    lists = {item.code: listed_agencies(spec.lead_agency) or [] for item, spec in zip(items, specs, strict=True)
             if item.agency_group == LISTED}
    groups = {group.code: group.name for group in await session.scalars(
        select(models.AgencyGroup).where(models.AgencyGroup.code.in_({item.agency_group for item in items})))}
    agencies = {agency.code: agency.name for agency in await session.scalars(
        select(models.Agency).where(models.Agency.code.in_({code for codes in lists.values() for code in codes})))}
    rolled = []
    for item, spec in zip(items, specs, strict=True):
        members = [found[code] for code in item.children if code in found]
        counts = Counter(state.stage for state in members)
        view = GroupView(
            code=item.code, title=spec.title, lead_agency=spec.lead_agency,
            group_name=", ".join(agencies.get(code, code) for code in lists[item.code]) if item.code in lists
            else groups.get(item.agency_group, item.agency_group),
            deadline_text=spec.deadline, source=spec.source, children=item.children,
            progress=round(sum(state.percent for state in members) / len(item.children)) if members else 0,
            stages={stage: counts[stage] for stage in Stage if counts[stage]},
            overdue=sum(state.overdue for state in members),
            completed=len(members) == len(item.children) and all(state.stage in CLOSED_STAGES for state in members))
        rolled.append((view, members))
    return rolled


def reads_groups(ctx: Context, actor: Actor) -> bool:
    """Whether this person reads group directives' items (and sees the task list folded by group):
    whoever reads every task. Each member reads its own task."""
    return authorization.may_on_any_task(ctx.enforcer, actor, "task.read")


async def group_detail(ctx: Context, actor: Actor, code: str) -> GroupDetail:
    """A group directive's item and one line per child task, for whoever reads group directives (an
    unknown code is 404 to anyone, as an unknown task is)."""
    view, states = await _group(ctx, code)
    if not reads_groups(ctx, actor):
        raise Refusal(Code.NOT_PERMITTED, username=actor.username, action="task.read")
    return GroupDetail(group=view, children=[SubtaskLine.of(state) for state in states])


async def read_group(ctx: Context, actor: Actor, code: str) -> GroupView:
    """A group directive's item, for whoever reads every task (each member reads its own task)."""
    return (await group_detail(ctx, actor, code)).group


async def start(ctx: Context, spec: TaskSpec, by: str, idempotency_key: str | None = None,
                known: Known | None = None) -> TaskState:
    """Start the task's workflow once its agencies check out. Whether the code is new is Temporal's
    to say (one workflow per code), not the projection's."""
    if known is None:
        async with ctx.sessions() as session:  # closed before Temporal is asked
            known = await _known(session, [spec])
    _check(known, spec)
    settings = ctx.settings
    begin = TaskStart(spec=spec, deadline=due_of(spec.deadline, settings.timezone), created_by=by,
                      settings=settings.lifecycle, request_id=idempotency_key)
    return await start_task(ctx.temporal, settings.task_queue, begin, settings.action_timeout)


async def _known(session: AsyncSession, specs: Sequence[TaskSpec]) -> Known:
    """Three reads for any number of specs (each IN in chunks of KNOWN_AT_ONCE). The agencies read
    are all those the specs name, the members of a lead that lists them and of a group among the leads too."""
    leads = {spec.lead_agency for spec in specs} | {_one_lead(spec.lead_agency) for spec in specs}
    groups = {group.code: group.members for group in await _with_codes(session, models.AgencyGroup, leads)}
    named = leads | {code for spec in specs for code in spec.coordinating_agencies} | {
        spec.directing_agency for spec in specs if spec.directing_agency} | {
        code for lead in leads for code in listed_agencies(lead) or groups.get(lead, [])}
    return Known(agencies=frozenset(await _with_codes(session, models.Agency.code, named)), groups=groups,
                 directives=frozenset(await _with_codes(session, models.TaskGroup.code, {spec.code for spec in specs})))


async def _with_codes(session: AsyncSession, what: Any, codes: set[str]) -> list[Any]:
    """`what` (a model, or its `code` column) where its code is one of `codes`."""
    column = what if isinstance(what, InstrumentedAttribute) else what.code
    ordered = sorted(codes)
    return [found for first in range(0, len(ordered), KNOWN_AT_ONCE)
            for found in await session.scalars(select(what).where(column.in_(ordered[first:first + KNOWN_AT_ONCE])))]


def _check(known: Known, spec: TaskSpec) -> None:
    """A task's agencies exist and stand apart, and its code is no group directive's."""
    if spec.lead_agency not in known.agencies:
        raise Refusal(Code.UNKNOWN_AGENCY, field="lead_agency", agency=spec.lead_agency)
    if spec.code in known.directives:  # a group directive's code
        raise Refusal(Code.TASK_EXISTS, task=spec.code)
    if strangers := known.missing(spec.coordinating_agencies):
        raise _unknown_agencies("coordinating_agencies", strangers)
    if spec.directing_agency == spec.lead_agency:
        raise Refusal(Code.DIRECTING_IS_LEAD, field="directing_agency", agency=spec.directing_agency)
    if spec.directing_agency is not None and spec.directing_agency not in known.agencies:
        raise Refusal(Code.UNKNOWN_AGENCY, field="directing_agency", agency=spec.directing_agency)
    if spec.lead_agency in spec.coordinating_agencies:
        raise Refusal(Code.LEAD_ALSO_COORDINATES, field="coordinating_agencies", agency=spec.lead_agency)


ProgramRow = tuple[int, dict[str, str], TaskSpec | ValidationError | Refusal]  # number, cells, what it reads as


def _program_rows(content: bytes, filename: str) -> list[ProgramRow]:
    """A program file's rows that are not blank, each with its number (the header is row 1) and what
    it reads as: a directive, or why it cannot be one."""
    rows: list[ProgramRow] = []
    for number, row in enumerate(read_rows(content, filename), start=2):
        if any(row.values()):
            try:
                rows.append((number, row, spec_from_row(row, Directive)))
            except (ValidationError, Refusal) as error:
                rows.append((number, row, error))
    return rows


async def import_program(ctx: Context, actor: Actor, content: bytes, filename: str) -> ImportResult:
    """Every row of a program file (.csv or .xlsx) becomes a task; a code already assigned is
    skipped, a row that breaks a rule is reported with its number and the sentence."""
    authorization.require(ctx.enforcer, actor, "task.import")
    if len(content) > MAX_IMPORT_BYTES:
        raise Refusal(Code.IMPORT_TOO_LARGE, max_mb=MAX_IMPORT_BYTES // (1024 * 1024))
    result = ImportResult(created=[], skipped=[], errors=[])
    gate = asyncio.Semaphore(IMPORT_AT_ONCE)

    rows = _program_rows(content, filename)
    async with ctx.sessions() as session:  # what every row's checks read, read once for the file
        known = await _known(session, [spec for _, _, spec in rows if isinstance(spec, TaskSpec)])

    async def one(number: int, row: dict[str, str], spec: TaskSpec | ValidationError | Refusal) -> ImportResult:
        """One row's part of the answer (the rows start together, a few at a time; the answer keeps their order)."""
        async with gate:
            try:
                if not isinstance(spec, TaskSpec):
                    raise spec
                made = await assign(ctx, spec, actor.username, known=known)
                return ImportResult(created=made.children if isinstance(made, GroupView) else [made.code],
                                    skipped=[], errors=[])
            except ValidationError as error:
                detail = "; ".join(f"{e['field']}: {e['message']}" for e in field_errors(list(error.errors())))
                return ImportResult(created=[], skipped=[], errors=[ImportError_(row=number, detail=detail)])
            except Refusal as refusal:
                if refusal.code == Code.TASK_EXISTS:
                    return ImportResult(created=[], skipped=[row.get("code", "")], errors=[])
                return ImportResult(created=[], skipped=[],
                                    errors=[ImportError_(row=number, detail=messages.detail(refusal))])

    async def again(code: str) -> ImportResult:  # a code an earlier row of the file has: that row's task
        return ImportResult(created=[], skipped=[code], errors=[])

    seen: set[str] = set()
    parts = []
    for number, row, spec in rows:
        code = (row.get("code") or "").strip()
        parts.append(again(code) if code and code in seen else one(number, row, spec))
        seen.add(code)
    for part in await asyncio.gather(*parts):
        result.created += part.created
        result.skipped += part.skipped
        result.errors += part.errors
    return result



class PreviewRow(BaseModel):
    """What one row of a program file would become, said before anything is created: `new` (its
    spec), `exists` (a code already assigned: the import skips it) or `error` (the sentence)."""

    row: int
    status: str
    code: str
    spec: Directive | None = None
    deadline: datetime | None = None
    detail: str = ""


async def preview_program(ctx: Context, actor: Actor, content: bytes, filename: str, language: str = "vi"
                          ) -> list[PreviewRow]:
    """import_program's reading of the file, row by row, without starting anything: the same parser
    and the same checks of agencies and codes, so the Office sees what confirming will do."""
    authorization.require(ctx.enforcer, actor, "task.import")
    if len(content) > MAX_IMPORT_BYTES:
        raise Refusal(Code.IMPORT_TOO_LARGE, max_mb=MAX_IMPORT_BYTES // (1024 * 1024))
    lines = _program_rows(content, filename)
    read = [spec for _, _, spec in lines if isinstance(spec, TaskSpec)]
    async with ctx.sessions() as session:  # what every row's checks read, read once for the file
        known = await _known(session, read)
        assigned = set(await _with_codes(session, models.Task.code, {spec.code for spec in read}))
    rows: list[PreviewRow] = []
    for number, row, spec in lines:
        code = row.get("code", "")
        try:
            if not isinstance(spec, TaskSpec):
                raise spec
            if spec.code in assigned or spec.code in known.directives:
                raise Refusal(Code.TASK_EXISTS, task=spec.code)
            members = listed_agencies(spec.lead_agency) or known.groups.get(spec.lead_agency)
            if members is None:
                _check(known, TaskSpec.model_validate(spec.model_dump(mode="json")))
            elif unknown := known.missing(members):
                raise _unknown_agencies("lead_agency", unknown)
            rows.append(PreviewRow(row=number, status="new", code=spec.code, spec=spec,
                                   deadline=due_of(spec.deadline, ctx.settings.timezone)))
        except ValidationError as error:
            detail = "; ".join(f"{e['field']}: {e['message']}" for e in field_errors(list(error.errors()), language))
            rows.append(PreviewRow(row=number, status="error", code=code, detail=detail))
        except Refusal as refusal:
            exists = refusal.code == Code.TASK_EXISTS
            rows.append(PreviewRow(row=number, status="exists" if exists else "error", code=code,
                                   detail="" if exists else messages.detail(refusal, language)))
    return rows

# --- acting --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Permit:
    """What the checks before an action found: the task's state they were decided on, and whether
    the workflow already answered this Idempotency-Key (`answered` is then the fingerprint of the
    body it answered, "" when unknown). `seq` is set when the state came from the task's projection:
    the workflow then takes the action only at that state (ActionRequest.seq)."""

    actor: Actor
    code: str
    action: str
    state: TaskState
    idempotency_key: str | None = None
    answered: str | None = None
    seq: int | None = None


async def permit(ctx: Context, actor: Actor, code: str, action: str, idempotency_key: str | None = None) -> Permit:
    """Unknown action 404, unknown task 404, wrong stage 409, policy 403 — in that order. An action
    the task's projection allows goes to the workflow decided on that state, and the workflow takes it
    only if its state is still that one (no round trip to ask it first); anything else — a refusal, a
    task not yet projected, a key already used on it — is decided on the state the workflow holds. A
    retried request whose Idempotency-Key the workflow already answered is let through to get that
    answer back: its first attempt passed the checks."""
    logs.bind(task=code)
    with counting_action(action, refusals_only=True):
        if action not in set(Action):
            raise Refusal(Code.ACTION_NOT_FOUND, action=action)
        projected = await _projected(ctx, code, idempotency_key)
        if projected is not None:
            with contextlib.suppress(Refusal):  # a refusal is the workflow's state's to confirm
                authorization.decide(ctx.enforcer, actor, projected, Action(action))
                return Permit(actor, code, action, projected, idempotency_key, seq=projected.seq)
        return await _permit_on_workflow(ctx, actor, code, action, idempotency_key)


async def _projected(ctx: Context, code: str, idempotency_key: str | None) -> TaskState | None:
    """The task's state as projected, unless it has none or this key is already recorded on it."""
    async with ctx.sessions() as session:  # closed before Temporal is asked
        state = await states.one(session, code)
        if state is None:
            return None
        if idempotency_key and await session.scalar(select(models.Event.seq).where(
                models.Event.task_code == code, models.Event.request_id == idempotency_key).limit(1)) is not None:
            return None
        return state


async def _permit_on_workflow(ctx: Context, actor: Actor, code: str, action: str,
                              idempotency_key: str | None) -> Permit:
    wait = ctx.settings.action_timeout
    if idempotency_key:
        prior = await prior_answer(ctx.temporal, code, idempotency_key, actor.username, action, wait)
        if prior is not None:
            return Permit(actor, code, action, prior[0], idempotency_key, answered=prior[1])
    state = await workflow_state(ctx.temporal, code, wait)
    authorization.decide(ctx.enforcer, actor, state, Action(action))
    return Permit(actor, code, action, state, idempotency_key)


async def act(ctx: Context, allowed: Permit, build: CommandBuilder) -> TaskState:
    """The command's own fields (422), the people it names, then the workflow decides and records;
    the answer is the state it recorded. A repeat of an answered request gets the first answer. Decided
    on a projection the workflow's state has moved past, it is decided again on the workflow's."""
    with counting_action(allowed.action):
        try:
            return await _send(ctx, allowed, build)
        except StaleDecision:
            assert allowed.seq is not None
            again = await _permit_on_workflow(ctx, allowed.actor, allowed.code, allowed.action,
                                              allowed.idempotency_key)
            return await _send(ctx, again, build)


async def _send(ctx: Context, allowed: Permit, build: CommandBuilder) -> TaskState:
    command = await build(allowed.state)
    sent = fingerprint(command)  # what the client sent, before the server fills in more
    if allowed.answered is not None:
        if allowed.answered and allowed.answered != sent:
            assert allowed.idempotency_key is not None
            raise key_reused(allowed.idempotency_key)
        return allowed.state
    request = ActionRequest(actor=allowed.actor, command=await _with_people(ctx, command, allowed.state),
                            fingerprint=sent, seq=allowed.seq)
    return await send_action(ctx.temporal, allowed.code, request, allowed.idempotency_key,
                             ctx.settings.action_timeout, ctx.settings.proof_key)


async def split(ctx: Context, actor: Actor, code: str, command: SubtaskCreate,
                idempotency_key: str | None = None) -> TaskState:
    """Cascading down the chain ("theo ngành dọc đến cấp xã"): the lead's head hands part of the task
    down to a unit of its own. The parent's workflow decides (stage, policy, the unit under the lead,
    the deadline) and starts the part's own workflow; the answer is the part once its creation is
    recorded. Retried with the same Idempotency-Key, the same part."""
    allowed = await permit(ctx, actor, code, Action.SUBTASK_CREATE, idempotency_key)

    async def build(_: TaskState) -> SubtaskCreate:
        return command  # the agencies above the unit are filled in by _with_people

    await act(ctx, allowed, build)
    return await created_state(ctx.temporal, command.code, ctx.settings.action_timeout)


async def evidence(ctx: Context, uploads: list[UploadFile], summary: str, kpi_results: dict[str, Any]
                   ) -> EvidenceSubmit:
    """The evidence.submit command: the files go to the blob store first."""
    uploads = [upload for upload in uploads if upload.filename]
    if len(uploads) > MAX_FILES:
        raise Refusal(Code.TOO_MANY_FILES, field="files", max=MAX_FILES)
    if not uploads:
        raise Refusal(Code.FILES_REQUIRED, field="files")
    files = [await ctx.blobs.save(upload) for upload in uploads]
    return EvidenceSubmit(summary=summary, kpi_results=kpi_results, files=files)


async def _with_people(ctx: Context, command: Any, state: TaskState) -> Any:
    """Names in a command must be real people in the right place; the server fills what follows
    from them (the reviewer's agency), never the client."""
    if command.action == "review.assign":
        reviewer = await people.person(ctx, command.reviewer)
        if reviewer is None:
            raise Refusal(Code.UNKNOWN_USER, field="reviewer", username=command.reviewer)
        if Role.CROSS_CHECK_REVIEWER not in reviewer.roles:
            raise Refusal(Code.NOT_A_REVIEWER, field="reviewer", username=reviewer.username)
        if reviewer.agency is not None:  # a unit under the lead does not judge its own agency's work
            async with ctx.sessions() as session:
                if await people.is_under(session, reviewer.agency, state.lead_agency):
                    raise Refusal(Code.REVIEWER_NOT_INDEPENDENT, field="reviewer")
        return command.model_copy(update={"reviewer_agency": reviewer.agency})
    if command.action == "accept" and command.officer:
        officer = await people.person(ctx, command.officer)
        if officer is None or officer.agency != state.lead_agency:
            raise Refusal(Code.OFFICER_NOT_OF_LEAD, field="officer", username=command.officer,
                          agency=state.lead_agency)
    if command.action == "correct" and command.coordinating_agencies:
        if unknown := await people.missing_agencies(ctx, command.coordinating_agencies):
            raise _unknown_agencies("coordinating_agencies", unknown)
    moved_to = command.lead_agency if command.action == "reassign" else None
    if moved_to and await people.missing_agencies(ctx, [moved_to]):
        raise Refusal(Code.UNKNOWN_AGENCY, field="lead_agency", agency=command.lead_agency)
    if command.action in ("accept", "reassign") and command.accountable:
        lead = moved_to or state.lead_agency
        head = await people.person(ctx, command.accountable)
        if head is None:
            raise Refusal(Code.UNKNOWN_USER, field="accountable", username=command.accountable)
        if Role.AGENCY_HEAD not in head.roles or head.agency != lead:
            raise Refusal(Code.NOT_AN_AGENCY_HEAD, field="accountable", username=head.username, agency=lead)
        command = command.model_copy(update={"accountable_agency": head.agency})
    if command.action == "subtask.create":
        return await _unit_placed(ctx, command)
    return command


async def _unit_placed(ctx: Context, command: SubtaskCreate) -> SubtaskCreate:
    """A sub-task's unit must exist and its code be free; the agencies above the unit come from the
    reference data, filled in by the server (the workflow checks the lead is among them)."""
    async with ctx.sessions() as session:
        if await people.missing(session, [command.lead_agency]):
            raise Refusal(Code.UNKNOWN_AGENCY, field="lead_agency", agency=command.lead_agency)
        taken = (await session.get(models.Task, command.code) is not None
                 or await session.get(models.TaskGroup, command.code) is not None)
        ancestors = await people.ancestors(session, command.lead_agency)
    if taken:
        raise Refusal(Code.TASK_EXISTS, task=command.code)
    return command.model_copy(update={"lead_ancestors": ancestors})


# --- reading -------------------------------------------------------------------------------------


async def read(ctx: Context, actor: Actor, code: str, action: str = "task.read") -> TaskState:
    """The task as the projection holds it: for reading, never as proof of what happened."""
    logs.bind(task=code)
    async with ctx.sessions() as session:
        return await _readable(ctx, session, actor, code, action)


async def _readable(ctx: Context, session: AsyncSession, actor: Actor, code: str,
                    action: str = "task.read") -> TaskState:
    state = await states.one(session, code)
    if state is None:
        raise Refusal(Code.TASK_NOT_FOUND, task=code)
    authorization.may_read(ctx.enforcer, actor, state, action)
    return state


async def history(ctx: Context, actor: Actor, code: str) -> list[HistoryEntry]:
    async with ctx.sessions() as session:
        await _readable(ctx, session, actor, code)
        return await _history(session, code)


async def _history(session: AsyncSession, code: str) -> list[HistoryEntry]:
    rows = await session.scalars(select(models.Event).where(models.Event.task_code == code).order_by(models.Event.seq))
    return [HistoryEntry.model_validate(row) for row in rows]


async def detail(ctx: Context, actor: Actor, code: str) -> TaskDetail:
    """Everything a task's page shows: the task, its history, what this person may do now (the task
    and its history read in one session)."""
    async with ctx.sessions() as session:
        state = await _readable(ctx, session, actor, code)
        entries = await _history(session, code)
    actions = authorization.permitted_actions(ctx.enforcer, actor, state)
    units = await people.units(ctx, state.lead_agency) if Action.SUBTASK_CREATE in actions else []
    return TaskDetail.of(state, entries, actions, await people.reviewers(ctx),
                         await rollup(ctx, state), units, max_upload_mb=ctx.settings.max_upload_mb)


async def rollup(ctx: Context, state: TaskState) -> SubtaskRollup | None:
    """What a task's sub-tasks add up to (None for a task with none): each part's stage and percent,
    their average (a cancelled part does not count), and each KPI's latest figures added up."""
    if not state.subtasks:
        return None
    async with ctx.sessions() as session:
        found = {part.code: part for part in await states.read(session, select(models.Task).where(
            models.Task.code.in_(state.subtasks)))}
    parts = [found[code] for code in state.subtasks if code in found]
    counted = [part for part in parts if part.stage != Stage.CANCELLED]
    actuals: dict[str, float] = {}
    for part in counted:
        for name, value in part.latest_actuals.items():
            actuals[name] = actuals.get(name, 0.0) + value
    # A part whose own workflow has not yet written its row (a moment after the split) is listed by its code.
    lines = [SubtaskLine.of(found[code]) if code in found else
             SubtaskLine(code=code, title="", lead_agency="", stage=Stage.ASSIGNED, percent=0, deadline_text="",
                         overdue=False) for code in state.subtasks]
    return SubtaskRollup(percent=round(sum(part.percent for part in counted) / len(counted)) if counted else 0,
                         kpi_actuals=actuals, open=state.open_subtasks, parts=lines)


async def evidence_file(ctx: Context, actor: Actor, code: str, sha256: str) -> tuple[Fetched, EvidenceFile]:
    """A stored evidence file of the task, checked against the SHA-256 recorded for it. The caller
    serves `Fetched.path` and then discards it (a copy from a bucket is removed)."""
    state = await read(ctx, actor, code, "evidence.read")
    found = [file for item in state.evidence for file in item.files if file.sha256 == sha256]
    fetched = await ctx.blobs.fetch(sha256) if found else None
    if fetched is None:
        raise Refusal(Code.EVIDENCE_NOT_FOUND, sha256=sha256, task=code)
    if fetched.sha256 != sha256:
        fetched.discard()
        raise Refusal(Code.EVIDENCE_CHANGED, filename=found[0].filename)
    return fetched, found[0]


RELATIONS: dict[str, tuple[str, ...]] = {
    "any": (Relation.LEAD.value, Relation.COORDINATING.value),
    "lead": (Relation.LEAD.value,), "coordinating": (Relation.COORDINATING.value,)}
"""What "an agency's tasks" means in a filter: those it leads, coordinates, or either. Directing a
task or overseeing a part of it is not having it."""


def _held_by(agency: str, relation: AgencyRelation) -> Any:
    """An agency's row (db/models.py TaskAgency) of a task it stands to in that relation."""
    return and_(models.TaskAgency.agency == agency, models.TaskAgency.relation.in_(RELATIONS[relation]))


def of_agency(agency: str, relation: AgencyRelation = "any") -> Select[str]:
    """The codes of the tasks the agency stands to in that relation."""
    return select(models.TaskAgency.task_code).where(_held_by(agency, relation))


_STAGE_ORDER = case({stage.value: number for number, stage in enumerate(Stage)}, value=models.Task.stage)
_SORT_COLUMNS: dict[str, Any] = {"code": models.Task.code, "title": models.Task.title,
                                 "lead_agency": models.Task.lead_agency, "stage": _STAGE_ORDER,
                                 "deadline": models.Task.deadline, "updated": models.Task.updated_at}


def matching(words: str) -> Any:
    """Tasks whose code, title, product or agencies' names hold the words, whatever their case and
    accents: a substring of the folded search text, found by its index (db/models.py Task)."""
    return models.Task.search.like(_pattern(words), escape="/")  # one pattern: PostgreSQL plans it by trigrams


def _pattern(words: str) -> str:
    """The LIKE pattern of the folded words anywhere in a text, '/' its escape."""
    return f"%{word_index.like_escaped(fold(words))}%"


def selection(ctx: Context, actor: Actor, chosen: TaskFilter, walk: bool = False) -> Any:
    """The query of the tasks this person may read that the filters select, in the order chosen (the
    task list, its export and the status classes select with it). `walk`: authorization.among."""
    query = authorization.readable_tasks(ctx.enforcer, actor, walk)
    if chosen.stage is not None:
        query = query.where(models.Task.stage == chosen.stage.value)
    ordered_by_agency = chosen.agency if chosen.sort == "deadline" else None
    if ordered_by_agency:  # the agency's rows, read in the deadline order they keep (db/models.py TaskAgency)
        query = query.join(models.TaskAgency, and_(models.TaskAgency.task_code == models.Task.code,
                                                   _held_by(ordered_by_agency, chosen.relation)))
    elif chosen.agency:
        query = query.where(authorization.among(of_agency(chosen.agency, chosen.relation), walk))
    if chosen.overdue is not None:
        query = query.where(models.Task.overdue == chosen.overdue)
    if chosen.document:
        query = query.where(models.Task.state["spec"]["source"]["document"].as_string() == chosen.document)
    if chosen.codes:
        query = query.where(models.Task.code.in_(chosen.codes))
    if _words(chosen):
        query = query.where(matching(_words(chosen)))
    if ordered_by_agency:  # the same order: an agency's row keeps its task's deadline
        return query.order_by(models.TaskAgency.deadline, models.TaskAgency.task_code)
    column = _SORT_COLUMNS[chosen.sort.lstrip("-")]
    first = column.desc() if chosen.sort.startswith("-") else column.asc()
    # Ties by deadline, then code, each named once: the order the index (deadline, code) holds, so a
    # page reads its rows and stops (deadline named twice made SQLite sort every task of a deadline).
    ties = [tie for tie in (models.Task.deadline, models.Task.code) if tie is not column]
    return query.order_by(first, *ties)


def counting(query: Any, at_most: int | None = None) -> Any:
    """How many rows a selection holds, counted without its order or its columns (no sort, no JSON
    read), and no further than `at_most`: the lists' totals."""
    codes = query.order_by(None).with_only_columns(models.Task.code)
    return select(func.count()).select_from((codes if at_most is None else codes.limit(at_most)).subquery())


# Words to find have no index that counts them: a common one's tasks are counted this far and no
# further (a page of them is found at once; counting every one of 100,000 tasks is not).
SEARCH_COUNTED = 1000


async def _rare(session: AsyncSession, chosen: TaskFilter) -> Sequence[str] | None:
    """A search for rare words: the codes of their few tasks, found by the word index (db/word_index.py:
    SQLite's for any words, PostgreSQL's for words with a digit and no space); None otherwise (a common
    word's tasks are met at once walking the list's order, or by PostgreSQL's trigrams). Any search's
    statements are then planned for its words (`word_index.planned_for_the_words`)."""
    if not _words(chosen):
        return None
    await word_index.planned_for_the_words(session)
    return await word_index.few_codes(session, fold(_words(chosen)))


def _among(query: Any, codes: Sequence[str] | None) -> Any:
    return query if codes is None else query.where(models.Task.code.in_(codes))


async def walks(session: AsyncSession, total: int) -> bool:
    """Whether to walk the index of the order wanted (authorization.among) to a page of the `total`
    tasks selected rather than look them up and sort them: a page's 50 are met after about 50·N/total
    of the N tasks, each a step of an index, where looking all of them up costs about eight such steps
    each (100,000 tasks, an agency's 2,400: 1 ms against 7 on SQLite, 3 against 30 on PostgreSQL)."""
    if not total:
        return False
    return total * total >= 8 * await _program_size(session)


async def _program_size(session: AsyncSession) -> float:
    """How many tasks there are, near enough and at no cost: the highest rowid SQLite gave, or the
    count PostgreSQL's statistics keep (autovacuum's; with none yet, -1, nothing is walked)."""
    if session.get_bind().dialect.name == "sqlite":
        return await session.scalar(text("SELECT max(rowid) FROM tasks")) or 0
    estimate = await session.scalar(text("SELECT reltuples FROM pg_class WHERE oid = 'tasks'::regclass"))
    return float("inf") if estimate is None or estimate < 0 else estimate


async def _walked(session: AsyncSession, chosen: TaskFilter, total: int, codes: Sequence[str] | None) -> bool:
    """A list's page walks the deadline order (`walks`), unless a rare word's codes are looked up or
    another order is chosen (only the deadline's has its index)."""
    return codes is None and chosen.sort == "deadline" and await walks(session, total)


def _count(ctx: Context, actor: Actor, chosen: TaskFilter) -> Any | None:
    """The statement of the selection's total that reads no task's row, where nothing else selects (no
    stage, lateness, words, document or codes chosen): the counts kept of every task (db/models.py
    TaskCount) and of each agency's (AgencyTaskCount), for whoever reads every task, unfiltered or by
    agency, and for whoever reads their agency's tasks and those they review
    (authorization.readable_count); for the latter by agency, their codes and the agency's counted off
    the agencies' and reviewers' indexes (an agency's 2,400 tasks of 100,000: about 1 ms against 4 on
    PostgreSQL). None otherwise."""
    if _narrowed(chosen) or _words(chosen):
        return None
    if authorization.reads_every_task(ctx.enforcer, actor):
        if chosen.agency:
            return select(authorization.agency_count(chosen.agency, RELATIONS[chosen.relation]))
        return select(models.TaskCount.tasks)
    if not chosen.agency:
        return authorization.readable_count(ctx.enforcer, actor)
    readable = authorization.readable_codes(ctx.enforcer, actor)
    if readable is None:
        return None
    codes = readable.subquery()
    code = next(iter(codes.c))
    return select(func.count()).select_from(codes).where(code.in_(of_agency(chosen.agency, chosen.relation)))


def _words_alone(ctx: Context, actor: Actor, chosen: TaskFilter) -> str | None:
    """The words searched, where they alone select among every task (no other filter, a person who
    reads every task): their total is then counted off the word index's copy (db/word_index.py)."""
    words = _words(chosen)
    if not words or _narrowed(chosen) or chosen.agency or not authorization.reads_every_task(ctx.enforcer, actor):
        return None
    return words


def _words(chosen: TaskFilter) -> str:
    """The words searched, without the spaces around them; empty when none are."""
    return chosen.q.strip() if chosen.q else ""


def _narrowed(chosen: TaskFilter) -> bool:
    """Whether a filter other than the agency's and the words selects: a stage, lateness, a document, codes."""
    return chosen.stage is not None or chosen.overdue is not None or bool(chosen.document) or bool(chosen.codes)


async def _total(session: AsyncSession, query: Any, chosen: TaskFilter, counted: Any | None = None,
                 words: str | None = None) -> tuple[int, bool]:
    """The selection's total, and whether it is exact (a search's stops at SEARCH_COUNTED); read by the
    statement `counted` (`_count`), or counted off the word index (`_words_alone`), when it can."""
    if counted is not None:
        return await session.scalar(counted) or 0, True
    bound = SEARCH_COUNTED + 1 if _words(chosen) else None
    total = None if words is None or bound is None else await word_index.counted(session, _pattern(words), bound)
    if total is None:
        total = await session.scalar(counting(query, bound)) or 0
    return (SEARCH_COUNTED, False) if bound is not None and total >= bound else (total, True)


async def page(ctx: Context, actor: Actor, chosen: TaskFilter, limit: int, offset: int,
               grouped: bool = False) -> TaskPage:
    """A page of the tasks the filters select. `grouped` (a GroupedTaskPage): the children of group
    directives folded into their group's item, listed first, for whoever reads group directives —
    a group is listed when the filters select any of its children, and shows all of them."""
    if not grouped:
        found, total, exact = await _plain_page(ctx, actor, chosen, limit, offset)
        return TaskPage(items=[TaskView.of(state) for state in found], total=total, total_exact=exact)
    async with ctx.sessions() as session:
        codes = await _rare(session, chosen)
        query = _among(selection(ctx, actor, chosen), codes)
        items = list(await session.scalars(select(models.TaskGroup).order_by(models.TaskGroup.code))
                     ) if reads_groups(ctx, actor) else []
        children = [code for item in items for code in item.children]
        selected = set(await session.scalars(
            query.with_only_columns(models.Task.code).where(models.Task.code.in_(children))))
        listed = [item for item in items if selected.intersection(item.children)]
        shown = listed[offset:offset + limit]
        rest = query.where(models.Task.code.not_in(children))  # the groups, then the other tasks
        total, exact = await _total(session, rest, chosen)
        if await _walked(session, chosen, total, codes):
            rest = selection(ctx, actor, chosen, walk=True).where(models.Task.code.not_in(children))
        found = await states.read(session, rest.limit(limit - len(shown)).offset(max(0, offset - len(listed))))
        return GroupedTaskPage(items=[TaskView.of(state) for state in found],
                               total=len(listed) + total, total_exact=exact,
                               groups=[view for view, _ in await _rolled_up(session, shown)])


async def page_json(ctx: Context, actor: Actor, chosen: TaskFilter, limit: int, offset: int) -> bytes:
    """`page` (not grouped) as the API answers it: TaskPage's JSON, each task's text made with its
    state, not the whole page's again at every read (services/views.py TaskPage.json_of)."""
    return TaskPage.json_of(*await _plain_page(ctx, actor, chosen, limit, offset))


async def _plain_page(ctx: Context, actor: Actor, chosen: TaskFilter, limit: int,
                      offset: int) -> tuple[list[TaskState], int, bool]:
    """The states of a page of the tasks the filters select, their total and whether it is exact."""
    async with ctx.sessions() as session:
        codes = await _rare(session, chosen)
        query = _among(selection(ctx, actor, chosen), codes)
        words = _words_alone(ctx, actor, chosen)
        if words is not None:  # no order to walk among every task: the page first, then, if it is full, the rest
            found = await states.read(session, query.limit(limit).offset(offset))
            if offset == 0 and len(found) < limit:  # a rare word's few: the page holds them all
                return found, len(found), True
            # Their codes known, those are counted; else the word index counts them.
            return found, *await _total(session, query, chosen, words=words if codes is None else None)
        total, exact = await _total(session, query, chosen, _count(ctx, actor, chosen))
        if (first := _first_readable(ctx, actor, chosen)) is not None:
            query = first.params(first=offset + limit)
        elif await _walked(session, chosen, total, codes):
            query = selection(ctx, actor, chosen, walk=True)
        return await states.read(session, query.limit(limit).offset(offset)), total, exact


def _first_readable(ctx: Context, actor: Actor, chosen: TaskFilter) -> Select[Any] | None:
    """The tasks among the first codes, in the deadline's order, of those the person reads, where those
    are a set of codes and nothing else selects (authorization.readable_in_order: a page read off the
    agency's rows, however many tasks the program holds); the parameter `first` says how many. None
    otherwise."""
    if chosen.sort != "deadline" or _narrowed(chosen) or _words(chosen) or chosen.agency:
        return None
    ordered = authorization.readable_in_order(ctx.enforcer, actor)
    return None if ordered is None else (select(models.Task).where(models.Task.code.in_(ordered))
                                         .order_by(models.Task.deadline, models.Task.code))


async def export(ctx: Context, actor: Actor, chosen: TaskFilter) -> list[TaskView]:
    """Every task the filters select (up to EXPORT_LIMIT), for a download."""
    async with ctx.sessions() as session:
        query = _among(selection(ctx, actor, chosen), await _rare(session, chosen))
        return [TaskView.of(state) for state in await states.read(session, query.limit(EXPORT_LIMIT))]
