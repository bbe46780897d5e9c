"""`python -m bench` (or `make bench`): NQ57 measured the README's way against a bare-Temporal floor,
on this machine, in one run (issue 14, "Fast at the program's real size"). Prints each figure with its
floor, its ratio and the goal, met or missed and by how much, with the load average at start and
end; writes the same to bench/results-<database>-<time>.json. bench/README.md says what each means.

Parts (`--only`, comma-separated; all by default):
  floor       the bare-Temporal floor: lifecycles of updates (in rounds with the stack's, below),
              deadlines lapsing together, and (with sizes) tasks created as an import creates them
  lifecycles  tasks created and taken to completion over HTTP by --clients clients at once, in
              --rounds rounds alternating with the floor's (floor, stack, floor, … floor): each
              stack run against the floor runs on either side of it; the median round's figures
  sizes       the program filled by import to each of --sizes, then detail, lists and inboxes read,
              and the API+worker's and the dev server's RSS, at each size (`--fill rows`: filled by
              projection rows alone, bench/rows.py: the reads' growth in minutes, nothing else); with
              more than one size, a second stack kept at the smallest is read beside it, and each
              read's growth is set against it in the same minutes
  lapse       --lapsing tasks whose deadline lapses at one instant: how fast all reach level 1
  policy      one Casbin decision with --policy-users accounts
Loopback only; every loop bounded in count and in time (--seconds per measurement)."""

import argparse
import asyncio
import contextlib
import os
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from bench import floor as bare
from bench import measure, rounds
from bench.measure import ACTIONS, Calls
from bench.report import Row, against, table, write
from bench.rows import fill as fill_rows
from bench.stack import Stack, analyze, create_database, drop_database, postgres_url
from services.tasks import IMPORT_AT_ONCE  # the import's rows started at once: the floor's creations too

PARTS = ("floor", "lifecycles", "sizes", "lapse", "policy")
LIST_GOAL_MS = 100  # list and inbox p95 below this at every size
GROWTH_GOAL = 2  # and at most this many times their p95 on a program of the smallest size read beside them
CONTROL = measure.CONTROL[0]  # the control read's figure, read beside the lists and inboxes
RSS_GOAL_MIB = 1024  # API + worker with 100,000 open tasks
IMPORT_GOAL = 100  # tasks/s


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--sizes", default="1000", help="program sizes to read at, ascending (default 1000)")
    parser.add_argument("--lifecycles", type=int, default=200, help="lifecycles, on the stack and the floor")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of lifecycles, the stack's alternating with the floor's (bench/rounds.py)")
    parser.add_argument("--read-rounds", type=int, default=5,
                        help="rounds of each list's and inbox's reads, each growth the median round's "
                             "(bench/rounds.py; the head's inbox of 200 at 100,000 tasks measured 1.20, 2.00 and "
                             "2.14 times its 15 at 1,000 in the three rounds of one run)")
    parser.add_argument("--clients", type=int, default=10, help="clients at once for lifecycles and detail")
    parser.add_argument("--api-processes", type=int, default=1, help="NQ57_API_PROCESSES of the stack")
    parser.add_argument("--creations", type=int, default=1000,
                        help="the import's floor: workflows created as the import creates tasks")
    parser.add_argument("--lapsing", type=int, default=1000, help="deadlines lapsing together (0: none)")
    parser.add_argument("--reads", type=int, default=300, help="requests per read figure and client (a p95 "
                        "of 100 moved by up to 57%% between runs here; of 300, by up to 37%%)")
    parser.add_argument("--policy-users", default="1000,10000,100000", help="accounts in the policy")
    parser.add_argument("--seconds", type=float, default=600, help="bound on each measurement")
    parser.add_argument("--fill", choices=("import", "rows"), default="import",
                        help="how the program grows to --sizes: import (real tasks) or rows (projection rows "
                             "alone, no workflows: only the reads count; bench/rows.py)")
    parser.add_argument("--only", default=",".join(PARTS), help=f"parts to run, of {','.join(PARTS)}")
    args = parser.parse_args()
    args.only = {part.strip() for part in args.only.split(",") if part.strip()}
    if unknown := args.only - set(PARTS):
        parser.error(f"--only: unknown part(s) {', '.join(sorted(unknown))}; the parts are {', '.join(PARTS)}")
    if args.rounds < 1 or args.read_rounds < 1:
        parser.error("--rounds, --read-rounds: at least 1")
    args.sizes = sorted(int(size) for size in args.sizes.split(",") if size.strip())
    args.policy_users = [int(count) for count in args.policy_users.split(",") if count.strip()]
    return args


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


