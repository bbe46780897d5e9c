"""Who acts, and how they stand to a task: the relation Casbin's policy is written against."""

from enum import StrEnum

from pydantic import BaseModel


class Role(StrEnum):
    ADMIN = "admin"
    STEERING_OFFICE = "steering_office"
    STEERING_COMMITTEE = "steering_committee"
    AGENCY_HEAD = "agency_head"
    AGENCY_OFFICER = "agency_officer"
    FINANCE_REVIEWER = "finance_reviewer"
    CROSS_CHECK_REVIEWER = "cross_check_reviewer"
    AUDITOR = "auditor"


class Relation(StrEnum):
    LEAD = "lead"
    COORDINATING = "coordinating"
    DIRECTING = "directing"  # directs the lead ("Bộ Quốc phòng chỉ đạo Ban Cơ yếu Chính phủ chủ trì")
    ABOVE = "above"  # leads a task this sub-task was split from (a ministry over its department's part)
    REVIEWER = "reviewer"
    OTHER = "other"
    NONE = "none"  # an action on no task in particular (create a task, add a user)


class Actor(BaseModel):
    username: str
    agency: str | None = None
    roles: list[str] = []


def relation_of(actor: Actor, lead_agency: str, coordinating_agencies: list[str], reviewer: str | None,
                directing_agency: str | None = None, overseers: list[str] | None = None) -> Relation:
    """The assigned reviewer first: separation of duties hangs on that relation. `overseers` are the
    agencies leading the tasks a sub-task was split from: they stand above it, never beside."""
    if reviewer is not None and actor.username == reviewer:
        return Relation.REVIEWER
    if actor.agency is not None and actor.agency == lead_agency:
        return Relation.LEAD
    if actor.agency is not None and actor.agency in coordinating_agencies:
        return Relation.COORDINATING
    if actor.agency is not None and actor.agency in (overseers or []):
        return Relation.ABOVE
    if actor.agency is not None and actor.agency == directing_agency:
        return Relation.DIRECTING
    return Relation.OTHER
