"""Accounts under attack: login throttling and lockout, no timing tell for unknown usernames,
hashing off the event loop, password rules, disabling, logout and administrator resets.

Tests that make wrong logins do so from an address of their own (a client of their own on the
same app), so the session-wide stack's own logins from 127.0.0.1 are never locked out."""

import asyncio
import itertools
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

import services.security
from db import models
from db.session import create_schema, make_engine, make_sessions
from policies.enforcer import load_enforcer, roles_of
from services.signed_in_cache import KEPT_AT_MOST, SIGNED_IN_FOR, SignedInCache, Standing
from tests.helpers import ADMIN_PASSWORD, DEMO_PASSWORD, Stack, app_of, client_at

ADMIN = ("admin", ADMIN_PASSWORD)
STRONG = "Sen-vang-2026-ha-noi"


_ADDRESSES = itertools.count(1)


def _address() -> str:
    """A client address no other test of the run uses (a lockout of one test never meets another)."""
    n = next(_ADDRESSES)
    return f"10.57.{n // 250}.{n % 250 + 1}"


async def _new_user(stack: Stack, roles: list[str] | None = None) -> str:
    username = f"acc-{uuid.uuid4().hex[:8]}"
    answer = await stack.http.post("/api/v1/users", headers=await stack.login(*ADMIN), json={
        "username": username, "password": STRONG, "full_name": "Người thử tài khoản", "agency": "HNI",
        "roles": roles or ["auditor"]})
    assert answer.status_code == 201, answer.text
    return username


async def _token(client: httpx.AsyncClient, username: str, password: str = STRONG) -> httpx.Response:
    return await client.post("/api/v1/auth/token", data={"username": username, "password": password})


def _bearer(answer: httpx.Response) -> dict[str, str]:
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def test_a_username_is_locked_after_wrong_passwords_even_for_the_right_one(stack: Stack) -> None:
    username = await _new_user(stack)
    async with client_at(stack, _address()) as client:
        for _ in range(stack.settings.login_attempts):
            assert (await _token(client, username, "sai-mat-khau-roi")).status_code == 401
        locked = await _token(client, username)
    assert locked.status_code == 429, locked.text
    retry = int(locked.headers["Retry-After"])
    assert 0 < retry <= 15 * 60
    assert "thử lại sau" in locked.json()["detail"] and "phút" in locked.json()["detail"]
    async with client_at(stack, _address()) as elsewhere:  # the username is locked, wherever from
        assert (await _token(elsewhere, username)).status_code == 429


async def test_a_client_address_is_locked_after_wrong_passwords_for_many_usernames(stack: Stack) -> None:
    throttle = app_of(stack).state.login_throttle
    saved = dict(throttle.limits)
    throttle.limits["client"] = 3
    try:
        username = await _new_user(stack)
        address = _address()
        async with client_at(stack, address) as client:
            for guess in range(3):
                assert (await _token(client, f"khong-co-{guess}", "doan-mo")).status_code == 401
            assert (await _token(client, username)).status_code == 429
        async with client_at(stack, _address()) as other:  # another address is not held back
            _bearer(await _token(other, username))
    finally:
        throttle.limits = saved