async def run_floor(args: argparse.Namespace, results: dict[str, Any]) -> None:
    parts = {"deadlines", "creations"} if "floor" in args.only else set()  # lifecycles: `lifecycle_rounds`
    if "lapse" not in args.only:
        parts.discard("deadlines")
    if "sizes" not in args.only:  # where the import is measured
        parts.discard("creations")
    if not parts:
        return
    say(f"Floor: {args.lapsing} timers lapsing together; {args.creations} creations, {IMPORT_AT_ONCE} at once…")
    results["floor"] = await bare.measure(args.lifecycles, args.clients, len(ACTIONS), args.lapsing, args.seconds,
                                          parts, args.creations, IMPORT_AT_ONCE)


@contextlib.asynccontextmanager
async def started(args: argparse.Namespace, client: httpx.AsyncClient, session: aiohttp.ClientSession,
                  what: str) -> AsyncIterator[tuple[Stack, Calls, float]]:
    """A stack (`what` it is for) started as `make run` starts it, in a fresh data directory and, on
    PostgreSQL, a database of its own; its calls signed in, and how long it took to be ready. Stopped
    at the end; its data directory kept when the bench did not finish, and said where."""
    database_url = ""
    if args.database == "postgres":
        database_url = postgres_url()
        await create_database(database_url)
    say(f"Starting {what} as `make run` does (server.py, NQ57_DEMO=1) in a fresh data directory…")
    stack = Stack(database_url, args.api_processes)
    finished = False
    try:
        began = time.monotonic()
        await stack.ready(client)
        calls = await Calls.login(client, session, stack.base)
        yield stack, calls, time.monotonic() - began
        finished = True
    finally:
        say(f"Stopping {what}…")
        stack.stop()
        if database_url:
            await drop_database(database_url)
        if finished:
            shutil.rmtree(stack.dir, ignore_errors=True)
        else:
            say(f"Its data directory and server.log are kept in {stack.dir}")


async def run_stack(args: argparse.Namespace, results: dict[str, Any], rows: list[Row]) -> None:
    """The lifecycles on one stack; the program's sizes and the lapsing deadlines on another, fresh one,
    when the lifecycles ran first: read beside a stack of the smallest size (`sizes`), the growing
    program's stack has the same past as that one but for its program (after 600 lifecycles, the API
    answered `GET /api/v1/me` 1.2 times slower than a stack just started)."""
    async with (httpx.AsyncClient(timeout=httpx.Timeout(600, connect=10)) as client,
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600, connect=10)) as session):
        if "lifecycles" in args.only:
            async with started(args, client, session, "the stack") as (stack, calls, ready_s):
                await stack_ready(results, stack, calls, ready_s)
                await lifecycle_rounds(args, calls, stack, results)
        if not args.only & {"sizes", "lapse"}:
            return
        fresh = "a fresh stack for the program's sizes" if "lifecycles" in args.only else "the stack"
        async with started(args, client, session, fresh) as (stack, calls, ready_s):
            await stack_ready(results, stack, calls, ready_s)
            if "sizes" in args.only:
                await sizes(args, client, session, calls, stack, results, rows)
            if "lapse" in args.only and args.lapsing:
                rate = results.get("imports", [{}])[-1].get("tasks_per_s", 25.0)
                say(f"{args.lapsing} tasks whose deadline lapses at one instant (import at ~{rate:.0f}/s first)…")
                results["lapse"] = await measure.lapsing(calls, stack, args.lapsing, rate, args.seconds)
                results["lapse"]["rss"] = measure.rss(stack)
                lapse_rows(results, rows)


async def stack_ready(results: dict[str, Any], stack: Stack, calls: Calls, ready_s: float) -> None:
    """How the run's first stack started (kept in the results), said for each."""
    tasks = await measure.total_tasks(calls)
    results.setdefault("stack", {"ready_s": ready_s, "rss_at_start": measure.rss(stack), "tasks_at_start": tasks})
    say(f"Stack ready at {stack.base} in {ready_s:.0f} s ({tasks} demo tasks)")


def busy(found: dict[str, Any]) -> str:
    """Why a figure of throughput or of latency under load is what it is, as measured beside it: how
    busy the machine's CPUs were, and how much of that the bench's own clients."""
    return (f"the {os.cpu_count()} CPUs {found['cpus_busy']:.0%} busy, {found['clients_share']:.0%} of it "
            "the bench's clients")


