"""The stack's figures, over HTTP on loopback as the demo people, and the policy's in process."""

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import httpx

from bench.common import CpuUse, Run, cpu_seconds, pct, rss_mib, run_clients, summary_ms
from bench.rounds import read_figure
from bench.stack import Stack, login

API = "/api/v1"
# A program's tasks are spread over every agency, led by each in turn (the next one coordinating),
# on its themes in turn: what one agency's lists and a search find is a share of the program.
THEMES = ("chuyển đổi số", "khoa học công nghệ", "đổi mới sáng tạo", "hạ tầng số", "dữ liệu số",
          "nhân lực số", "an toàn thông tin", "kinh tế số")
IMPORT_ROWS = 500  # rows per program file
KPI = {"name": "Chỉ tiêu", "target": 1, "unit": "lần"}
BUDGET = {"amount_vnd": 5_000_000_000, "source": "Ngân sách trung ương",
          "lines": [{"item": "Thiết bị", "amount_vnd": 3_000_000_000},
                    {"item": "Đào tạo", "amount_vnd": 2_000_000_000}]}
# NQ57's lifecycle with a budget (README, "One task, end to end"): after `create`, these actions,
# each a workflow update: (action, who, body or None for the multipart evidence).
ACTIONS: tuple[tuple[str, str, dict[str, Any] | None], ...] = (
    ("accept", "bkhcn.head", {"officer": "bkhcn.officer"}),
    ("budget.submit", "bkhcn.head", BUDGET),
    ("budget.approve", "finance", {}),
    ("progress.report", "bkhcn.officer", {"percent": 60, "kpi_actuals": {"Chỉ tiêu": 0.6}, "note": "Đang làm",
                                          "disbursed_vnd": 1_000_000_000}),
    ("comment", "office", {"text": "Nhắc việc"}),
    ("evidence.submit", "bkhcn.head", None),
    ("review.assign", "office", {"reviewer": "reviewer"}),
    ("review.approve", "reviewer", {"reason": "Sản phẩm dùng được"}),
)
RESULTS = json.dumps({"Chỉ tiêu": 1}, ensure_ascii=False)
PEOPLE = ("office", "hni.head", "bkhcn.head", "bkhcn.officer", "finance", "reviewer")


class Calls:
    """Logged-in headers of the demo people, and a checked, timed call, through aiohttp, whose client
    costs a fraction of httpx's CPU (the bench's clients share the stack's two CPUs): 10 clients
    reading task details took 50-55% of this machine's busy CPU with httpx, as much as the API itself,
    and 13-16% with aiohttp; taking tasks through their lifecycles, 9% with httpx and 3% with aiohttp."""

    def __init__(self, session: aiohttp.ClientSession, base: str, headers: dict[str, dict[str, str]]) -> None:
        self.session, self.base, self.headers = session, base, headers
        self.agencies: list[str] = []  # every agency's code, the leads of imported tasks in turn

    @classmethod
    async def login(cls, client: httpx.AsyncClient, session: aiohttp.ClientSession, base: str) -> "Calls":
        """Signed in through httpx (`client`), calling through aiohttp (`session`)."""
        calls = cls(session, base, {name: await login(client, base, name) for name in PEOPLE})
        _, agencies = await calls.get("office", "/agencies")
        calls.agencies = sorted(agency["code"] for agency in agencies)
        return calls

    async def post(self, run: Run | None, step: str, who: str, path: str, json_body: Any = None,
                   form: list[tuple[str, Any]] | None = None) -> Any:
        """A JSON body, or a multipart `form` of (name, text) and (name, (filename, bytes, type)) fields."""
        data = None
        if form is not None:
            data = aiohttp.FormData()
            for name, value in form:
                if isinstance(value, tuple):
                    filename, content, kind = value
                    data.add_field(name, content, filename=filename, content_type=kind)
                else:
                    data.add_field(name, value)
        start = time.perf_counter()
        async with self.session.post(f"{self.base}{API}{path}", headers=self.headers[who], json=json_body,
                                     data=data) as answer:
            body = await answer.read()
        if run is not None:
            run.add(step, time.perf_counter() - start)
        if answer.status not in (200, 201):
            raise SystemExit(f"{step}: {answer.status} {body[:300].decode(errors='replace')}")
        return json.loads(body)

    async def get(self, who: str, path: str) -> tuple[float, Any]:
        start = time.perf_counter()
        async with self.session.get(f"{self.base}{API}{path}", headers=self.headers[who]) as answer:
            body = await answer.read()
        took = time.perf_counter() - start
        if answer.status != 200:
            raise SystemExit(f"GET {path}: {answer.status} {body[:300].decode(errors='replace')}")
        return took, json.loads(body)


