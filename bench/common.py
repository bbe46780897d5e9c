"""What the floor and the stack measurements share: ports, percentiles, process figures from /proc,
and bounded concurrent clients."""

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

Latencies = dict[str, list[float]]  # step name -> seconds, one per call


def pct(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank); NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def summary_ms(seconds: list[float]) -> dict[str, float]:
    return {"n": len(seconds), "p50_ms": pct(seconds, 0.5) * 1000, "p95_ms": pct(seconds, 0.95) * 1000,
            "p99_ms": pct(seconds, 0.99) * 1000}


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (its own, not its children's)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> tuple[float, float]:
    """The machine's CPU time so far, busy and in all, summed over its CPUs (/proc/stat: idle and
    waiting on I/O are not busy)."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    total = sum(ticks)  # user, nice, system, idle, iowait, irq, softirq, steal
    return (total - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK"), total / os.sysconf("SC_CLK_TCK")


@dataclass
class CpuUse:
    """CPU used from one moment to another: by this process (`own`), by other processes (`processes`,
    summed), and how busy the machine's CPUs were (`busy`, 0 to 1 of them all; `busy_s`, CPU seconds)."""

    pids: list[int]
    start: tuple[float, float, float, float]  # machine busy, machine in all, this process, the processes
    own: float = float("nan")
    processes: float = float("nan")
    busy: float = float("nan")
    busy_s: float = float("nan")

    @classmethod
    def since(cls, pids: list[int]) -> "CpuUse":
        return cls(pids, cls._now(pids))

    @staticmethod
    def _now(pids: list[int]) -> tuple[float, float, float, float]:
        busy, every = machine_cpu()
        return busy, every, time.process_time(), sum(cpu_seconds(pid) for pid in pids)

    def until(self) -> "CpuUse":
        """This use, measured up to now."""
        busy, every, own, processes = (end - start for end, start in zip(self._now(self.pids), self.start, strict=True))
        self.own, self.processes, self.busy, self.busy_s = own, processes, busy / max(every, 1e-9), busy
        return self


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def children(pid: int) -> list[int]:
    """The direct children of a process (of any of its threads)."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for thread in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found += [int(child) for child in (thread / "children").read_text().split()]
    return found


def stop_group(process: "subprocess.Popen[bytes]", first: signal.Signals = signal.SIGINT, grace: float = 30) -> None:
    """Stop a process this bench started in its own process group: `first`, then SIGKILL after `grace`."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, first)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(10)


@dataclass
class Run:
    """What `clients` concurrent clients did: how many items, in how long, each step's latencies; and
    how busy the machine's CPUs were meanwhile (`cpus_busy`, 0 to 1 of them all), `clients_share` of
    that busy time the clients' own (this process's)."""

    done: int = 0
    seconds: float = 0.0
    latencies: Latencies = field(default_factory=dict)
    cut_short: bool = False
    cpus_busy: float = float("nan")
    clients_share: float = float("nan")

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds else float("nan")

    def add(self, step: str, seconds: float) -> None:
        self.latencies.setdefault(step, []).append(seconds)


async def run_clients(total: int, clients: int, one: Callable[[Run], Awaitable[None]], seconds: float) -> Run:
    """`total` items by `clients` at once; no new item starts after `seconds` (the run says it was cut short)."""
    run = Run()
    left = iter(range(total))
    used = CpuUse.since([])
    start = time.perf_counter()

    async def client() -> None:
        for _ in left:
            if time.perf_counter() - start > seconds:
                run.cut_short = True
                return
            await one(run)
            run.done += 1

    await asyncio.gather(*(client() for _ in range(max(1, clients))))
    run.seconds = time.perf_counter() - start
    used.until()
    run.cpus_busy = used.busy
    run.clients_share = used.own / used.busy_s if used.busy_s > 0 else float("nan")
    return run
