"""Passwords (argon2, hashed off the event loop; the rules a new password must meet) and access
tokens (JWT, HS256, carrying the user's token version so a logout or a lock ends them)."""

import asyncio
import os
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from domain import limits
from domain.refusals import Code, Refusal

_hasher = PasswordHasher()
# argon2 takes ~64 MB and tens of milliseconds of CPU per call: a few threads of their own keep
# the event loop free and bound what a burst of logins can take (the C code releases the GIL).
_pool = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1), thread_name_prefix="argon2")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


async def hash_password_async(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_pool, hash_password, password)


async def check_password(password_hash: str | None, password: str) -> bool:
    """Off the event loop. With no hash (an unknown user) a dummy hash is verified all the same, so
    the answer takes as long and does not tell which usernames exist."""
    loop = asyncio.get_running_loop()
    if password_hash is None:
        await loop.run_in_executor(_pool, verify_password, await loop.run_in_executor(_pool, _dummy_hash), password)
        return False
    return await loop.run_in_executor(_pool, verify_password, password_hash, password)


# --- the rules for a password set through the API (not for bootstrap or demo accounts) -----------

# The most used passwords of 10 characters or more (shorter ones fail on length), Vietnamese ones,
# and those this project's own docs and compose file once showed.
COMMON_PASSWORDS = frozenset({
    "0123456789", "1234567890", "0987654321", "9876543210", "12345678910", "123456789a", "1234567890a",
    "1111111111", "0000000000", "1234512345", "1122334455", "1234554321", "1q2w3e4r5t", "1qaz2wsx3edc",
    "qwertyuiop", "qwerty1234", "qwerty12345", "qwerty123456", "asdfghjkl1", "zxcvbnm123", "abcd123456",
    "abc1234567", "abc@123456", "a123456789", "password12", "password123", "password1234", "password@123",
    "passw0rd123", "iloveyou12", "iloveyou123", "sunshine123", "princess123", "football123", "welcome123",
    "welcome@123", "administrator", "admin12345", "admin123456", "admin@1234", "admin@12345", "changeme123",
    "letmein123", "trustno1234", "matkhau123", "matkhau1234", "matkhau@123", "matkhaumoi", "matkhau12345",
    "anhyeuem123", "emyeuanh123", "123456aa@", "vietnam123", "vietnam@123", "hanoi12345", "saigon1234",
    "change-me-now", "change-me-too", "nq57-admin", "nq57-demo1", "nq57-demo123", "nq57-password",
})


def require_strong_password(password: str, username: str) -> None:
    """422 naming the field `password` when a new password breaks a rule."""
    if len(password) < limits.PASSWORD:
        raise Refusal(Code.PASSWORD_TOO_SHORT, field="password", min=limits.PASSWORD)
    lowered = password.lower()
    if len(username) >= 3 and username.lower() in lowered:
        raise Refusal(Code.PASSWORD_HAS_USERNAME, field="password")
    if lowered in COMMON_PASSWORDS or len(set(password)) <= 2:
        raise Refusal(Code.PASSWORD_COMMON, field="password")


# --- tokens --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TokenClaims:
    username: str
    version: int  # the user's token version when it was issued: a logout or a lock moves it on


def create_token(username: str, secret: str, minutes: int, version: int = 0) -> str:
    now = datetime.now(UTC)
    return jwt.encode({"sub": username, "ver": version, "iat": now, "exp": now + timedelta(minutes=minutes)},
                      secret, "HS256")


def read_token(token: str, secret: str) -> TokenClaims | None:
    """What a validly signed, unexpired token says; None for anything else."""
    try:
        claims, expires = _signed(token, secret)
    except jwt.PyJWTError:
        return None
    return claims if expires > int(time.time()) else None  # as PyJWT compares them


@lru_cache(maxsize=4096)
def _signed(token: str, secret: str) -> tuple[TokenClaims, int]:
    """A validly signed token's claims and expiry: checked once per token and process (the signature
    of the same text does not change; its expiry is compared at every use). A refusal raises, and is
    not remembered: a token refused now (issued a moment ahead of this clock) may be good later."""
    claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["sub", "exp"]})
    version = claims.get("ver", 0)
    if not isinstance(claims["sub"], str) or not isinstance(version, int):
        raise jwt.InvalidTokenError("sub or ver of the wrong type")
    return TokenClaims(username=claims["sub"], version=version), int(claims["exp"])