async def lifecycles(calls: Calls, stack: Stack, total: int, clients: int, seconds: float) -> dict[str, Any]:
    """`total` tasks created by the Office and taken to completion through ACTIONS, `clients` at once."""

    async def one(run: Run) -> None:
        code = f"BENCH-{uuid.uuid4().hex[:10].upper()}"
        await calls.post(run, "create", "office", "/tasks", {
            "code": code, "title": "Đo hiệu năng", "lead_agency": "BKHCN", "deadline": "31/12/2027",
            "kpis": [KPI], "budget_required": True})
        for action, who, body in ACTIONS:
            path = f"/tasks/{code}/actions/{action}"
            if body is None:
                await calls.post(run, action, who, path, form=[
                    ("files", ("bao-cao.pdf", b"%PDF-1.4 bao cao", "application/pdf")),
                    ("summary", "Xong"), ("kpi_results", RESULTS)])
            else:
                await calls.post(run, action, who, path, body)

    ours = stack.api_worker_pids()
    pids = [*ours, *stack.dev_server_pids()]
    cpu = [cpu_seconds(pid) for pid in pids]
    run = await run_clients(total, clients, one, seconds)
    cpu = [cpu_seconds(pid) - before for pid, before in zip(pids, cpu, strict=True)]
    actions = [value for step, values in run.latencies.items() if step != "create" for value in values]
    return {"done": run.done, "cut_short": run.cut_short, "seconds": run.seconds, "lifecycles_per_s": run.rate,
            "cpus_busy": run.cpus_busy, "clients_share": run.clients_share,
            "action_p50_ms": pct(actions, 0.5) * 1000, "action_p99_ms": pct(actions, 0.99) * 1000,
            "per_step": {step: summary_ms(values) for step, values in run.latencies.items()},
            "cpu_s_per_lifecycle": sum(cpu[:len(ours)]) / max(run.done, 1),
            "dev_server_cpu_s_per_lifecycle": sum(cpu[len(ours):]) / max(run.done, 1)}


def program_file(codes: list[str], deadline: str, agencies: list[str]) -> bytes:
    rows = "".join(f"{code},Nhiệm vụ {THEMES[n % len(THEMES)]} {code},{agencies[n % len(agencies)]},"
                   f"{agencies[(n + 1) % len(agencies)]},{deadline}\n" for n, code in enumerate(codes))
    return ("code,title,lead_agency,coordinating_agencies,deadline\n" + rows).encode()


async def import_tasks(calls: Calls, codes: list[str], deadline: str, seconds: float) -> dict[str, Any]:
    """`codes` imported as program files of IMPORT_ROWS rows, one after another: tasks/s. Stops
    sending files after `seconds` (said in the answer)."""
    made, start, cut_short = 0, time.perf_counter(), False
    for first in range(0, len(codes), IMPORT_ROWS):
        if time.perf_counter() - start > seconds:
            cut_short = True
            break
        answer = await calls.post(None, "import", "office", "/tasks/import", form=[("file", (
            "chuong-trinh.csv", program_file(codes[first:first + IMPORT_ROWS], deadline, calls.agencies), "text/csv"))])
        if answer["errors"]:
            raise SystemExit(f"import refused rows: {answer['errors'][:3]}")
        made += len(answer["created"])
    took = time.perf_counter() - start
    return {"created": made, "seconds": took, "tasks_per_s": made / took if took else float("nan"),
            "cut_short": cut_short}


async def total_tasks(calls: Calls) -> int:
    _, page = await calls.get("office", "/tasks?limit=1")
    return int(page["total"])


READS: tuple[tuple[str, str, str], ...] = (  # figure, who, path
    ("list (Office)", "office", "/tasks?limit=50"),
    ("list (head)", "hni.head", "/tasks?limit=50"),
    ("list q=", "office", "/tasks?limit=50&q=chuyen%20doi%20so"),  # the program's theme: a common word
    ("list q=code", "office", "/tasks?limit=50&q={code}"),  # one task's code: a rare one
    ("list agency=", "office", "/tasks?limit=50&agency=HNI"),
    ("inbox (Office)", "office", "/inbox"),
    ("inbox (head)", "hni.head", "/inbox"),  # up to 200 items: as many as the head has, up to them
    ("inbox (head) limit=50", "hni.head", "/inbox?limit=50"),  # a page of the lists' size
    ("inbox (head) limit=10", "hni.head", "/inbox?limit=10"),  # a phone's screen: as many items at every size
)
# Read in the same rounds, a request the program's size does not touch (the caller's own account): the
# two stacks read side by side should answer it alike.
CONTROL = ("control: me", "office", "/me")
# Untimed reads of each list and inbox before the timed rounds: the first reads after a fill are
# slower (a stack's first round once read 1.2–1.9 times slower than its second, and than a stack of the
# same size beside it); they are the start's, not the program's size's.
WARM_UP = 20
# A stack is read once its processes are quiet: a stack just started replays, in its start-up
# catch-up, every task written since the last (README, "The first reads after a start").
QUIET_CPU = 0.1  # of a CPU, over a second
QUIET_WITHIN_S = 180


