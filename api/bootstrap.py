"""What a first start puts in place: the administrator, and with NQ57_DEMO the reference agencies,
one demo user per role and the sample program."""

import csv
import io
import logging
from pathlib import Path
from typing import Any

import casbin
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import Headers, UploadFile

from db import models
from domain.commands import COMMAND_MODELS, Accept, Action, SubtaskCreate
from domain.program_file import read_rows, spec_from_row
from domain.refusals import Refusal
from domain.task import Kpi
from messages import say
from services import people, tasks
from services.context import Context
from services.people import add_user
from services.views import Directive

log = logging.getLogger("nq57.bootstrap")

REFERENCE_DIR = Path(__file__).resolve().parent.parent / "data" / "reference"
DEMO_PASSWORD = "nq57-demo"
# The sample program, an appendix of a Committee notice as written (phrases, directives), and one
# task of each kind with a group directive and a task to cascade down to communes.
DEMO_PROGRAMS = ("program-sample.csv", "program-notice-20.csv", "program-demo.csv")
# A demo task handed down by its lead's head to units of its own: (task, head, [(unit, title)]).
DEMO_CASCADE = ("DEMO-06", "hni.head", [("HNI-HOANKIEM", "Hướng dẫn hộ dân phường Hoàn Kiếm dùng dịch vụ công"),
                                        ("HNI-SOCSON", "Hướng dẫn hộ dân xã Sóc Sơn dùng dịch vụ công")])
# Demo tasks taken through their cross-check by the people whose job it is (`_results_demo`): results, not
# reports. DEMO-07 reports 12 engineers trained against a target of 5,000 and waits for the reviewer, who
# can approve it only as "completed, targets not met"; DEMO-08 met its targets and is completed as met.
DEMO_RESULTS: list[tuple[str, str, dict[str, float], bool]] = [  # code, lead's head, results, approve
    ("DEMO-07", "bkhcn.head", {"Kỹ sư được đào tạo": 12}, False),
    ("DEMO-08", "bca.head", {"Thời gian cấp": 3, "Hồ sơ được cấp trực tuyến": 86}, True),
]
# username, full name, agency, roles: one person for each role, around the sample program.
DEMO_USERS = [
    ("office", "Chuyên viên Văn phòng Trung ương (Cơ quan Thường trực)", "VPTW", ["steering_office"]),
    ("committee", "Thành viên Ban Chỉ đạo", None, ["steering_committee"]),
    ("hni.head", "Chủ tịch UBND thành phố Hà Nội", "HNI", ["agency_head"]),
    ("hni.officer", "Cán bộ đầu mối thành phố Hà Nội", "HNI", ["agency_officer"]),
    ("btc.head", "Bộ trưởng Bộ Tài chính", "BTC", ["agency_head"]),
    ("btc.officer", "Cán bộ đầu mối Bộ Tài chính", "BTC", ["agency_officer"]),
    ("bca.head", "Bộ trưởng Bộ Công an", "BCA", ["agency_head"]),
    ("bca.officer", "Cán bộ đầu mối Bộ Công an", "BCA", ["agency_officer"]),
    ("bkhcn.head", "Bộ trưởng Bộ Khoa học và Công nghệ", "BKHCN", ["agency_head"]),
    ("bkhcn.officer", "Cán bộ đầu mối Bộ Khoa học và Công nghệ", "BKHCN", ["agency_officer"]),
    ("finance", "Chuyên viên thẩm định kinh phí, Bộ Tài chính", "BTC", ["finance_reviewer"]),
    ("reviewer", "Chuyên gia kiểm tra chéo, TP Hồ Chí Minh", "HCM", ["cross_check_reviewer"]),
    ("auditor", "Kiểm tra viên, Thanh tra Chính phủ", "TTCP", ["auditor"]),
    # the units below a ministry and a province, for sub-tasks down the chain
    ("cds.head", "Cục trưởng Cục Chuyển đổi số quốc gia", "BKHCN-CDS", ["agency_head"]),
    ("cds.officer", "Cán bộ đầu mối Cục Chuyển đổi số quốc gia", "BKHCN-CDS", ["agency_officer"]),
    ("dmst.head", "Cục trưởng Cục Đổi mới sáng tạo", "BKHCN-DMST", ["agency_head"]),
    ("hoankiem.head", "Chủ tịch UBND phường Hoàn Kiếm", "HNI-HOANKIEM", ["agency_head"]),
    ("hoankiem.officer", "Cán bộ đầu mối phường Hoàn Kiếm", "HNI-HOANKIEM", ["agency_officer"]),
    ("socson.head", "Chủ tịch UBND xã Sóc Sơn", "HNI-SOCSON", ["agency_head"]),
]


async def ensure_admin(sessions: async_sessionmaker[AsyncSession], enforcer: casbin.AsyncEnforcer,
                       password: str) -> None:
    async with sessions() as session:
        if password and await session.get(models.User, "admin") is None:
            try:
                await add_user(session, enforcer, "admin", password, "Quản trị hệ thống", None, ["admin"])
            except IntegrityError:  # another API process, starting at the same moment, made it
                return
            log.info("Đã tạo tài khoản quản trị 'admin'")


async def load_agencies(sessions: async_sessionmaker[AsyncSession], path: Path) -> int:
    """The agencies of the file that are not in the database yet, in the file's order (a unit after
    the agency it belongs to); an agency stored before agencies had a `parent` gets the file's."""
    added = 0
    async with sessions() as session:
        with path.open(encoding="utf-8-sig") as file:
            for row in csv.DictReader(file):
                parent = row.get("parent") or None
                agency = await session.get(models.Agency, row["code"])
                if agency is None:
                    session.add(models.Agency(code=row["code"], name=row["name"], name_en=row.get("name_en", ""),
                                              kind=row["kind"], parent=parent))
                    await session.flush()  # before a unit of it names it as its parent
                    added += 1
                elif agency.parent is None and parent is not None:
                    agency.parent = parent
        await session.commit()
    return added