def missed_because(row: Row, why: str) -> Row:
    """The row, with why it is missed beside its verdict when it is."""
    if row.verdict.startswith("missed"):
        row.verdict += f" ({why})"
    return row


async def lifecycle_rounds(args: argparse.Namespace, calls: Calls, stack: Stack, results: dict[str, Any]) -> None:
    """The stack's lifecycles in --rounds rounds, each followed by the floor's (with the floor, one
    floor run before the first): bench/rounds.py sets each against the floor around it."""
    with_floor = "floor" in args.only
    floor_runs, stack_runs = [], []

    async def floor_run(when: str) -> None:
        say(f"Floor {when}: {args.lifecycles} lifecycles of a start and {len(ACTIONS)} updates at "
            f"{args.clients} clients…")
        found = await bare.measure(args.lifecycles, args.clients, len(ACTIONS), lapsing=0, seconds=args.seconds,
                                   which={"lifecycles"}, creating=0, at_once=IMPORT_AT_ONCE)
        floor_runs.append(found["lifecycles"])

    if with_floor:
        await floor_run("before the first round")
    for number in range(1, args.rounds + 1):
        say(f"Round {number} of {args.rounds}: {args.lifecycles} lifecycles (create + {len(ACTIONS)} actions) "
            f"at {args.clients} clients…")
        stack_runs.append(await measure.lifecycles(calls, stack, args.lifecycles, args.clients, args.seconds))
        if with_floor:
            await floor_run(f"after round {number}")
    results["lifecycle_rounds"] = {"stack": stack_runs, "floor": floor_runs}
    if with_floor:
        paired = rounds.paired(stack_runs, floor_runs)
        chosen = rounds.median(paired)
        results["lifecycles"], results["lifecycles_floor"] = chosen.stack, chosen.floor
        results["lifecycles_spread"] = rounds.spread(paired)
    else:
        results["lifecycles"] = rounds.middle(stack_runs, key=lambda run: run["lifecycles_per_s"])


def lifecycle_rows(results: dict[str, Any]) -> list[Row]:
    """The median round's figures against its floor (bench/rounds.py), every round's ratio beside them."""
    life, base = results["lifecycles"], results.get("lifecycles_floor", {})
    nan = float("nan")
    why = busy(life)
    if base.get("cpu_s_per_lifecycle") and base.get("dev_server_cpu_s_per_lifecycle"):
        ours = life["cpu_s_per_lifecycle"] / base["cpu_s_per_lifecycle"]
        server = life["dev_server_cpu_s_per_lifecycle"] / base["dev_server_cpu_s_per_lifecycle"]
        why += (f"; a lifecycle's CPU {ours:.1f}× the floor's in NQ57, {server:.1f}× in the dev server; the "
                f"floor's CPUs {base['cpus_busy']:.0%} busy")
    throughput = missed_because(against("lifecycles/s", life["lifecycles_per_s"], "/s", 0.7, True,
                                        base.get("lifecycles_per_s"), True), why)
    if "lifecycles_spread" in results:
        throughput.verdict += f" ({results['lifecycles_spread']})"
    return [
        throughput,
        missed_because(against("action p50", life["action_p50_ms"], "ms", 1.3, False, base.get("update_p50_ms"),
                               True), why),
        against("action p99", life["action_p99_ms"], "ms", 1000, False, base.get("update_p99_ms")),
        Row("CPU s per lifecycle, API+worker (floor: its worker+clients)", life["cpu_s_per_lifecycle"], "s",
            base.get("cpu_s_per_lifecycle", nan)),
        Row("CPU s per lifecycle, dev server", life["dev_server_cpu_s_per_lifecycle"], "s",
            base.get("dev_server_cpu_s_per_lifecycle", nan)),
    ]


