"""Nothing acknowledged is ever lost: a bounded fault-injection run (tests/fault_injection.py) on
each database. `kill -9` hits the worker, the API, the Temporal dev server and all three while
careful clients drive tasks through their whole lifecycle; then every acknowledged action must be
in its workflow's history and in the events table exactly once, the projection must equal the
workflows, and the audit must pass. `make fault` runs the long version.

NQ57_FAULT_SEED picks another seed (the default is fixed, so a failure can be rerun)."""

import os
from pathlib import Path

import pytest

from tests.fault_injection import TARGETS, Config, postgres_fault_url, run
from tests.helpers import Figures

POSTGRES_URL = os.environ.get("NQ57_TEST_POSTGRES_URL", "")
SEED = int(os.environ.get("NQ57_FAULT_SEED", "57"))

pytestmark = pytest.mark.fault


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.skipif(
    not POSTGRES_URL, reason="NQ57_TEST_POSTGRES_URL is not set: the PostgreSQL fault-injection run is skipped"))])
async def test_nothing_acknowledged_is_lost_when_processes_are_killed(database: str, tmp_path: Path,
                                                                     figures: Figures) -> None:
    config = Config(
        database=database, tasks=12, clients=4, kills=10, seed=SEED, work_dir=tmp_path,
        # A database of its own on the suite's server: never the tables of the one the other tests use.
        postgres_url=postgres_fault_url(POSTGRES_URL, "nq57_fault_pytest") if database == "postgres" else "",
        min_gap=0.5, max_gap=2.0, max_restart_delay=1.5,
        chaos_seconds=45, finish_seconds=30, action_seconds=45, request_timeout=15, converge_seconds=20,
        ready_seconds=45, verbose=False,
    )
    report = await run(config)
    summary = report.format()
    figures(f"[{database}] " + " ".join(summary.split()))
    assert all(report.kills[target] >= 1 for target in TARGETS), f"not every target was killed:\n{summary}"
    assert report.acknowledged, f"nothing was acknowledged:\n{summary}"
    assert report.lost == 0, summary
    assert report.doubled == 0, summary
    assert report.mismatched == 0, summary
    assert report.audit_ok, summary
