"""Telling people: an in-app notification row for each recipient, mail through NQ57_SMTP_URL, a
signed webhook to NQ57_WEBHOOK_URL. Each is its own activity with Temporal's retries, so a mail
server that is down delays the mail and never holds up the task."""

import asyncio
import hashlib
import hmac
import json
import smtplib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
from pydantic import BaseModel
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.projection import EventRecord, recorded
from db import models
from db.session import transaction
from domain.actors import Role
from domain.escalation import LEAD_AGENCY, REVIEWER, level
from policies.enforcer import ACCOUNT
from services.metrics import ESCALATIONS, NOTIFICATIONS
from settings import Settings

SIGNATURE_HEADER = "X-NQ57-Signature"


class Notice(BaseModel):
    """One thing to tell: who hears it is its audience (domain/escalation.py: a deadline's owner at
    level 1 and in its reminders, then the Office and the Committee), else its level's own."""

    task_code: str
    event_seq: int
    level: int  # 1..3 an escalation (domain.escalation.LADDER); 0 a reminder before a deadline
    lead_agency: str
    officer: str | None
    subject: str
    body: str
    data: dict[str, Any]
    directing_agency: str | None = None  # told at the first level with the lead
    audience: str | None = None  # who is told: `lead_agency`, `reviewer` or a role; None: the level's own
    reviewer: str | None = None  # the assigned cross-check reviewer (the audience `reviewer`)


class Mail(BaseModel):
    to: list[str]
    subject: str
    body: str


def webhook_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def _usernames_with_role(session: AsyncSession, role: Role) -> list[str]:
    """The accounts holding the role, read from the policy's role links (policies/enforcer.py names
    an account `user:<username>` there; any other first name is a role)."""
    rows = await session.scalars(select(models.CasbinRule.v0).where(
        models.CasbinRule.ptype == "g", models.CasbinRule.v1 == role.value, models.CasbinRule.v0.startswith(ACCOUNT)))
    return [name.removeprefix(ACCOUNT) for name in rows]


async def recipients(session: AsyncSession, notice: Notice) -> list[models.User]:
    audience = notice.audience or level(notice.level).audience
    if audience == LEAD_AGENCY:  # the lead agency (its heads, the officer in charge) and a directing agency's heads
        heads = set(await _usernames_with_role(session, Role.AGENCY_HEAD))
        agencies = [notice.lead_agency, *([notice.directing_agency] if notice.directing_agency else [])]
        people = await session.scalars(select(models.User).where(models.User.agency.in_(agencies)))
        return [user for user in people if user.username in heads or user.username == notice.officer]
    if audience == REVIEWER:  # the assigned reviewer alone
        return list(await session.scalars(select(models.User).where(models.User.username == notice.reviewer)))
    role = Role(audience)
    query = select(models.User).where(models.User.username.in_(await _usernames_with_role(session, role)))
    if role == Role.FINANCE_REVIEWER:  # those who may decide the lead's budget: none of the lead agency
        query = query.where(or_(models.User.agency.is_(None), models.User.agency != notice.lead_agency))
    return list(await session.scalars(query))


async def notify_in_app(sessions: async_sessionmaker[AsyncSession], notice: Notice) -> list[str]:
    """One row per recipient of the notice, once however often called; their mail addresses."""
    async with transaction(sessions) as session:
        return await write_in_app(session, notice)


async def write_in_app(session: AsyncSession, notice: Notice) -> list[str]:
    """`notify_in_app` in this transaction."""
    people = await recipients(session, notice)
    already = set(await session.scalars(select(models.Notification.username).where(
        models.Notification.task_code == notice.task_code,
        models.Notification.event_seq == notice.event_seq)))
    session.add_all(
        models.Notification(username=user.username, task_code=notice.task_code, event_seq=notice.event_seq,
                            level=notice.level, subject=notice.subject, body=notice.body,
                            created_at=datetime.now(UTC))
        for user in people if user.username not in already
    )
    return sorted(user.email for user in people if user.email)


class Told(BaseModel):
    """What is left to deliver once a notice's in-app rows are written: decided where the settings
    are (and kept in the workflow's history), so that no delivery starts that has nowhere to go."""

    mail_to: list[str]  # the recipients' addresses, when mail is configured (NQ57_SMTP_URL)
    webhook: bool  # a webhook is configured (NQ57_WEBHOOK_URL)


