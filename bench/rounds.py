"""The bench's figures measured in rounds. The lifecycles: the floor's and the stack's alternating on
the same machine, floor, stack, floor, stack, … floor. Each stack run is set against the floor of its
own minutes, the mean of the floor runs just before and just after it: a machine shared with other
work runs faster or slower from one minute to the next (the floor alone moved from 10 to 18
lifecycles/s within one run here), so a floor measured once, minutes away, says little of the stack's
minutes. The figures are the median round's (by its lifecycles' ratio to its floor), and every
round's ratio is printed beside them.

Each list and inbox is read in rounds too (`read_figure`): every figure once per round, in turn, so a
slow minute falls on one round of each, not on every read of one; its figures are the round's whose
p95 is the median (a head's inbox of 10 items read at 10,000 tasks measured a p95 2.1 times its
p95 at 1,000, and 1.2 times at 100,000, in one run of single reads).

A read's growth with the program sets the grown program against one of the smallest size read beside
it in the same rounds, block by block (bench/measure.py `reads`, here `growth`): not against the
smallest size's figure taken minutes before, when the machine may have run faster or slower (the same
code's list grew 1.22×, 1.92× and 2.28× in three runs measured that way, while a read the program's
size does not touch moved 0.91–1.11× between the sizes' minutes)."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

# The floor's figures a round sets the stack's against (bench/floor.py `lifecycles`).
FLOOR_FIGURES = ("lifecycles_per_s", "update_p50_ms", "update_p99_ms", "cpu_s_per_lifecycle",
                 "dev_server_cpu_s_per_lifecycle", "cpus_busy")


@dataclass
class Round:
    stack: dict[str, Any]  # bench/measure.py `lifecycles`
    floor: dict[str, float]  # the mean of the floor runs on either side, FLOOR_FIGURES
    floor_runs: tuple[float, float]  # those two runs' lifecycles/s

    @property
    def ratio(self) -> float:
        """The stack's lifecycles/s over its floor's."""
        return float(self.stack["lifecycles_per_s"] / self.floor["lifecycles_per_s"])

    @property
    def p50_ratio(self) -> float:
        """The stack's action p50 over its floor's update p50."""
        return float(self.stack["action_p50_ms"] / self.floor["update_p50_ms"])


def paired(stack_runs: list[dict[str, Any]], floor_runs: list[dict[str, Any]]) -> list[Round]:
    """Each stack run with the floor around it: `floor_runs` holds one run more than `stack_runs`,
    the first before the first stack run, each other one after a stack run."""
    if len(floor_runs) != len(stack_runs) + 1:
        raise ValueError(f"{len(stack_runs)} stack runs need {len(stack_runs) + 1} floor runs around them, "
                         f"not {len(floor_runs)}")
    return [Round(stack=ours, floor={name: (before[name] + after[name]) / 2 for name in FLOOR_FIGURES},
                  floor_runs=(before["lifecycles_per_s"], after["lifecycles_per_s"]))
            for ours, before, after in zip(stack_runs, floor_runs, floor_runs[1:], strict=False)]


def middle(items: list[T], key: Callable[[T], float]) -> T:
    """The item whose `key` is the median (of an even number of items, the upper of the middle two)."""
    if not items:
        raise ValueError("no round to take the median of")
    return sorted(items, key=key)[len(items) // 2]


def read_figure(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """A read's figures (bench/measure.py `reads`, one summary per round): the median round's by its
    p95, with every round's p95 in the order they ran."""
    return middle(runs, key=lambda run: run["p95_ms"]) | {"p95_rounds_ms": [run["p95_ms"] for run in runs]}


def growth(grown: list[float], beside: list[float]) -> float:
    """A read's growth: the median, over the rounds, of the grown program's p95 over the p95 of the
    smallest one read beside it in the same round (`p95_rounds_ms` of each, in the order they ran)."""
    if len(grown) != len(beside) or not grown:
        raise ValueError(f"{len(grown)} rounds of the grown program need as many beside them, not {len(beside)}")
    return middle([high / low for high, low in zip(grown, beside, strict=True)], key=float)


def median(rounds: list[Round]) -> Round:
    """The round whose ratio is the median."""
    return middle(rounds, key=lambda one: one.ratio)


def spread(rounds: list[Round]) -> str:
    """Every round's lifecycles ratio and action p50 ratio, in the order they ran, and the floor's
    lowest and highest run: what the verdicts print beside the median round's figures."""
    floors = [rate for one in rounds for rate in one.floor_runs]
    return (f"rounds: {', '.join(f'{one.ratio:.2f}×' for one in rounds)} the floor, action p50 "
            f"{', '.join(f'{one.p50_ratio:.2f}×' for one in rounds)}; the floor's runs "
            f"{min(floors):.1f}–{max(floors):.1f}/s")
