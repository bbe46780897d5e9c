"""Telling people about escalations (activities/notifications.py): in-app rows for the level's
audience, mail through a real SMTP server (aiosmtpd on 127.0.0.1), a webhook whose signature header
is checked against the body by a tiny receiver, each driven on its own through ActivityEnvironment
and end to end through a workflow on the time-skipping server. With the mail server down the task
goes on and the mail activity keeps being retried until the server is back."""

import asyncio
import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.notifications import SIGNATURE_HEADER, Mail, Notice, NotificationActivities, webhook_signature
from db import models
from db.session import create_schema, make_engine, make_sessions
from domain import commands as c
from domain.stages import Stage
from domain.task import EvidenceFile
from settings import Settings
from tests.helpers import TEST_SECRET, close_open_workflows, free_port
from tests.test_workflow_escalation import (
    FAST,
    HEAD,
    HOUR,
    LEVEL_1,
    LEVEL_2,
    LEVEL_3,
    MINUTE,
    OFFICE,
    PEOPLE,
    REVIEWER,
    World,
    act,
    eventually,
    force_continue_as_new,
    level_reaches,
    seed_people,
)
from worker import build_worker
from workflows.task_lifecycle import TaskLifecycleWorkflow

SECRET = "webhook-secret-for-tests"
SENDER = "nq57@vptw.gov.vn"
FILE = EvidenceFile(sha256="d" * 64, filename="bien-ban.pdf", size=10, content_type="application/pdf")


def email_of(usernames: set[str]) -> list[str]:
    return sorted(email for name, (_, email, _) in PEOPLE.items() if name in usernames and email)


# --- a real SMTP server ---------------------------------------------------------------------------

@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


class Inbox:
    """aiosmtpd handler: keeps every message it is given (it runs in the controller's thread)."""

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        with self.lock:
            self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"

    def snapshot(self) -> list[Received]:
        with self.lock:
            return list(self.messages)

    def for_task(self, code: str) -> list[Received]:
        return [mail for mail in self.snapshot() if code in str(mail.message["Subject"])]


class SmtpServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.inbox = Inbox()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?from={SENDER}"

    def __enter__(self) -> "SmtpServer":
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer(free_port()) as server:
        yield server


# --- a webhook receiver ---------------------------------------------------------------------------