async def fill(args: argparse.Namespace, calls: Calls, stack: Stack, size: int, detail_codes: list[str],
               which: str = "the program") -> dict[str, Any] | None:
    """The program grown to `size` tasks (`--fill`): by import, or by one program file of real tasks
    first (the ones read in detail, the rows' model), then projection rows. The codes read in detail
    are added to `detail_codes`; the import's figures answered, when there was one."""
    have = await measure.total_tasks(calls)
    if size <= have:
        return None
    codes = [f"P{size}-{n}" for n in range(size - have)]
    imported_codes = codes if args.fill == "import" else [] if detail_codes else codes[:measure.IMPORT_ROWS]
    say(f"Filling {which} from {have} to {size} tasks: {len(imported_codes)} by import "
        f"({measure.IMPORT_ROWS} rows a file), {len(codes) - len(imported_codes)} as rows…")
    imported = None
    if imported_codes:
        imported = await measure.import_tasks(calls, imported_codes, "31/12/2027", args.seconds * 10)
        imported["to"] = size
        detail_codes += imported_codes[:: max(1, len(imported_codes) // 500)]
    if args.fill == "rows":
        await fill_rows(stack.async_database_url, detail_codes[0], codes[len(imported_codes):], calls.agencies)
    if await analyze(stack.async_database_url):
        say("VACUUM ANALYZE: PostgreSQL's statistics and visibility map brought up to the rows written "
            "(as autovacuum would)")
    return imported


async def sizes(args: argparse.Namespace, client: httpx.AsyncClient, session: aiohttp.ClientSession, calls: Calls,
                stack: Stack, results: dict[str, Any], rows: list[Row]) -> None:
    """The program filled to each of --sizes and read there. With more than one size, a second stack
    is filled to the smallest and kept there, and every size's lists and inboxes are read on both
    (bench/measure.py `reads`): a read's growth sets each larger program against the smallest one read
    in the same minutes (bench/rounds.py `growth`)."""
    results["imports"], results["sizes"] = [], {}
    detail_codes: list[str] = []
    smallest = args.sizes[0]
    beside: tuple[Calls, list[str]] | None = None
    stacks = [stack]
    async with contextlib.AsyncExitStack() as later:
        for size in args.sizes:
            if imported := await fill(args, calls, stack, size, detail_codes):
                results["imports"].append(imported)
                rows.append(import_row(size, imported["tasks_per_s"], results))
            if beside is None and len(args.sizes) > 1:
                beside_stack, beside_calls, _ = await later.enter_async_context(started(
                    args, client, session, f"a second stack (to stay at {smallest:,} tasks, read beside the first)"))
                beside_codes: list[str] = []
                await fill(args, beside_calls, beside_stack, smallest, beside_codes, "the second stack's program")
                beside = (beside_calls, beside_codes)
                stacks.append(beside_stack)
            have = await measure.total_tasks(calls)
            quiet_s = await measure.quiet(stacks)
            say(f"Reading at {have} tasks{f', beside {smallest:,}' if beside else ''} (quiet after {quiet_s:.0f} s)…")
            found = await measure.reads(calls, detail_codes or ["NQ57-2027-008"], args.reads, args.clients,
                                        args.seconds, args.read_rounds, beside)
            found |= {"rss": measure.rss(stack), "tasks": have, "quiet_after_s": quiet_s}
            results["sizes"][str(size)] = found
            rows += size_rows(args, size, found)
    for larger in args.sizes[1:]:
        rows += growth_rows(smallest, larger, results["sizes"][str(smallest)], results["sizes"][str(larger)])


def size_rows(args: argparse.Namespace, size: int, found: dict[str, Any]) -> list[Row]:
    """What was read at `size`: task detail, each list's and inbox's p95, the control, memory."""
    concurrent = found[f"detail ({args.clients} clients)"]
    rows = [missed_because(against(f"detail/s at {size:,} ({args.clients} clients)", concurrent["per_s"], "/s", 500,
                                   True), busy(concurrent)),
            missed_because(against(f"detail p99 at {size:,} ({args.clients} clients)", concurrent["p99_ms"], "ms", 50,
                                   False), busy(concurrent)),
            against(f"detail p99 at {size:,} (1 client)", found["detail (1 client)"]["p99_ms"], "ms", 50, False)]
    rows += [against(f"{name} p95 at {size:,}", found[name]["p95_ms"], "ms", LIST_GOAL_MS, False)
             for name, _, _ in measure.READS]
    rows.append(Row(f"{CONTROL} p95 at {size:,}", found[CONTROL]["p95_ms"], "ms"))
    if size == args.sizes[0] and "beside" in found:  # two programs of one size: how alike two stacks read
        alike = [rounds.growth(found[name]["p95_rounds_ms"], found["beside"][name]["p95_rounds_ms"])
                 for name, _, _ in (*measure.READS, measure.CONTROL)]
        rows.append(Row(f"two stacks of {size:,} read side by side, p95 ratios", max(alike), "×",
                        verdict=f"reported: {min(alike):.2f}–{max(alike):.2f}×, what the same program's reads "
                                "differ by in the same minutes"))
    if args.fill == "rows":  # no workflow behind most tasks: nothing to say of memory
        rows.append(Row(f"RSS API+worker at {size:,}", found["rss"]["api_worker_mib"], "MiB",
                        verdict="not counted: --fill rows"))
    else:
        rows += [against(f"RSS API+worker at {size:,}", found["rss"]["api_worker_mib"], "MiB", RSS_GOAL_MIB, False),
                 Row(f"RSS dev server at {size:,}", found["rss"]["dev_server_mib"], "MiB")]
    return rows


def growth_rows(smallest: int, larger: int, first: dict[str, Any], found: dict[str, Any]) -> list[Row]:
    """Each list's and inbox's growth from the smallest program to `larger`, read side by side
    (bench/rounds.py `growth`); the control's, which the program's size does not touch, beside them.
    Each verdict also gives the growth over the first stack's own figure at the smallest size
    (`first`), read minutes before: the only growth the bench printed before 2026-12-07."""
    beside = found["beside"]
    control = rounds.growth(found[CONTROL]["p95_rounds_ms"], beside[CONTROL]["p95_rounds_ms"])
    rows = [Row(f"{CONTROL} p95 growth {smallest:,}→{larger:,}", control, "×",
                verdict="reported: a read the program's size does not touch, on the two stacks")]
    for name, _, _ in measure.READS:
        row = against(f"{name} p95 growth {smallest:,}→{larger:,}",
                      rounds.growth(found[name]["p95_rounds_ms"], beside[name]["p95_rounds_ms"]), "×", GROWTH_GOAL,
                      False)
        if beside[name]["items"] != found[name]["items"]:  # a longer answer, not only a larger program
            row.verdict += f" (answers {beside[name]['items']} → {found[name]['items']} items)"
        row.verdict += f" (minutes apart: {found[name]['p95_ms'] / first[name]['p95_ms']:.2f}×)"
        if row.verdict.startswith("missed"):
            row.verdict += f" (p95 by round, {larger:,} beside {smallest:,}: " + ", ".join(
                f"{high:.1f} beside {low:.1f}"
                for high, low in zip(found[name]["p95_rounds_ms"], beside[name]["p95_rounds_ms"], strict=True)) + " ms)"
        rows.append(row)
    return rows


def import_row(size: int, rate: float, results: dict[str, Any]) -> Row:
    """The import's rate against its goal; beside it the floor's creations at as many at once (what
    Temporal alone makes of creating tasks as the import does, on this machine), and where that floor
    is under the goal, its batch starts: how fast Temporal answers starts that wait for no recording,
    and how fast its worker then records them (an import answering before its tasks are recorded
    would be no faster to have them recorded, and would answer with tasks no one can read yet)."""
    floor = results.get("floor", {}).get("creations", {}).get("per_s")
    row = against(f"import to {size:,}", rate, "/s", IMPORT_GOAL, True, floor)
    if floor is not None and floor < IMPORT_GOAL:
        row.verdict += f" (the floor itself: {floor:.0f}/s"
        if batch := results.get("floor", {}).get("batch_starts"):
            row.verdict += (f"; its starts answered before their recording: {batch['started_per_s']:.0f}/s, "
                            f"recorded at {batch['recorded_per_s']:.0f}/s")
        row.verdict += ")"
    return row


def lapse_rows(results: dict[str, Any], rows: list[Row]) -> None:
    lapse, base = results["lapse"], results.get("floor", {}).get("deadlines", {})
    count = lapse["count"]
    if "invalid" in lapse:
        rows.append(Row(f"{count:,} deadlines lapsing together", float("nan"), "/s", base.get("per_s"),
                        "≥ 0.7× floor", lapse["invalid"]))
        return
    row = against(f"{count:,} deadlines lapsing: escalated/s", lapse["per_s"], "/s", 0.7, True, base.get("per_s"), True)
    if not lapse["complete"]:
        row.verdict += f" ({lapse['escalated']:,} of {count:,} escalated within the bound)"
    if base.get("starts_overran_instant"):
        row.verdict += " (the floor's starts overran its instant: its rate is flattered)"
    if base.get("cpu_s_each") and base.get("dev_server_cpu_s_each"):
        missed_because(row, f"the {os.cpu_count()} CPUs {lapse['cpus_busy']:.0%} busy; an escalation's CPU "
                            f"{lapse['cpu_s_each'] / base['cpu_s_each']:.1f}× a floor timer's in NQ57, "
                            f"{lapse['dev_server_cpu_s_each'] / base['dev_server_cpu_s_each']:.1f}× in the dev "
                            f"server; the floor's CPUs {base['cpus_busy']:.0%} busy")
    rows += [row, Row(f"{count:,} deadlines lapsing: last escalated after", lapse["all_s"], "s", base.get("all_s"))]


def policy_rows(results: dict[str, Any], rows: list[Row]) -> None:
    for count, found in results["policy"].items():
        rows.append(against(f"policy decision p99, {int(count):,} accounts (afresh)", found["afresh"]["p99_ms"],
                            "ms", 1, False))
        rows.append(Row(f"policy decision p99, {int(count):,} accounts (remembered)",
                        found["remembered"]["p99_ms"], "ms"))


def not_measured(args: argparse.Namespace, results: dict[str, Any]) -> list[str]:
    notes = []
    largest = max(args.sizes) if args.sizes else 0
    if "sizes" in args.only and args.fill == "rows":
        notes.append("the program was filled by projection rows alone (--fill rows): its reads count, not its "
                     "import rate, memory or the dev server's")
    if "sizes" in args.only and largest < 100_000:
        notes.append(f"100,000 open tasks (this run reached {largest:,}): the RSS goal is for 100k; "
                     "run --sizes 1000,10000,100000")
    if "lapse" in args.only and args.lapsing < 10_000:
        notes.append(f"10,000 deadlines lapsing together (this run: {args.lapsing:,}); run --lapsing 10000")
    if args.only != set(PARTS):
        notes.append(f"parts left out by --only: {', '.join(sorted(set(PARTS) - args.only))}")
    imports = results.get("imports") or []
    if imports:
        rate = imports[-1]["tasks_per_s"]
        notes.append(f"at the measured import rate ({rate:.0f} tasks/s) filling to 10,000 tasks takes "
                     f"~{10_000 / rate / 60:.0f} min and to 100,000 ~{100_000 / rate / 60:.0f} min")
    return notes


async def main() -> None:
    args = arguments()
    load: dict[str, Any] = {"cpus": os.cpu_count(), "start": os.getloadavg()}
    results: dict[str, Any] = {"database": args.database, "sizes": args.sizes, "lifecycles_asked": args.lifecycles,
                               "clients": args.clients, "lapsing": args.lapsing, "parts": sorted(args.only),
                               "rounds": args.rounds, "read_rounds": args.read_rounds,
                               "actions_per_lifecycle": [action for action, _, _ in ACTIONS]}
    rows: list[Row] = []
    began = time.monotonic()
    say(f"NQ57 bench on {args.database}: {load['cpus']} CPUs, load average {load['start'][0]:.2f}")
    await run_floor(args, results)
    await run_stack(args, results, rows)
    if "lifecycles" in results:
        rows[:0] = lifecycle_rows(results)  # the table's first lines, as the issue lists its goals
    if "policy" in args.only:
        say(f"Policy decisions with {', '.join(f'{n:,}' for n in args.policy_users)} accounts…")
        results["policy"] = measure.policy(args.policy_users)
        policy_rows(results, rows)
    load["end"] = os.getloadavg()
    results["load"], results["seconds"] = load, time.monotonic() - began
    results["not_measured"] = not_measured(args, results)

    print(f"\nNQ57 bench — {args.database}; {load['cpus']} CPUs; load average at start "
          f"{' '.join(f'{x:.2f}' for x in load['start'])}, at end {' '.join(f'{x:.2f}' for x in load['end'])}; "
          f"{results['seconds']:.0f} s")
    print(table(rows))
    if "lifecycles" in results:
        steps = results["lifecycles"]["per_step"]
        print("Per step p50/p99 ms:", ", ".join(f"{step} {s['p50_ms']:.0f}/{s['p99_ms']:.0f}"
                                              for step, s in steps.items()))
    for note in results["not_measured"]:
        print("Not measured:", note)
    out = Path(__file__).with_name(f"results-{args.database}-{time.strftime('%Y%m%d-%H%M%S')}.json")
    write(out, results, rows)
    print(f"Written to {out}")


if __name__ == "__main__":
    asyncio.run(main())
