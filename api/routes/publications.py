"""Quarterly publication ("định kỳ hằng quý công bố, công khai"): the Standing Office publishes a
quarter that has ended; what it publishes is frozen (services/publications.py). There is no route to
change or withdraw it; the public reads it at /public/v1/publications (api/routes/public.py)."""

from typing import Annotated

from fastapi import APIRouter, Depends, status

from api.deps import ContextDep, allowed
from api.errors import responses
from domain.actors import Actor
from services import publications
from services.publications import PublicationIn, PublicationOut

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])


@router.post("/publications", status_code=status.HTTP_201_CREATED, responses=responses(
    401, 403, 409, 413, 422, notes={
        409: "The quarter is already published: a publication never changes.",
        422: "Also: not a quarter (`2026-Q1`), or a quarter that has not ended."}))
async def publish_quarter(body: PublicationIn, actor: Annotated[Actor, Depends(allowed("ranking.publish"))],
                          ctx: ContextDep) -> PublicationOut:
    """Freeze the quarter's status classes per agency, its cross-check results and its agency index."""
    return await publications.publish(ctx, actor, body.period)