async def load_groups(sessions: async_sessionmaker[AsyncSession], path: Path) -> None:
    async with sessions() as session:
        with path.open(encoding="utf-8-sig") as file:
            for row in csv.DictReader(file):
                if await session.get(models.AgencyGroup, row["code"]) is None:
                    session.add(models.AgencyGroup(code=row["code"], name=row["name"],
                                                   members=[code.strip() for code in row["members"].split(";")]))
        await session.commit()


async def load_demo_people(sessions: async_sessionmaker[AsyncSession], enforcer: casbin.AsyncEnforcer) -> None:
    """The reference agencies and their groups, and one demo user per role."""
    await load_agencies(sessions, REFERENCE_DIR / "agencies.csv")
    await load_groups(sessions, REFERENCE_DIR / "agency_groups.csv")
    async with sessions() as session:
        for username, full_name, agency, roles in DEMO_USERS:
            if await session.get(models.User, username) is None:
                await add_user(session, enforcer, username, DEMO_PASSWORD, full_name, agency, roles)


async def load_demo(ctx: Context) -> None:
    sessions = ctx.sessions
    await load_demo_people(sessions, ctx.enforcer)
    rows = [row for program in DEMO_PROGRAMS
            for row in read_rows((REFERENCE_DIR / program).read_bytes(), program)]
    for row in rows:
        async with sessions() as session:
            known = (await session.get(models.Task, row["code"]) is not None
                     or await session.get(models.TaskGroup, row["code"]) is not None)
        if not known:  # a quick skip on restarts; Temporal still decides whether the code is new
            try:
                await tasks.assign(ctx, spec_from_row(row, Directive), "office")
            except Refusal as refusal:  # already started by another process, say: never fatal
                log.warning("Nhiệm vụ mẫu %s: %s", row["code"], say(refusal.code, refusal.params))
            except ValidationError as error:  # a demo row this version cannot read: said, never fatal
                log.warning("Nhiệm vụ mẫu %s: %s", row["code"], error)
    await _cascade_demo(ctx)
    await _results_demo(ctx)


async def _cascade_demo(ctx: Context) -> None:
    """The lead's head accepts the demo task and hands parts down to two communes, through the
    application layer as a person would; keyed, so a restart repeats nothing."""
    code, username, units = DEMO_CASCADE
    head = await people.person(ctx, username)
    async with ctx.sessions() as session:
        row = await session.get(models.Task, code)
    if head is None or row is None or row.state.get("subtasks"):
        return
    try:
        if row.stage == "assigned":
            await tasks.act(ctx, await tasks.permit(ctx, head, code, "accept", f"demo-{code}-accept"), _accept)
        for unit, title in units:
            await tasks.split(ctx, head, code, SubtaskCreate(
                code=f"{code}-{unit.removeprefix('HNI-')}", title=title, lead_agency=unit,
                deadline="trong tháng 9/2027", kpis=[Kpi(name="Hộ dân được hướng dẫn", target=1000, unit="hộ")]),
                f"demo-{code}-{unit}")
    except Refusal as refusal:  # another process did it first, say: never fatal
        log.warning("Nhiệm vụ mẫu %s: %s", code, say(refusal.code, refusal.params))


async def _accept(_: object) -> Accept:
    return Accept()


async def _results_demo(ctx: Context) -> None:
    """Each DEMO_RESULTS task accepted, its evidence submitted, a reviewer assigned (and, for one, the
    cross-check approved), through the application layer as people would; keyed, so a restart
    repeats nothing and a step already taken is skipped."""
    for code, head, results, approve in DEMO_RESULTS:
        steps: list[tuple[str, str, dict[str, Any]]] = [
            (head, "accept", {}),
            ("office", "review.assign", {"reviewer": "reviewer"}),
            *([("reviewer", "review.approve", {"reason": "Đã kiểm tra tại cơ sở: đạt"})] if approve else []),
        ]
        try:
            await _demo_step(ctx, code, *steps[0])
            await _demo_evidence(ctx, code, head, results)
            for step in steps[1:]:
                await _demo_step(ctx, code, *step)
        except Refusal as refusal:  # a step already taken (a restart), or another process first: never fatal
            log.info("Nhiệm vụ mẫu %s: %s", code, say(refusal.code, refusal.params))


async def _demo_step(ctx: Context, code: str, username: str, action: str, body: dict[str, Any]) -> None:
    actor = await people.person(ctx, username)
    if actor is None:
        return
    command = COMMAND_MODELS[Action(action)].model_validate(body)

    async def build(_: object) -> Any:
        return command
    await tasks.act(ctx, await tasks.permit(ctx, actor, code, action, f"demo-{code}-{action}"), build)


async def _demo_evidence(ctx: Context, code: str, username: str, results: dict[str, float]) -> None:
    actor = await people.person(ctx, username)
    if actor is None:
        return
    allowed = await tasks.permit(ctx, actor, code, Action.EVIDENCE_SUBMIT, f"demo-{code}-evidence")
    report = UploadFile(io.BytesIO(f"%PDF-1.4\n% Báo cáo kết quả {code}\n".encode()), filename=f"{code}-ket-qua.pdf",
                        headers=Headers({"content-type": "application/pdf"}))

    async def build(_: object) -> Any:
        return await tasks.evidence(ctx, [report], "Báo cáo kết quả thực hiện", dict(results))
    await tasks.act(ctx, allowed, build)
