"""What the application layer works with, opened once when the API starts (api/app.py) and handed
to every service function: settings, the database, the policy, Temporal, the evidence files."""

from dataclasses import dataclass, field

from casbin import AsyncEnforcer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from services.blobs import EvidenceStore
from services.login_throttle import LoginThrottle
from services.signed_in_cache import SignedInCache
from settings import Settings


@dataclass(frozen=True)
class Context:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]  # short sessions: none is held while Temporal is asked
    enforcer: AsyncEnforcer
    temporal: Client
    blobs: EvidenceStore
    login_throttle: LoginThrottle
    signed_in: SignedInCache = field(default_factory=SignedInCache)  # whom a token speaks for, for a moment
