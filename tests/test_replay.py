"""Running tasks live for months: a change to the workflow code must still replay the histories
they already have. Each file in tests/histories/ is one recorded branch (tests/record_histories.py)."""

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.task_lifecycle import TaskLifecycleWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_every_branch_of_the_lifecycle_has_a_recorded_history() -> None:
    assert {path.stem for path in HISTORIES} >= {"approve", "reject_then_rework", "escalate", "extension", "cancel",
                                                 "subtask", "close_standing", "deadline_pending",
                                                 "owners_and_reminders", "results", "escalate_together",
                                                 "owners_and_reminders_together", "approve_timer_kept",
                                                 "extension_timer_kept", "owners_and_reminders_timer_kept"}


@pytest.mark.parametrize("path", HISTORIES, ids=[path.stem for path in HISTORIES])
async def test_recorded_history_replays_on_the_current_workflow_code(path: Path) -> None:
    history = WorkflowHistory.from_json(f"replay-{path.stem}", path.read_text())
    replayer = Replayer(workflows=[TaskLifecycleWorkflow], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name} no longer replays: {result.replay_failure}"
