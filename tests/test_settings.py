"""settings.py: every setting is parsed once, at start, from the environment (prefix NQ57_), and a
setting the system cannot run with is refused there with a sentence naming it — never later, inside
a task's workflow (design.md, "Settings")."""

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from temporalio.worker import UnsandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from domain.escalation import LADDER
from domain.task import LifecycleSettings
from settings import Settings, load_settings
from worker import workflow_runner

DURATIONS = ("accept_sla", "budget_sla", "review_sla", "rework_period", "deadline_pending_reminder", "login_lockout",
             "budget_decision_sla", "review_assign_sla", "extension_decision_sla", "due_soon")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("ESCALATION_STEPS", "TIMEZONE", *(name.upper() for name in DURATIONS)):
        monkeypatch.delenv(f"NQ57_{name}", raising=False)
    yield


def refusal(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> str:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    return str(caught.value)


def test_defaults_are_the_documented_ones() -> None:
    settings = Settings()
    assert settings.escalation_steps == (timedelta(0), timedelta(days=7), timedelta(days=14))
    assert (settings.accept_sla, settings.budget_sla, settings.review_sla, settings.rework_period) == (
        timedelta(days=7), timedelta(days=14), timedelta(days=10), timedelta(days=14))
    assert settings.login_lockout == timedelta(minutes=15)
    assert (settings.budget_decision_sla, settings.review_assign_sla, settings.extension_decision_sla) == (
        timedelta(days=10), timedelta(days=5), timedelta(days=7))
    assert (settings.reminders, settings.due_soon) == ((timedelta(days=7), timedelta(days=3), timedelta(days=1)),
                                                       timedelta(days=7))
    # What a task starts with: the model's defaults, except what a task started before early warning
    # and the other holders' deadlines lacks (LifecycleSettings keeps those off, for replay).
    assert settings.lifecycle == LifecycleSettings(
        reminders=settings.reminders, budget_decision_sla=settings.budget_decision_sla,
        review_assign_sla=settings.review_assign_sla, extension_decision_sla=settings.extension_decision_sla)


@pytest.mark.parametrize(("text", "expected"), [
    ("30s", timedelta(seconds=30)), ("5m", timedelta(minutes=5)), ("2h", timedelta(hours=2)),
    ("7d", timedelta(days=7)), (" 3d ", timedelta(days=3)),
])
@pytest.mark.parametrize("field", DURATIONS)
def test_durations_are_parsed_from_the_environment(monkeypatch: pytest.MonkeyPatch, field: str, text: str,
                                                  expected: timedelta) -> None:
    monkeypatch.setenv(f"NQ57_{field.upper()}", text)
    assert getattr(Settings(), field) == expected


@pytest.mark.parametrize("field", DURATIONS)
def test_a_bad_duration_is_refused_at_start(monkeypatch: pytest.MonkeyPatch, field: str) -> None:
    message = refusal(monkeypatch, f"NQ57_{field.upper()}", "7 days")
    assert field in message and "'7 days' không phải là khoảng thời gian hợp lệ" in message


def test_escalation_steps_are_parsed_and_passed_to_each_task(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NQ57_ESCALATION_STEPS", "1h, 2h ,1d")
    monkeypatch.setenv("NQ57_ACCEPT_SLA", "3d")
    settings = Settings()
    assert settings.escalation_steps == (timedelta(hours=1), timedelta(hours=2), timedelta(days=1))
    assert settings.lifecycle.escalation_steps == settings.escalation_steps
    assert settings.lifecycle.accept_sla == timedelta(days=3)


def test_a_ladder_of_more_steps_than_levels_is_refused_at_start_naming_both(monkeypatch: pytest.MonkeyPatch) -> None:
    message = refusal(monkeypatch, "NQ57_ESCALATION_STEPS", "0d,7d,14d,21d")
    assert f"NQ57_ESCALATION_STEPS có 4 mốc nhưng thang cảnh báo có {len(LADDER)} cấp" in message
    assert all(level.audience_vi in message for level in LADDER)
    assert f"cần đúng {len(LADDER)} mốc tăng dần" in message


@pytest.mark.parametrize("steps", ["0d,7d", "0d", ""])
def test_a_ladder_of_fewer_steps_than_levels_is_refused_at_start(monkeypatch: pytest.MonkeyPatch, steps: str) -> None:
    count = len([part for part in steps.split(",") if part])
    assert f"có {count} mốc nhưng thang cảnh báo có {len(LADDER)} cấp" in refusal(
        monkeypatch, "NQ57_ESCALATION_STEPS", steps)


@pytest.mark.parametrize("steps", ["0d,14d,7d", "7d,0d,14d", "0d,7d,7x"])
def test_steps_out_of_order_or_unreadable_are_refused_at_start(monkeypatch: pytest.MonkeyPatch, steps: str) -> None:
    message = refusal(monkeypatch, "NQ57_ESCALATION_STEPS", steps)
    assert "escalation_steps" in message and ("tăng dần" in message or "'7x'" in message)


def test_an_unknown_timezone_is_refused_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "Múi giờ 'Mars/Olympus_Mons' không tồn tại" in refusal(monkeypatch, "NQ57_TIMEZONE", "Mars/Olympus_Mons")


def test_a_setting_assigned_as_text_is_parsed_as_the_environment_would_be() -> None:
    settings = Settings()
    settings.escalation_steps = "2s,4s,6s"  # type: ignore[assignment]  # what the environment holds: text
    settings.review_sla = "1h"  # type: ignore[assignment]
    assert settings.lifecycle.escalation_steps == (timedelta(seconds=2), timedelta(seconds=4), timedelta(seconds=6))
    assert settings.lifecycle.review_sla == timedelta(hours=1)
    with pytest.raises(ValidationError, match="có 4 mốc"):
        settings.escalation_steps = "1s,2s,3s,4s"  # type: ignore[assignment]


def test_the_check_at_start_exits_naming_each_refused_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NQ57_ESCALATION_STEPS", "0d,7d,14d,21d")
    monkeypatch.setenv("NQ57_REVIEW_SLA", "2w")
    with pytest.raises(SystemExit) as caught:
        load_settings()
    lines = str(caught.value.code).splitlines()
    assert lines[0] == "Cấu hình không hợp lệ:"
    assert lines[1].startswith("NQ57_ESCALATION_STEPS có 4 mốc nhưng thang cảnh báo có 3 cấp")
    assert lines[2] == "NQ57_REVIEW_SLA: '2w' không phải là khoảng thời gian hợp lệ (ví dụ: 30s, 5m, 2h, 7d)"


@pytest.mark.parametrize("entry", ["server.py", "worker.py"])
def test_the_server_and_the_worker_refuse_a_fourth_step_before_they_start(entry: str, tmp_path: Path) -> None:
    """As a new user would meet it: `NQ57_ESCALATION_STEPS=0d,7d,14d,21d` stops the process at once
    with the sentence, before any Temporal server, database or worker is started."""
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "NQ57_ESCALATION_STEPS": "0d,7d,14d,21d", "NQ57_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, str(root / entry)], env=env, cwd=root, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1
    assert "NQ57_ESCALATION_STEPS có 4 mốc nhưng thang cảnh báo có 3 cấp" in done.stderr
    assert not (tmp_path / "nq57.db").exists() and not (tmp_path / "temporal.pid").exists()


def test_a_worker_runs_workflows_in_the_sdks_sandbox_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NQ57_WORKFLOW_SANDBOX", raising=False)
    assert isinstance(workflow_runner(Settings()), UnsandboxedWorkflowRunner)
    monkeypatch.setenv("NQ57_WORKFLOW_SANDBOX", "1")
    assert isinstance(workflow_runner(Settings()), SandboxedWorkflowRunner)


def test_the_suite_runs_its_workflows_in_the_sdks_sandbox() -> None:
    assert Settings().workflow_sandbox
