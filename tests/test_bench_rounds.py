"""The bench's rounds (bench/rounds.py): each stack run of lifecycles is set against the floor
measured just before and just after it, each list and inbox is read in rounds, and the figures are
the median round's; a read's growth sets each round against the smaller program read beside it.
Pure arithmetic: no figure of this machine's speed is asserted here (that belongs to the bench's
output)."""

from typing import Any

import pytest

from bench.rounds import FLOOR_FIGURES, growth, median, paired, read_figure, spread


def floor_run(rate: float) -> dict[str, float]:
    return {name: rate for name in FLOOR_FIGURES} | {"update_p50_ms": 1000 / rate}


def stack_run(rate: float) -> dict[str, Any]:
    return {"lifecycles_per_s": rate, "action_p50_ms": 2000 / rate}


def test_each_stack_run_is_set_against_the_mean_of_the_floor_runs_around_it() -> None:
    rounds = paired([stack_run(6), stack_run(9)], [floor_run(10), floor_run(20), floor_run(10)])
    assert [one.floor["lifecycles_per_s"] for one in rounds] == [15, 15]
    assert [one.floor_runs for one in rounds] == [(10, 20), (20, 10)]
    assert [one.ratio for one in rounds] == [0.4, 0.6]


def test_the_action_p50_is_set_against_the_same_floor_runs_update_p50() -> None:
    (only,) = paired([stack_run(5)], [floor_run(10), floor_run(20)])
    assert only.floor["update_p50_ms"] == 75  # (100 + 50) / 2
    assert only.p50_ratio == pytest.approx(400 / 75)


def test_the_figures_are_the_median_rounds() -> None:
    rounds = paired([stack_run(9), stack_run(3), stack_run(6)], [floor_run(10)] * 4)
    assert median(rounds).stack["lifecycles_per_s"] == 6


def test_of_an_even_number_of_rounds_the_median_is_the_upper_middle_one() -> None:
    rounds = paired([stack_run(4), stack_run(8), stack_run(2), stack_run(6)], [floor_run(10)] * 5)
    assert median(rounds).stack["lifecycles_per_s"] == 6


def test_stack_runs_without_a_floor_run_on_each_side_are_refused() -> None:
    with pytest.raises(ValueError, match="2 stack runs need 3 floor runs"):
        paired([stack_run(6), stack_run(9)], [floor_run(10), floor_run(20)])


def test_the_spread_names_every_rounds_ratios_in_order_and_the_floors_range() -> None:
    rounds = paired([stack_run(6), stack_run(9)], [floor_run(10), floor_run(20), floor_run(10)])
    assert spread(rounds) == ("rounds: 0.40×, 0.60× the floor, action p50 4.44×, 2.96×; "
                              "the floor's runs 10.0–20.0/s")


def read_run(p95: float, items: int = 7) -> dict[str, Any]:
    return {"n": 300, "p50_ms": p95 / 2, "p95_ms": p95, "p99_ms": p95 * 2, "items": items}


def test_a_reads_figures_are_the_round_whose_p95_is_the_median() -> None:
    figure = read_figure([read_run(9.0), read_run(3.0), read_run(4.0)])
    assert (figure["p95_ms"], figure["p50_ms"]) == (4.0, 2.0)  # one round's figures, not mixed


def test_a_read_keeps_every_rounds_p95_in_the_order_they_ran() -> None:
    assert read_figure([read_run(9.0), read_run(3.0), read_run(4.0)])["p95_rounds_ms"] == [9.0, 3.0, 4.0]


def test_a_reads_growth_sets_each_round_against_the_smaller_program_read_beside_it() -> None:
    # rounds whose machine ran slower or faster: each round's own ratio is 2, 3 and 1.5
    assert growth([8.0, 3.0, 6.0], beside=[4.0, 1.0, 4.0]) == 2.0


def test_a_reads_growth_is_the_median_rounds_ratio_not_the_ratio_of_medians() -> None:
    # the medians' ratio (6 / 2 = 3) mixes rounds; the rounds' own ratios are 4, 1.5 and 1.5
    assert growth([8.0, 6.0, 3.0], beside=[2.0, 4.0, 2.0]) == 1.5


def test_a_reads_growth_needs_as_many_rounds_on_each_side() -> None:
    with pytest.raises(ValueError, match="3 rounds of the grown program need as many beside them, not 2"):
        growth([8.0, 3.0, 6.0], beside=[4.0, 1.0])
