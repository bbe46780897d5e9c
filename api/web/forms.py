"""HTML forms to command bodies: what a person typed, in the shape the API's models expect."""

from typing import Any

from starlette.datastructures import FormData

from domain.task import TaskState


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _number(text: str) -> Any:
    try:
        return float(text) if "." in text or "," in text else int(text)
    except ValueError:
        return text  # the model names it as not a number


def _per_kpi(form: FormData, prefix: str, state: TaskState) -> dict[str, Any]:
    values = {}
    for index, kpi in enumerate(state.spec.kpis):
        raw = str(form.get(f"{prefix}{index}", "")).strip()
        if raw:
            values[kpi.name] = _number(raw.replace(",", "."))
    return values


def command_body(action: str, form: FormData, state: TaskState) -> dict[str, Any]:
    text = {key: str(value).strip() for key, value in form.items() if isinstance(value, str)}
    body: dict[str, Any] = {key: value for key, value in text.items()
                            if key in ("officer", "source", "reason", "note", "new_deadline", "reviewer",
                                       "lead_agency", "text", "summary") and value}
    if action == "budget.submit":
        lines = []
        for line in _lines(text.get("lines", "")):
            item, _, amount = line.rpartition("|")
            lines.append({"item": item.strip() or line, "amount_vnd": _number(amount.strip().replace(".", ""))})
        body["lines"] = lines
        body["amount_vnd"] = _number(text.get("amount_vnd", "").replace(".", ""))
    if action == "progress.report":
        body["percent"] = _number(text.get("percent", ""))
        body["kpi_actuals"] = _per_kpi(form, "kpi_", state)
        if text.get("disbursed_vnd"):
            body["disbursed_vnd"] = _number(text["disbursed_vnd"].replace(".", ""))
    if action == "review.reject":
        body["findings"] = _lines(text.get("findings", ""))
    return body


def kpi_results(form: FormData, state: TaskState) -> dict[str, Any]:
    return _per_kpi(form, "kpi_", state)