async def reads(calls: Calls, codes: list[str], repeat: int, clients: int, seconds: float, rounds: int,
                beside: tuple[Calls, list[str]] | None = None) -> dict[str, Any]:
    """At the program's current size: task detail by one client and by `clients` at once (over
    `codes`, in turn), then each list and inbox of READS, and the CONTROL, `repeat` times by one
    client, in `rounds` rounds (bench/rounds.py `read_figure`). With a stack `beside` (its calls and
    codes: a program of the smallest size), each list and inbox is read on both, its `repeat` reads
    on one then on the other, the first one way round and the next the other: their figures then come
    from the same minutes (`beside` in the answer). Not one request on each in turn: a stack read
    just after the other's longer answers read slower (a head's inbox of 15 items, read between
    inboxes of 200, 2.5 → 3.2 ms at its p95, while the control did not move). Each code is read once,
    untimed, first: every size then reads its tasks alike (the first size read them cold, the later
    ones found them parsed already, `db/states.py`, and looked faster for it); and each list and inbox
    WARM_UP times."""
    found: dict[str, Any] = {}
    sides = [(calls, codes)] if beside is None else [(calls, codes), beside]
    for side, side_codes in sides:
        for code in side_codes:
            await side.get("office", f"/tasks/{code}")
    for name, at_once in (("detail (1 client)", 1), (f"detail ({clients} clients)", clients)):
        async def one(run: Run) -> None:
            took, _ = await calls.get("office", f"/tasks/{codes[run.done % len(codes)]}")
            run.add("detail", took)

        run = await run_clients(repeat * at_once, at_once, one, seconds)
        found[name] = summary_ms(run.latencies["detail"]) | {"per_s": run.rate, "cut_short": run.cut_short,
                                                             "cpus_busy": run.cpus_busy,
                                                             "clients_share": run.clients_share}
    def read(side: Calls, side_codes: list[str], who: str, path: str) -> Awaitable[tuple[float, Any]]:
        return side.get(who, path.format(code=side_codes[len(side_codes) // 2]))  # `q=code`: a code it has

    for _, who, path in (*READS, CONTROL):
        for _ in range(WARM_UP):
            for side, side_codes in sides:
                await read(side, side_codes, who, path)
    runs: list[dict[str, list[dict[str, Any]]]] = [{name: [] for name, _, _ in (*READS, CONTROL)} for _ in sides]
    numbered = list(enumerate(sides))
    for number in range(rounds):
        order = numbered if number % 2 == 0 else numbered[::-1]
        for name, who, path in (*READS, CONTROL):
            for at, (side, side_codes) in order:  # one side's reads, then the other's, seconds apart
                times: list[float] = []
                items = 0
                start = time.perf_counter()
                for _ in range(repeat):
                    if time.perf_counter() - start > seconds:
                        break
                    took, answer = await read(side, side_codes, who, path)
                    times.append(took)
                    items = len(answer["items"] if isinstance(answer, dict) and "items" in answer else answer)
                runs[at][name].append(summary_ms(times) | {"per_s": len(times) / sum(times), "items": items})
    figures = [{name: read_figure(measured) for name, measured in side.items()} for side in runs]
    return found | figures[0] | ({"beside": figures[1]} if beside is not None else {})


async def quiet(stacks: list[Stack]) -> float:
    """Until the stacks' processes (API, worker, dev server) together use less than QUIET_CPU of a CPU
    over a second, at most QUIET_WITHIN_S: how long that took."""
    pids = [pid for stack in stacks for pid in (*stack.api_worker_pids(), *stack.dev_server_pids())]
    began = time.monotonic()
    while time.monotonic() - began < QUIET_WITHIN_S:
        before = sum(cpu_seconds(pid) for pid in pids)
        await asyncio.sleep(1)
        if sum(cpu_seconds(pid) for pid in pids) - before < QUIET_CPU:
            break
    return time.monotonic() - began


def rss(stack: Stack) -> dict[str, float]:
    return {"api_worker_mib": sum(rss_mib(pid) for pid in stack.api_worker_pids()),
            "dev_server_mib": sum(rss_mib(pid) for pid in stack.dev_server_pids())}


async def lapsing(calls: Calls, stack: Stack, count: int, import_rate: float, seconds: float) -> dict[str, Any]:
    """`count` tasks whose deadline (an ISO instant, as a program file may write it) lapses at one
    moment, set far enough ahead for the import to end before it: how long until all of them are at
    escalation level 1 (overdue), polled twice a second through the task list. The escalation ladder's
    first step is 0d (the default), so level 1 is due at the deadline itself. From the instant on, the
    CPU of the API+worker and of the dev server, each escalation's share, and how busy the machine was."""
    prefix = f"LAPSE{uuid.uuid4().hex[:6].upper()}"
    codes = [f"{prefix}-{n}" for n in range(count)]
    lead = 20 + 1.5 * count / max(import_rate, 5.0)
    at = (datetime.now(UTC) + timedelta(seconds=lead)).replace(microsecond=0)
    imported = await import_tasks(calls, codes, at.isoformat(), lead)
    found: dict[str, Any] = {"count": count, "created": imported["created"], "import_s": imported["seconds"],
                             "instant_lead_s": lead}
    if datetime.now(UTC) >= at or imported["created"] < count:
        found["invalid"] = "the import did not finish before the deadline: not measured"
        return found
    _, page = await calls.get("office", f"/tasks?limit=1&overdue=true&q={prefix.lower()}")
    if page["total"]:
        found["invalid"] = f"{page['total']} tasks were overdue before their deadline: not measured"
        return found
    # Counted among all overdue tasks, less those overdue before: a search's total is exact only up
    # to SEARCH_COUNTED (services/tasks.py), a filter's always.
    path = "/tasks?limit=1&overdue=true"
    _, page = await calls.get("office", path)
    before = int(page["total"])
    await asyncio.sleep(max(0.0, (at - datetime.now(UTC)).total_seconds()))
    ours = stack.api_worker_pids()
    used, server = CpuUse.since(ours), CpuUse.since(stack.dev_server_pids())
    seen: list[tuple[float, int]] = []
    while True:
        _, page = await calls.get("office", path)
        after = time.time() - at.timestamp()
        seen.append((after, int(page["total"]) - before))
        if seen[-1][1] >= count or after > seconds:
            break
        await asyncio.sleep(0.5)
    escalated = seen[-1][1]
    used, server = used.until(), server.until()
    found |= {"cpus_busy": used.busy, "cpu_s_each": used.processes / max(escalated, 1),
              "dev_server_cpu_s_each": server.processes / max(escalated, 1)}
    first = next((after for after, total in seen if total), float("nan"))
    half = next((after for after, total in seen if total >= count / 2), float("nan"))
    found |= {"escalated": escalated, "first_s": first, "p50_s": half, "all_s": seen[-1][0],
              "per_s": escalated / max(seen[-1][0], 1e-3), "complete": escalated >= count}
    _, task = await calls.get("office", f"/tasks/{codes[0]}")
    found["sample_escalation_level"] = task.get("escalation_level")
    return found


def policy(users: list[int], decisions: int = 2000) -> dict[str, Any]:
    """One Casbin decision (policies/enforcer.py: the default policy, each account in a `g` link to a
    role), asked afresh each time (the enforcer's remembered decisions forgotten) and as remembered,
    with each count of accounts. The lines loaded as the database's adapter loads them (pycasbin's
    `load_policy_line`, each appended): its model's `add_policies` looks for each line among those
    before it, which took this part about ten minutes at 100,000 accounts."""
    from casbin.persist import load_policy_line

    from policies.enforcer import MODEL_PATH, Enforcer, default_policy_lines, permits, subject

    found: dict[str, Any] = {}
    for count in users:
        enforcer = Enforcer(str(MODEL_PATH))
        for row in [*(row for row in default_policy_lines() if row[0] == "p"),
                    *(("g", subject(f"u{n}"), "agency_head") for n in range(count))]:
            load_policy_line(", ".join(row), enforcer)
        enforcer.build_role_links()
        afresh, remembered = [], []
        for n in range(decisions):
            enforcer.forget_decisions()
            start = time.perf_counter()
            permits(enforcer, f"u{(n * 7919) % count}", "lead", "in_progress", "evidence.submit")
            afresh.append(time.perf_counter() - start)
        for n in range(50):  # remembered once
            permits(enforcer, f"u{n}", "lead", "in_progress", "evidence.submit")
        for n in range(decisions):
            start = time.perf_counter()
            permits(enforcer, f"u{n % 50}", "lead", "in_progress", "evidence.submit")
            remembered.append(time.perf_counter() - start)
        found[str(count)] = {"afresh": summary_ms(afresh), "remembered": summary_ms(remembered)}
    return found
