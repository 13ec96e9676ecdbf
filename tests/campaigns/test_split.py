"""Splitting a budget: every packet ≥ 1 fen and the sum exact, for any budget and count."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns import split


@st.composite
def budgets_and_counts(draw):
    count = draw(st.integers(min_value=1, max_value=3_000))
    budget = draw(st.one_of(
        st.integers(min_value=count, max_value=count + 10),  # the tight corner: 2R/n − 1 < 1 and R ≈ n
        st.integers(min_value=count, max_value=10**10),
    ))
    return budget, count


@settings(max_examples=300, deadline=None)
@given(budgets_and_counts(), st.integers(min_value=0, max_value=2**32))
def test_double_mean_pays_every_packet_at_least_a_fen_and_sums_to_the_budget(bc, seed):
    budget, count = bc
    amounts = split.double_mean(budget, count, random.Random(seed))
    assert len(amounts) == count
    assert all(isinstance(a, int) and a >= 1 for a in amounts)
    assert sum(amounts) == budget


@settings(max_examples=200, deadline=None)
@given(budgets_and_counts(), st.integers(min_value=0, max_value=2**32))
def test_each_double_mean_draw_is_at_most_twice_the_mean_of_what_is_left(bc, seed):
    budget, count = bc
    left = budget
    for i, a in enumerate(split.double_mean(budget, count, random.Random(seed))[:-1]):
        n = count - i
        assert 1 <= a <= max(1, 2 * left // n - 1)
        left -= a


def test_the_double_mean_averages_the_budget_over_the_packets():
    rng = random.Random(1)
    firsts = [split.double_mean(10_000, 100, rng)[0] for _ in range(4_000)]
    assert 95 <= sum(firsts) / len(firsts) <= 105  # uniform in 1..199: mean 100


def test_fixed_split_and_its_refusals():
    assert split.fixed(1_000, 4) == [250] * 4
    with pytest.raises(split.SplitError, match="divisible"):
        split.fixed(1_000, 3)
    with pytest.raises(split.SplitError, match="at least 1 fen"):
        split.double_mean(5, 6)
    with pytest.raises(split.SplitError):
        split.double_mean(5, 0)
    assert split.double_mean(7, 7) == [1] * 7
    assert split.double_mean(1, 1) == [1]


def test_nearest_rank_percentiles():
    values = list(range(1, 101))
    assert [split.percentile(values, p) for p in (0, 10, 50, 90, 99, 100)] == [1, 10, 50, 90, 99, 100]
    assert split.percentile([7], 50) == 7
