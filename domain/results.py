"""Results, not reports: how far a task's confirmed results reach its targets.

A KPI's achievement is the share of the way from its baseline to its target that the result
covers, in the KPI's direction, capped to 0..1:

    higher is better:  (result − baseline) / (target − baseline)     (baseline 0 when none is given)
    lower is better:   (baseline − result) / (baseline − target)     (no baseline: target / result)

A target no further than the baseline is reached or not (1 or 0). A task's achievement is the mean
of its KPIs' (None for a task without KPIs); its targets are met when every KPI's achievement is 1.

Worked example: "Kỹ sư được đào tạo", baseline 0, target 5,000, result 12 → 12 / 5,000 = 0.0024:
short of its target, so the task can be approved only as "hoàn thành, không đạt chỉ tiêu".
"Thời gian xử lý hồ sơ (ngày)", lower is better, baseline 20, target 5, result 8 → 12 / 15 = 0.8."""

from domain.task import Direction, Kpi


def kpi_achievement(kpi: Kpi, result: float) -> float:
    if kpi.direction == Direction.HIGHER:
        start = kpi.baseline if kpi.baseline is not None else 0.0
        if kpi.target <= start:
            return 1.0 if result >= kpi.target else 0.0
        share = (result - start) / (kpi.target - start)
    else:
        if kpi.baseline is None:
            share = 1.0 if result <= kpi.target else (kpi.target / result if result > 0 else 0.0)
        elif kpi.baseline <= kpi.target:
            return 1.0 if result <= kpi.target else 0.0
        else:
            share = (kpi.baseline - result) / (kpi.baseline - kpi.target)
    return round(min(max(share, 0.0), 1.0), 4)


def achievements(kpis: list[Kpi], results: dict[str, float]) -> dict[str, float]:
    """Each KPI's achievement, for the KPIs that have a result."""
    return {kpi.name: kpi_achievement(kpi, results[kpi.name]) for kpi in kpis if kpi.name in results}


def task_achievement(kpis: list[Kpi], results: dict[str, float]) -> float | None:
    """The mean of the KPIs' achievements; a KPI without a result counts 0. None without KPIs."""
    if not kpis:
        return None
    found = achievements(kpis, results)
    return round(sum(found.get(kpi.name, 0.0) for kpi in kpis) / len(kpis), 4)


def shortfalls(kpis: list[Kpi], results: dict[str, float]) -> list[str]:
    """The KPIs whose result falls short of the target (or is missing), by name."""
    found = achievements(kpis, results)
    return [kpi.name for kpi in kpis if found.get(kpi.name, 0.0) < 1.0]


def unknown_names(kpis: list[Kpi], names: list[str]) -> list[str]:
    """Names given that are none of the task's KPIs."""
    known = {kpi.name for kpi in kpis}
    return [name for name in names if name not in known]
