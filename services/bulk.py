"""Actions on a selection of tasks (the Standing Office's list): each task is its own action, decided
and recorded by its own workflow exactly as one taken alone; the answer says, per task, whether it
was done or why not. A few at a time, so a long selection neither floods Temporal nor waits forever."""

import asyncio
from collections.abc import Awaitable, Callable

from pydantic import BaseModel, Field, ValidationError

import messages
from activities.notifications import Notice, notify_in_app
from domain import limits
from domain.actors import Actor
from domain.commands import Comment, ReviewAssign
from domain.escalation import LEAD_AGENCY
from domain.refusals import Refusal
from domain.task import TaskState
from messages.fields import field_errors
from services import tasks
from services.context import Context

AT_ONCE = 4  # tasks acted on at the same time


class Selection(BaseModel):
    """The tasks chosen: their codes, at most a page of them."""

    codes: list[str] = Field(min_length=1, max_length=limits.ITEMS)


class Outcome(BaseModel):
    code: str
    done: bool
    message: str = Field(default="", description="why it was not done, in the reader's language")


async def _each(selection: Selection, language: str,
                one: Callable[[str], Awaitable[object]]) -> list[Outcome]:
    gate = asyncio.Semaphore(AT_ONCE)

    async def attempt(code: str) -> Outcome:
        async with gate:
            try:
                await one(code)
            except Refusal as refusal:
                return Outcome(code=code, done=False, message=messages.say(refusal.code, refusal.params, language))
            except ValidationError as error:
                said = field_errors(list(error.errors()), language)
                return Outcome(code=code, done=False, message="; ".join(e["message"] for e in said))
            return Outcome(code=code, done=True)

    return list(await asyncio.gather(*(attempt(code) for code in dict.fromkeys(selection.codes))))


async def assign_reviewer(ctx: Context, actor: Actor, selection: Selection, reviewer: str,
                          language: str) -> list[Outcome]:
    """`review.assign` of the same reviewer on each task chosen."""
    async def one(code: str) -> TaskState:
        async def build(_: TaskState) -> ReviewAssign:
            return ReviewAssign(reviewer=reviewer)
        return await tasks.act(ctx, await tasks.permit(ctx, actor, code, "review.assign"), build)

    return await _each(selection, language, one)


async def remind(ctx: Context, actor: Actor, selection: Selection, note: str, language: str) -> list[Outcome]:
    """The Office chases: a comment recorded on each task (its history keeps the reminder), then an
    in-app alert to the lead agency's heads and the officer in charge, at the comment's place in the
    history (a reminder, level 0)."""
    said = messages.gettext(messages.DEFAULT_LANGUAGE)  # what is recorded and sent is in the language of record

    async def one(code: str) -> None:
        text = said("bulk.reminder.text", note=note.strip()) if note.strip() else said("bulk.reminder.plain")

        async def build(_: TaskState) -> Comment:
            return Comment(text=text)
        state = await tasks.act(ctx, await tasks.permit(ctx, actor, code, "comment"), build)
        await notify_in_app(ctx.sessions, Notice(
            task_code=code, event_seq=state.seq, level=0, lead_agency=state.lead_agency, officer=state.officer,
            subject=said("bulk.reminder.subject", code=code, title=state.spec.title), body=text, data={},
            audience=LEAD_AGENCY))

    return await _each(selection, language, one)