@dataclass
class Hook:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def notice(self) -> dict:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """Plain HTTP/1.1 over asyncio streams: one request per connection, answered with `status`."""

    status: int = 200
    hooks: list[Hook] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            request_line, *lines = head.split("\r\n")
            headers = {}
            for line in lines:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            method, path, _ = request_line.split(" ", 2)
            self.hooks.append(Hook(method, path, headers, body))
            writer.write(f"HTTP/1.1 {self.status} Answer\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
        finally:
            writer.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/nq57"

    def for_task(self, code: str) -> list[Hook]:
        return [hook for hook in self.hooks if hook.notice["task_code"] == code]


@asynccontextmanager
async def webhook_receiver() -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    receiver.port = server.sockets[0].getsockname()[1]
    async with server:
        yield receiver


@pytest.fixture(scope="module")
async def webhook() -> AsyncIterator[WebhookReceiver]:
    async with webhook_receiver() as receiver:
        yield receiver


def check_signature(hook: Hook) -> None:
    expected = "sha256=" + hmac.new(SECRET.encode(), hook.body, hashlib.sha256).hexdigest()
    assert hook.headers[SIGNATURE_HEADER.lower()] == expected
    assert hook.headers["content-type"] == "application/json"


# --- the database ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
async def sessions(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('notify') / 'notify.db'}")
    await create_schema(engine)
    made = make_sessions(engine)
    await seed_people(made)
    yield made
    await engine.dispose()


def notice(level: int, *, code: str | None = None, seq: int = 5, officer: str | None = "hni.officer") -> Notice:
    return Notice(task_code=code or f"N-{uuid.uuid4().hex[:8]}", event_seq=seq, level=level, lead_agency="HNI",
                  officer=officer, subject=f"[NQ57] Cảnh báo cấp {level}: nhiệm vụ quá hạn",
                  body="Nhiệm vụ đã quá hạn hoàn thành.\n", data={"kind": "deadline", "level": level})


async def rows_for(sessions: async_sessionmaker[AsyncSession], code: str) -> list[models.Notification]:
    async with sessions() as session:
        return list(await session.scalars(select(models.Notification).where(models.Notification.task_code == code)))


# --- the activities on their own ------------------------------------------------------------------

@pytest.mark.parametrize(("level", "officer", "audience"), [
    (1, "hni.officer", LEVEL_1),
    (1, None, LEVEL_1 - {"hni.officer"}),
    (1, "hni.clerk", LEVEL_1 - {"hni.officer"} | {"hni.clerk"}),
    (2, "hni.officer", LEVEL_2),
    (3, "hni.officer", LEVEL_3),
], ids=["lead-heads-and-officer", "no-officer-yet", "another-officer", "standing-office", "steering-committee"])
async def test_notify_in_app_writes_one_row_per_recipient_of_the_level_however_often_retried(
        sessions: async_sessionmaker[AsyncSession], level: int, officer: str | None, audience: set[str]) -> None:
    activities = NotificationActivities(sessions, Settings(smtp_url="", webhook_url=""))
    told = notice(level, officer=officer)
    emails = await ActivityEnvironment().run(activities.notify_in_app, told)
    assert emails == email_of(audience)
    rows = await rows_for(sessions, told.task_code)
    assert sorted(row.username for row in rows) == sorted(audience)
    assert {(row.level, row.event_seq, row.subject, row.body) for row in rows} == {
        (level, told.event_seq, told.subject, told.body)}
    assert all(row.read_at is None for row in rows)

    again = await ActivityEnvironment().run(activities.notify_in_app, told)  # a retry
    assert again == emails
    assert len(await rows_for(sessions, told.task_code)) == len(audience)

    later = await ActivityEnvironment().run(activities.notify_in_app, told.model_copy(update={"event_seq": 6}))
    assert later == emails  # another event of the same task: told again
    assert len(await rows_for(sessions, told.task_code)) == 2 * len(audience)


async def test_send_mail_delivers_through_the_smtp_server(smtp: SmtpServer,
                                                          sessions: async_sessionmaker[AsyncSession]) -> None:
    activities = NotificationActivities(sessions, Settings(smtp_url=smtp.url, webhook_url=""))
    code = f"MAIL-{uuid.uuid4().hex[:6]}"
    mail = Mail(to=["hni.head@hanoi.gov.vn", "hni.officer@hanoi.gov.vn"],
                subject=f"[NQ57] Cảnh báo cấp 1: nhiệm vụ {code} quá hạn hoàn thành nhiệm vụ",
                body="Nhiệm vụ đã quá hạn; cảnh báo cấp 1 gửi cơ quan chủ trì.\n")
    assert await ActivityEnvironment().run(activities.send_mail, mail) is True
    received = smtp.inbox.for_task(code)
    assert len(received) == 1
    got = received[0]
    assert got.mail_from == SENDER
    assert got.rcpt_tos == mail.to
    assert got.message["Subject"] == mail.subject  # Vietnamese, encoded and decoded intact
    assert got.message["From"] == SENDER
    assert got.message["To"] == "hni.head@hanoi.gov.vn, hni.officer@hanoi.gov.vn"
    assert got.message.get_content().replace("\r\n", "\n") == mail.body  # CRLF on the wire


async def test_send_mail_without_an_smtp_url_or_recipients_sends_nothing(
        smtp: SmtpServer, sessions: async_sessionmaker[AsyncSession]) -> None:
    before = len(smtp.inbox.snapshot())
    unset = NotificationActivities(sessions, Settings(smtp_url="", webhook_url=""))
    assert await ActivityEnvironment().run(unset.send_mail, Mail(to=["a@b.vn"], subject="s", body="b")) is False
    configured = NotificationActivities(sessions, Settings(smtp_url=smtp.url, webhook_url=""))
    assert await ActivityEnvironment().run(configured.send_mail, Mail(to=[], subject="s", body="b")) is False
    assert len(smtp.inbox.snapshot()) == before


async def test_send_mail_to_a_server_that_is_down_raises_so_temporal_retries(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    activities = NotificationActivities(sessions, Settings(smtp_url=f"smtp://127.0.0.1:{free_port()}",
                                                           webhook_url=""))
    with pytest.raises(OSError):
        await ActivityEnvironment().run(activities.send_mail, Mail(to=["a@b.vn"], subject="s", body="b"))


async def test_webhook_body_is_signed_with_hmac_sha256_of_the_secret(
        webhook: WebhookReceiver, sessions: async_sessionmaker[AsyncSession]) -> None:
    activities = NotificationActivities(sessions, Settings(smtp_url="", webhook_url=webhook.url,
                                                           webhook_secret=SECRET))
    told = notice(2)
    assert await ActivityEnvironment().run(activities.post_webhook, told) is True
    [hook] = webhook.for_task(told.task_code)
    assert (hook.method, hook.path) == ("POST", "/hooks/nq57")
    check_signature(hook)
    assert hook.headers[SIGNATURE_HEADER.lower()] == webhook_signature(SECRET, hook.body)
    assert hook.notice == told.model_dump(mode="json")
    assert "Cảnh báo cấp 2" in hook.body.decode()  # UTF-8, not escaped
    tampered = hook.body.replace(b'"level": 2', b'"level": 1')
    assert tampered != hook.body and webhook_signature(SECRET, tampered) != hook.headers[SIGNATURE_HEADER.lower()]


async def test_webhook_refused_by_the_receiver_raises_so_temporal_retries(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    async with webhook_receiver() as failing:
        failing.status = 503
        activities = NotificationActivities(sessions, Settings(smtp_url="", webhook_url=failing.url,
                                                               webhook_secret=SECRET))
        with pytest.raises(httpx.HTTPStatusError):
            await ActivityEnvironment().run(activities.post_webhook, notice(1))
        assert len(failing.hooks) == 1


async def test_webhook_without_a_url_posts_nothing(sessions: async_sessionmaker[AsyncSession]) -> None:
    activities = NotificationActivities(sessions, Settings(smtp_url="", webhook_url="", webhook_secret=SECRET))
    assert await ActivityEnvironment().run(activities.post_webhook, notice(1)) is False


@pytest.mark.parametrize(("smtp_url", "webhook_url"), [("", ""), ("smtp://127.0.0.1:2525", ""),
                                                    ("", "http://127.0.0.1:9/hook")],
                         ids=["nothing-configured", "mail-only", "webhook-only"])
async def test_tell_in_app_writes_the_rows_and_leaves_only_the_configured_deliveries(
        sessions: async_sessionmaker[AsyncSession], smtp_url: str, webhook_url: str) -> None:
    activities = NotificationActivities(sessions, Settings(smtp_url=smtp_url, webhook_url=webhook_url,
                                                           webhook_secret=SECRET))
    told = notice(1)
    left = await ActivityEnvironment().run(activities.tell_in_app, told)
    assert sorted(row.username for row in await rows_for(sessions, told.task_code)) == sorted(LEVEL_1)
    assert left.mail_to == (email_of(LEVEL_1) if smtp_url else [])
    assert left.webhook is bool(webhook_url)


# --- end to end through a workflow ----------------------------------------------------------------

@asynccontextmanager
async def running_world(env: WorkflowEnvironment, sessions: async_sessionmaker[AsyncSession], *,
                        smtp_url: str, webhook_url: str) -> AsyncIterator[World]:
    task_queue = f"notify-{uuid.uuid4().hex[:8]}"
    settings = Settings(task_queue=task_queue, smtp_url=smtp_url, webhook_url=webhook_url, webhook_secret=SECRET,
                        secret_key=TEST_SECRET)
    world = World(env, env.client, task_queue, sessions)
    await close_open_workflows(env)
    async with build_worker(env.client, settings, sessions):
        try:
            yield world
        finally:
            for handle in world.started:  # a workflow left behind would hold the shared clock back
                if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                    await handle.terminate(reason="test over")


async def test_escalation_is_mailed_and_posted_to_the_webhook(
        time_skipping: WorkflowEnvironment, sessions: async_sessionmaker[AsyncSession], smtp: SmtpServer,
        webhook: WebhookReceiver) -> None:
    async with running_world(time_skipping, sessions, smtp_url=smtp.url, webhook_url=webhook.url) as world:
        deadline = await world.now() + HOUR
        handle = await world.start(deadline=deadline)
        code = handle.id.removeprefix("task-")
        await act(handle, HEAD, c.Accept(officer="hni.officer"))

        await time_skipping.sleep(HOUR + MINUTE)
        state = await level_reaches(handle, 1)
        mails = await eventually(lambda: inbox_of(smtp, code), lambda found: len(found) >= 1,
                                 what="the level 1 mail")
        assert [mail.rcpt_tos for mail in mails] == [email_of(LEVEL_1)]
        assert mails[0].mail_from == SENDER
        subject = str(mails[0].message["Subject"])
        assert subject.startswith("[NQ57] Cảnh báo cấp 1") and code in subject
        assert "HNI" in mails[0].message.get_content()
        hooks = await eventually(lambda: hooks_of(webhook, code), lambda found: len(found) >= 1,
                                 what="the level 1 webhook")
        check_signature(hooks[0])
        assert hooks[0].notice["level"] == 1 and hooks[0].notice["event_seq"] == state.seq
        assert hooks[0].notice["officer"] == "hni.officer" and hooks[0].notice["data"]["kind"] == "deadline"
        assert hooks[0].notice["subject"] == subject

        await time_skipping.sleep(HOUR)
        await level_reaches(handle, 2)
        mails = await eventually(lambda: inbox_of(smtp, code), lambda found: len(found) >= 2,
                                 what="the level 2 mail")
        assert mails[1].rcpt_tos == email_of(LEVEL_2)
        assert "cấp 2" in str(mails[1].message["Subject"])
        hooks = await eventually(lambda: hooks_of(webhook, code), lambda found: len(found) >= 2,
                                 what="the level 2 webhook")
        assert [hook.notice["level"] for hook in hooks] == [1, 2]
        for hook in hooks:
            check_signature(hook)
        # Exactly one mail and one webhook per escalation.
        assert len(smtp.inbox.for_task(code)) == 2 and len(webhook.for_task(code)) == 2


async def test_with_the_mail_server_down_the_task_escalates_completes_and_the_mail_is_retried(
        time_skipping: WorkflowEnvironment, sessions: async_sessionmaker[AsyncSession]) -> None:
    port = free_port()  # nothing listens there yet
    async with running_world(time_skipping, sessions, smtp_url=f"smtp://127.0.0.1:{port}?from={SENDER}",
                             webhook_url="") as world:
        deadline = await world.now() + HOUR
        handle = await world.start(deadline=deadline, settings=FAST)
        code = handle.id.removeprefix("task-")
        await act(handle, HEAD, c.Accept(officer="hni.officer"))
        await time_skipping.sleep(HOUR + MINUTE)
        escalated = await level_reaches(handle, 1)
        assert {row.username for row in await rows_for(sessions, code)} == LEVEL_1  # in-app: told at once

        await time_skipping.sleep(2 * MINUTE)  # the retry backoff (5 s, 10 s, 20 s...) passes
        pending = await eventually(lambda: pending_mail(handle), lambda found: found is not None and found[0] >= 2,
                                   what="a retried send_mail")
        assert pending is not None
        attempts, failure = pending
        assert attempts >= 2
        assert "refused" in failure.lower() or "connect" in failure.lower(), failure

        # The task goes on regardless, to its (late) completion.
        await act(handle, HEAD, c.EvidenceSubmit(summary="Xong", files=[FILE]))
        await act(handle, OFFICE, c.ReviewAssign(reviewer="dng.reviewer", reviewer_agency="DNG"))
        done = await act(handle, REVIEWER, c.ReviewApprove())
        assert done.stage == Stage.COMPLETED and done.late is True
        assert escalated.escalation_level == 1
        description = await handle.describe()
        assert description.status == WorkflowExecutionStatus.RUNNING  # not failed by the mail
        assert await pending_mail(handle) is not None  # still being retried

        # The server comes back: the next attempt (at most the 30 min maximum interval away) delivers.
        with SmtpServer(port) as smtp:
            await time_skipping.sleep(31 * MINUTE)
            mails = await eventually(lambda: inbox_of(smtp, code), lambda found: len(found) >= 1,
                                     what="the retried mail")
            assert [mail.rcpt_tos for mail in mails] == [email_of(LEVEL_1)]
            assert "cấp 1" in str(mails[0].message["Subject"])
            await eventually(lambda: pending_mail(handle), lambda found: found is None, what="send_mail done")
            assert len(smtp.inbox.for_task(code)) == 1


async def test_mail_still_being_retried_survives_continue_as_new(
        time_skipping: WorkflowEnvironment, sessions: async_sessionmaker[AsyncSession]) -> None:
    port = free_port()
    async with running_world(time_skipping, sessions, smtp_url=f"smtp://127.0.0.1:{port}?from={SENDER}",
                             webhook_url="") as world:
        handle = await world.start(deadline=await world.now() + HOUR, settings=FAST)
        code = handle.id.removeprefix("task-")
        await act(handle, HEAD, c.Accept(officer="hni.officer"))
        await time_skipping.sleep(HOUR + MINUTE)
        await level_reaches(handle, 1)
        await time_skipping.sleep(MINUTE)  # past the first retry's backoff, in skipped time
        await eventually(lambda: pending_mail(handle), lambda found: found is not None and found[0] >= 2,
                         what="a retried send_mail")

        await force_continue_as_new(handle)
        assert (await handle.query(TaskLifecycleWorkflow.current)).escalation_level == 1

        with SmtpServer(port) as smtp:
            await time_skipping.sleep(31 * MINUTE)  # past the longest retry interval
            mails = await eventually(lambda: inbox_of(smtp, code), lambda found: len(found) >= 1,
                                     what="the mail retried after continue-as-new")
            assert [mail.rcpt_tos for mail in mails] == [email_of(LEVEL_1)]


async def pending_mail(handle: WorkflowHandle[Any, Any]) -> tuple[int, str] | None:
    """The send_mail activity still pending on the workflow: (attempt, last failure message)."""
    description = await handle.describe()
    for activity in description.raw_description.pending_activities:
        if activity.activity_type.name == "send_mail":
            return activity.attempt, activity.last_failure.message
    return None


async def inbox_of(smtp: SmtpServer, code: str) -> list[Received]:
    return smtp.inbox.for_task(code)


async def hooks_of(webhook: WebhookReceiver, code: str) -> list[Hook]:
    return webhook.for_task(code)