class RecordAndTell(BaseModel):
    """An escalation's or a reminder's event to record, and the notice that tells it."""

    record: EventRecord
    notice: Notice


class RecordedAndTold(BaseModel):
    in_step: bool  # as `record_event` answers
    told: Told


class NotificationActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings):
        self.sessions = sessions
        self.settings = settings

    @activity.defn(name="notify_in_app")
    async def notify_in_app(self, notice: Notice) -> list[str]:
        """Writes one row per recipient (once, however often retried); returns their mail addresses.
        What histories recorded before `tell_in_app` replay with."""
        with _delivering("in_app", notice):
            return await notify_in_app(self.sessions, notice)

    @activity.defn(name="tell_in_app")
    async def tell_in_app(self, notice: Notice) -> Told:
        """The in-app rows (once, however often retried), and what is left to deliver."""
        with _delivering("in_app", notice):
            emails = await notify_in_app(self.sessions, notice)
        return self._left(emails)

    @activity.defn(name="record_and_tell")
    async def record_and_tell(self, told: RecordAndTell) -> RecordedAndTold:
        """`record_event` then `tell_in_app` in one transaction: an escalation's event and its in-app
        rows are written together, by one activity (10,000 deadlines lapsing at once: half the steps)."""
        with _delivering("in_app", told.notice):
            async with transaction(self.sessions) as session:
                in_step = await recorded(session, told.record)
                emails = await write_in_app(session, told.notice)
        return RecordedAndTold(in_step=in_step, told=self._left(emails))

    def _left(self, emails: list[str]) -> Told:
        return Told(mail_to=emails if self.settings.smtp_url else [], webhook=bool(self.settings.webhook_url))

    @activity.defn(name="send_mail")
    async def send_mail(self, mail: Mail) -> bool:
        if not self.settings.smtp_url or not mail.to:
            return False
        with _delivering("mail"):
            await asyncio.to_thread(_send_smtp, self.settings.smtp_url, mail)
        return True

    @activity.defn(name="post_webhook")
    async def post_webhook(self, notice: Notice) -> bool:
        if not self.settings.webhook_url:
            return False
        body = json.dumps(notice.model_dump(mode="json"), ensure_ascii=False, sort_keys=True).encode()
        headers = {"Content-Type": "application/json",
                   SIGNATURE_HEADER: webhook_signature(self.settings.signing_secret, body)}
        with _delivering("webhook"):
            async with httpx.AsyncClient(timeout=10) as client:
                answer = await client.post(self.settings.webhook_url, content=body, headers=headers)
            answer.raise_for_status()  # a refusal is retried by Temporal
        return True


@contextmanager
def _delivering(channel: str, notice: Notice | None = None) -> Iterator[None]:
    """Counted for the worker's /metrics (services/metrics.py): each attempt delivered or failed, and
    an in-app notice of an escalation (level 1-3) as one escalation of its level."""
    meter = activity.metric_meter()
    told = meter.create_counter(NOTIFICATIONS.removesuffix("_total"), "Thông báo, theo kênh và kết quả")
    try:
        yield
    except Exception:
        told.add(1, {"channel": channel, "outcome": "failed"})
        raise
    told.add(1, {"channel": channel, "outcome": "delivered"})
    if notice is not None and notice.level > 0:
        meter.create_counter(ESCALATIONS.removesuffix("_total"), "Nhiệm vụ chuyển cấp, theo cấp").add(
            1, {"level": str(notice.level)})


def _send_smtp(url: str, mail: Mail) -> None:
    """`smtp://user:password@host:port?from=address&starttls=1` (smtps:// for TLS from the start)."""
    parts = urlsplit(url)
    options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    sender = options.get("from", "nq57@localhost")
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, ", ".join(mail.to), mail.subject
    message.set_content(mail.body)
    smtp_class = smtplib.SMTP_SSL if parts.scheme == "smtps" else smtplib.SMTP
    with smtp_class(parts.hostname or "localhost", parts.port or (465 if parts.scheme == "smtps" else 25),
                    timeout=30) as smtp:
        if options.get("starttls") in ("1", "true", "yes"):
            smtp.starttls()
        if parts.username:
            smtp.login(unquote(parts.username), unquote(parts.password or ""))
        smtp.send_message(message)
