"""The FastAPI application: its resources are opened once in the lifespan, gathered in the
application layer's Context (services/context.py) and handed to routes through api/deps.py."""

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError
from temporalio.client import Client

from api import compression, errors, hardening, observe
from api.bootstrap import ensure_admin, load_demo
from api.rate_limit import PublicRateLimit
from api.routes import (
    actions,
    admin,
    audit,
    auth,
    health,
    inbox,
    notifications,
    policy,
    public,
    publications,
    reports,
    tasks,
)
from api.web import admin_pages, office_pages, pages
from db.projection import fill_in
from db.session import create_schema, make_sessions
from policies.enforcer import load_enforcer
from services.blobs import open_blob_store
from services.context import Context
from services.login_throttle import LoginThrottle
from settings import Settings, load_settings
from worker import build_worker, carrying, connect, run


def create_app(settings: Settings | None = None, temporal: Client | None = None) -> FastAPI:
    """`temporal` lets tests hand in a client of their own test server."""
    settings = settings or load_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = settings.make_engine()
        await create_schema(engine)
        async with make_sessions(engine)() as session:  # rows an older version projected: filled in once
            with contextlib.suppress(IntegrityError):  # another process starting is filling them in
                await fill_in(session)
        state = app.state
        state.settings = settings
        state.engine = engine
        state.sessions = make_sessions(engine)
        state.enforcer = await load_enforcer(engine)
        state.temporal = carrying(temporal) if temporal else await connect(settings, metrics=settings.run_worker)
        state.blobs = open_blob_store(settings)
        state.public_limiter = PublicRateLimit(state.sessions, settings.public_rate_limit)
        state.login_throttle = LoginThrottle.of(settings, state.sessions)
        state.ctx = Context(settings=settings, sessions=state.sessions, enforcer=state.enforcer,
                            temporal=state.temporal, blobs=state.blobs, login_throttle=state.login_throttle)
        await ensure_admin(state.sessions, state.enforcer, settings.admin_password)
        worker = build_worker(state.temporal, settings, state.sessions) if settings.run_worker else None
        worker_run = asyncio.create_task(run(worker, state.temporal, settings, state.sessions)) if worker else None
        # The policy as other processes change it; the public requests every process counted.
        following = [asyncio.create_task(state.enforcer.follow()), asyncio.create_task(state.public_limiter.follow())]
        try:
            if settings.demo:
                await load_demo(state.ctx)
            # What start built (modules, schemas, the policy) lives as long as the process: set apart
            # from the collector, whose full passes otherwise walk it all every few requests (a 100 ms
            # pause in one inbox of 200 items out of six, measured).
            gc.collect()
            gc.freeze()
            yield
        finally:
            for task in following:
                task.cancel()
            await asyncio.gather(*following, return_exceptions=True)
            if worker is not None and worker_run is not None:
                await worker.shutdown()
                with contextlib.suppress(Exception):
                    await worker_run
            await engine.dispose()

    app = FastAPI(
        title="NQ57 — Theo dõi nhiệm vụ Nghị quyết 57-NQ/TW",
        description="Giao, thực hiện, kiểm tra chéo và công khai nhiệm vụ của Ban Chỉ đạo Trung ương.",
        version="1.0.0",
        lifespan=lifespan,
    )
    errors.install(app)
    hardening.install(app, settings)
    app.add_middleware(compression.Compression)
    app.add_middleware(observe.Observe)  # the last added runs first: every answer is timed and carries its id
    app.add_exception_handler(Exception, observe.unexpected)
    # The API's routes first: its requests are the many, and routes are tried in order.
    for module in (tasks, actions, inbox, health, observe, auth, admin, policy, notifications, reports, publications,
                   audit, public):
        app.include_router(module.router)
    app.include_router(office_pages.router)  # before pages' GET /tasks/{code}
    app.include_router(admin_pages.router)
    pages.install(app)
    app.openapi = _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """FastAPI's document, without the 422 it adds by itself to every route with parameters: its body
    (`HTTPValidationError`, `detail` as an array) is not what this server answers. Every route that
    can answer 422 declares it with the real body (`api/errors.py: responses`); a route that cannot
    (a plain path segment is never malformed) declares none. tests/test_openapi_contract.py checks both."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    answers = operation.get("responses", {})
                    if "HTTPValidationError" in str(answers.get("422", "")):
                        del answers["422"]
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
        return app.openapi_schema  # type: ignore[return-value]

    return openapi
