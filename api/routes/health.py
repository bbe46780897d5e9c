from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

router = APIRouter(tags=["service"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    state = request.app.state
    checks: dict[str, str] = {}
    try:
        async with state.sessions() as session:
            await session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as error:  # readiness reports any failure, it does not raise
        checks["database"] = f"lỗi: {error}"
    try:
        await state.temporal.service_client.check_health()
        checks["temporal"] = "ok"
    except Exception as error:
        checks["temporal"] = f"lỗi: {error}"
    ready = all(value == "ok" for value in checks.values())
    body = {"detail": "Sẵn sàng" if ready else "Chưa sẵn sàng", **checks}
    return JSONResponse(status_code=200 if ready else 503, content=body)
