"""The table the bench prints, and its JSON: each figure with its floor, its ratio to the floor, the
goal of issue 14 and whether it is met (or by how much it is missed)."""

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass
class Row:
    figure: str
    value: float
    unit: str
    floor: float | None = None
    goal: str = "reported"
    verdict: str = "—"

    @property
    def ratio(self) -> float | None:
        if self.floor is None or not self.floor or math.isnan(self.floor):
            return None
        return self.value / self.floor


def verdict(value: float, goal: float, at_least: bool) -> str:
    """`met`, or `missed by N%` (how far the value is from the goal, relative to the goal)."""
    if math.isnan(value):
        return "not measured"
    if value >= goal if at_least else value <= goal:
        return "met"
    if not goal:
        return "missed"
    by = abs(value / goal - 1) * 100
    return f"missed by {by:.0f}%" if by >= 1 else f"missed by {by:.1f}%"


def against(figure: str, value: float, unit: str, goal: float, at_least: bool, floor: float | None = None,
            of_floor: bool = False) -> Row:
    """A row whose goal is `goal` (× the floor when `of_floor`), at least or at most."""
    sign = "≥" if at_least else "≤"
    if of_floor:
        ratio = value / floor if floor else float("nan")
        return Row(figure, value, unit, floor, f"{sign} {goal:g}× floor", verdict(ratio, goal, at_least))
    return Row(figure, value, unit, floor, f"{sign} {goal:g} {unit}".rstrip(), verdict(value, goal, at_least))


def number(value: float | None) -> str:
    if value is None:
        return ""
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:,.2f}" if abs(value) >= 0.1 or value == 0 else f"{value:.3f}"


def table(rows: list[Row]) -> str:
    width = max(len(row.figure) for row in rows) if rows else 10
    lines = [f"{'figure':{width}} {'value':>10} {'unit':6} {'floor':>10} {'ratio':>7}  {'goal':16} verdict",
             "-" * (width + 70)]
    for row in rows:
        ratio = f"{row.ratio:.2f}×" if row.ratio is not None else ""
        lines.append(f"{row.figure:{width}} {number(row.value):>10} {row.unit:6} {number(row.floor):>10} "
                     f"{ratio:>7}  {row.goal:16} {row.verdict}")
    return "\n".join(lines)


def write(path: Path, results: dict[str, Any], rows: list[Row]) -> None:
    body = results | {"table": [asdict(row) | {"ratio": row.ratio} for row in rows]}
    path.write_text(json.dumps(body, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