async def test_unknown_usernames_are_answered_after_the_same_hashing_as_known_ones(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    username = await _new_user(stack)
    hashed: list[str] = []
    verify = services.security.verify_password

    def counting(password_hash: str, password: str) -> bool:
        hashed.append(password)
        return verify(password_hash, password)

    monkeypatch.setattr(services.security, "verify_password", counting)
    throttle = app_of(stack).state.login_throttle
    monkeypatch.setattr(throttle, "limits", {"user": 1000, "client": 1000})
    known, unknown = [], []
    async with client_at(stack, _address()) as client:
        for attempt in range(5):
            for names, times in ((username, known), (f"khong-ton-tai-{attempt}", unknown)):
                started = time.perf_counter()
                assert (await _token(client, names, f"sai-{attempt}")).status_code == 401
                times.append(time.perf_counter() - started)
    assert len(hashed) == 10, "every wrong login, known username or not, verifies a password hash"
    assert statistics.median(unknown) >= 0.3 * statistics.median(known), (known, unknown)


async def test_passwords_are_verified_off_the_event_loop(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[threading.Thread] = []
    verify = services.security.verify_password

    def recording(password_hash: str, password: str) -> bool:
        threads.append(threading.current_thread())
        return verify(password_hash, password)

    monkeypatch.setattr(services.security, "verify_password", recording)
    async with client_at(stack, _address()) as client:  # a login of its own: never one the stack cached
        _bearer(await _token(client, "auditor", DEMO_PASSWORD))
    assert threads and all(thread is not threading.main_thread() for thread in threads)


@pytest.mark.parametrize("password, why", [
    ("ngan", "shorter than the schema's floor"),
    ("ngan-qua9", "too short"),
    ("{username}-2026", "contains the username"),
    ("1234567890", "common"),
    ("QwertyUiop", "common, whatever the case"),
    ("aaaaaaaaaaaa", "one repeated character"),
])
async def test_a_weak_password_is_refused_naming_the_field(stack: Stack, password: str, why: str) -> None:
    username = f"yeu-{uuid.uuid4().hex[:8]}"
    answer = await stack.http.post("/api/v1/users", headers=await stack.login(*ADMIN), json={
        "username": username, "password": password.format(username=username), "full_name": "Người thử",
        "roles": ["auditor"]})
    assert answer.status_code == 422, (why, answer.text)
    assert [error["field"] for error in answer.json()["errors"]] == ["password"], why
    assert (await stack.http.get(f"/api/v1/users/{username}", headers=await stack.login(*ADMIN))).status_code == 404


async def test_an_administrators_reset_follows_the_rules_and_ends_the_old_password_and_tokens(stack: Stack) -> None:
    username = await _new_user(stack)
    admin = await stack.login(*ADMIN)
    async with client_at(stack, _address()) as client:
        old = _bearer(await _token(client, username))
        weak = await stack.http.post(f"/api/v1/users/{username}/password", headers=admin, json={"password": username})
        assert weak.status_code == 422 and weak.json()["errors"][0]["field"] == "password", weak.text
        reset = await stack.http.post(f"/api/v1/users/{username}/password", headers=admin,
                                      json={"password": "Hoa-sen-moi-2027"})
        assert reset.status_code == 204, reset.text
        assert (await client.get("/api/v1/me", headers=old)).status_code == 401
        assert (await _token(client, username)).status_code == 401
        _bearer(await _token(client, username, "Hoa-sen-moi-2027"))


async def test_a_disabled_user_loses_its_tokens_and_is_told_why_at_login(stack: Stack) -> None:
    username = await _new_user(stack)
    admin = await stack.login(*ADMIN)
    async with client_at(stack, _address()) as client:
        token = _bearer(await _token(client, username))
        assert (await client.get("/api/v1/me", headers=token)).status_code == 200
        patched = await stack.http.patch(f"/api/v1/users/{username}", headers=admin, json={"disabled": True})
        assert patched.status_code == 200 and patched.json()["disabled"] is True, patched.text
        assert (await client.get("/api/v1/me", headers=token)).status_code == 401
        refused = await _token(client, username)
        assert refused.status_code == 403 and "vô hiệu hóa" in refused.json()["detail"], refused.text
        # Enabled again: a new login works, the token from before stays dead.
        await stack.http.patch(f"/api/v1/users/{username}", headers=admin, json={"disabled": False})
        assert (await client.get("/api/v1/me", headers=token)).status_code == 401
        assert (await client.get("/api/v1/me", headers=_bearer(await _token(client, username)))).status_code == 200


async def test_logout_ends_the_token(stack: Stack) -> None:
    username = await _new_user(stack)
    async with client_at(stack, _address()) as client:
        token = _bearer(await _token(client, username))
        other_session = _bearer(await _token(client, username))
        assert (await client.post("/api/v1/auth/logout", headers=token)).status_code == 204
        assert (await client.get("/api/v1/me", headers=token)).status_code == 401
        assert (await client.get("/api/v1/me", headers=other_session)).status_code == 401  # all sessions end
        assert (await client.post("/api/v1/auth/logout", headers=token)).status_code == 401
        assert (await client.get("/api/v1/me", headers=_bearer(await _token(client, username)))).status_code == 200


async def test_a_change_made_by_another_process_ends_the_token_within_a_second(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each process remembers whom a token speaks for a moment (services/signed_in_cache.py): a
    logout written by another process (here straight to the database, as the CLI would) is obeyed
    once SIGNED_IN_FOR has passed; the process's own changes are obeyed at once (the tests above)."""
    now = [0.0]  # steps a float holds exactly: the second is over exactly when the test says
    monkeypatch.setattr(app_of(stack).state.ctx.signed_in, "_clock", lambda: now[0])
    username = await _new_user(stack)
    async with client_at(stack, _address()) as client:
        token = _bearer(await _token(client, username))
        assert (await client.get("/api/v1/me", headers=token)).status_code == 200
        async with stack.sessions() as session, session.begin():
            await session.execute(update(models.User).where(models.User.username == username)
                                  .values(token_version=models.User.token_version + 1))
        now[0] += SIGNED_IN_FOR - 0.25
        assert (await client.get("/api/v1/me", headers=token)).status_code == 200  # remembered, not read again
        now[0] += 0.25
        assert (await client.get("/api/v1/me", headers=token)).status_code == 401


def test_a_token_whose_signature_was_checked_before_still_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each token's signature is checked once per process (services/security.read_token); its expiry
    at every use."""
    secret = "s" * 48
    token = services.security.create_token("office", secret, 5)
    assert services.security.read_token(token, secret) == services.security.TokenClaims("office", 0)
    expires = time.time() + 5 * 60
    monkeypatch.setattr(services.security.time, "time", lambda: expires + 1)
    assert services.security.read_token(token, secret) is None
    assert services.security.read_token(token, "another-secret-" + "x" * 40) is None


def test_an_account_read_while_it_was_logged_out_is_not_remembered() -> None:
    """A request reads the row; meanwhile a logout commits and forgets the account; the older row the
    request read must not be remembered (it would accept the ended token for a second)."""
    remembered = SignedInCache(clock=lambda: 0.0)
    reading = remembered.reading()  # the request begins to read the row
    remembered.forget("a")  # the logout commits
    remembered.put(Standing(username="a", agency="HNI", disabled=False, token_version=3), reading)
    assert remembered.get("a") is None


def test_a_refused_token_is_not_remembered() -> None:
    """Only a token whose signature held is remembered: one refused now (say, issued a moment ahead of
    this clock) is checked afresh next time, and junk fills nothing."""
    before = services.security._signed.cache_info().currsize
    for n in range(20):
        assert services.security.read_token(f"khong.phai.{n}", "s" * 48) is None
    assert services.security._signed.cache_info().currsize == before


def test_whom_a_token_speaks_for_is_remembered_for_a_moment_and_for_few_accounts() -> None:
    now = [0.0]
    remembered = SignedInCache(clock=lambda: now[0])
    standing = Standing(username="a", agency="HNI", disabled=False, token_version=3)
    remembered.put(standing, remembered.reading())
    now[0] = SIGNED_IN_FOR - 0.25
    assert remembered.get("a") == standing
    now[0] = SIGNED_IN_FOR
    assert remembered.get("a") is None
    remembered.put(standing, remembered.reading())
    remembered.forget("a")
    assert remembered.get("a") is None
    for n in range(KEPT_AT_MOST + 1):
        remembered.put(Standing(username=f"u{n}", agency=None, disabled=False, token_version=0), remembered.reading())
    assert remembered.get("u0") is None and remembered.get(f"u{KEPT_AT_MOST}") is not None
    assert len(remembered._known) <= KEPT_AT_MOST


async def test_an_administrator_reads_and_changes_a_user(stack: Stack) -> None:
    username = await _new_user(stack)
    admin = await stack.login(*ADMIN)
    read = await stack.http.get(f"/api/v1/users/{username}", headers=admin)
    assert read.status_code == 200, read.text
    assert read.json() == {"username": username, "full_name": "Người thử tài khoản", "agency": "HNI", "email": None,
                           "roles": ["auditor"], "disabled": False}
    changed = await stack.http.patch(f"/api/v1/users/{username}", headers=admin, json={
        "full_name": "Tên mới", "agency": "BTC", "roles": ["agency_officer", "auditor"]})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["full_name"], changed.json()["agency"], sorted(changed.json()["roles"])) == (
        "Tên mới", "BTC", ["agency_officer", "auditor"])
    me = await stack.http.get("/api/v1/me", headers=await stack.login(username, STRONG))
    assert me.json()["agency"] == "BTC" and sorted(me.json()["roles"]) == ["agency_officer", "auditor"]
    for body, field in (({"agency": "KHONG-CO"}, "agency"), ({"roles": []}, "roles"), ({"stage": "x"}, "stage"),
                        ({"full_name": None}, "full_name")):
        refused = await stack.http.patch(f"/api/v1/users/{username}", headers=admin, json=body)
        assert refused.status_code == 422 and field in {e["field"] for e in refused.json()["errors"]}, refused.text
    assert (await stack.http.get("/api/v1/users/khong-co-ai", headers=admin)).status_code == 404
    outsider = await stack.login("office")
    assert (await stack.http.get(f"/api/v1/users/{username}", headers=outsider)).status_code == 403
    assert (await stack.http.patch(f"/api/v1/users/{username}", headers=outsider,
                                   json={"disabled": True})).status_code == 403
    assert (await stack.http.post(f"/api/v1/users/{username}/password", headers=outsider,
                                  json={"password": "Hoa-sen-moi-2027"})).status_code == 403


async def test_an_account_named_like_a_role_gives_nobody_its_roles(stack: Stack) -> None:
    """Casbin's role links are transitive: were accounts named bare in them, an account called
    `steering_office` with the auditor role would make every Standing Office member an auditor
    (the contract fuzzer found it). Accounts have a name of their own there (policies/enforcer.py)."""
    office = await stack.login("office")
    assert (await stack.http.get("/api/v1/audit/verify", headers=office)).status_code == 403
    answer = await stack.http.post("/api/v1/users", headers=await stack.login(*ADMIN), json={
        "username": "steering_office", "password": STRONG, "full_name": "Tài khoản trùng tên vai trò",
        "roles": ["auditor"]})
    assert answer.status_code == 201, answer.text
    assert (await stack.http.get("/api/v1/audit/verify", headers=office)).status_code == 403
    assert (await stack.http.get("/api/v1/me", headers=office)).json()["roles"] == ["steering_office"]


async def test_role_links_written_before_accounts_had_their_own_name_are_renamed_at_start(tmp_path: Path) -> None:
    """Renamed once, all or nothing, before the policy is loaded: two processes starting at once
    both load the renamed links; a link already written under the new name is not doubled; a
    role-to-role link is left as it is."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    await create_schema(engine)
    async with make_sessions(engine)() as session, session.begin():
        session.add_all(models.User(username=name, password_hash="x", full_name="x", created_at=datetime.now(UTC))
                        for name in ("admin", "office"))
        session.add_all([models.CasbinRule(ptype="g", v0="admin", v1="admin"),
                         models.CasbinRule(ptype="g", v0="office", v1="steering_office"),
                         models.CasbinRule(ptype="g", v0="user:office", v1="steering_office"),  # a newer API's
                         models.CasbinRule(ptype="g", v0="steering_committee", v1="auditor")])  # role to role
    renamed = [["steering_committee", "auditor"], ["user:admin", "admin"], ["user:office", "steering_office"]]
    try:
        first, second = await asyncio.gather(load_enforcer(engine), load_enforcer(engine))
        assert sorted(first.get_grouping_policy()) == sorted(second.get_grouping_policy()) == renamed
        assert await roles_of(first, "admin") == ["admin"] and await roles_of(second, "office") == ["steering_office"]
        assert sorted((await load_enforcer(engine)).get_grouping_policy()) == renamed
    finally:
        await engine.dispose()


async def test_a_password_is_kept_as_typed_spaces_and_all(stack: Stack) -> None:
    username = f"acc-{uuid.uuid4().hex[:8]}"
    password = f"  {STRONG}  "
    created = await stack.http.post("/api/v1/users", headers=await stack.login(*ADMIN), json={
        "username": username, "password": password, "full_name": "Người thử khoảng trắng", "roles": ["auditor"]})
    assert created.status_code == 201, created.text
    async with client_at(stack, _address()) as client:
        assert (await _token(client, username, password)).status_code == 200
        assert (await _token(client, username, STRONG)).status_code == 401
