"""The trainer's population: one latest vector per customer, a uniform bounded sample of them."""

from __future__ import annotations

import pytest

from models.population import LatestVectors


def test_a_customer_sampled_again_replaces_its_vector() -> None:
    population = LatestVectors(capacity=10)
    for orders in range(1, 6):
        population.put("busy", (float(orders),))
    population.put("quiet", (1.0,))
    assert sorted(population.vectors()) == [(1.0,), (5.0,)]
    assert (len(population), population.replaced) == (2, 4)


def test_the_kept_customers_do_not_depend_on_activity_or_order() -> None:
    busy_first = LatestVectors(capacity=100)
    for n in range(1000):
        for _ in range(1 + n % 7):  # some customers are sampled far more often than others
            busy_first.put(f"c{n}", (float(n),))
    reversed_once = LatestVectors(capacity=100)
    for n in reversed(range(1000)):
        reversed_once.put(f"c{n}", (float(n),))
    assert len(busy_first) == 100
    assert sorted(busy_first.vectors()) == sorted(reversed_once.vectors())
    often = sum(1 for (n,) in busy_first.vectors() if int(n) % 7 >= 4)
    assert 25 < often < 60  # 3 of 7 customers are sampled 5-7 times: no bias towards them


def test_updates_change_vectors_but_never_who_is_kept() -> None:
    population = LatestVectors(capacity=3)
    for n in range(50):
        population.put(f"c{n}", (float(n),))
    kept = {int(n) for (n,) in population.vectors()}
    answers = [population.put(f"c{n}", (-float(n),)) for n in range(50)]
    assert {n for n, answer in enumerate(answers) if answer} == kept
    assert sorted(population.vectors()) == sorted((-float(n),) for n in kept)


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity must be positive"):
        LatestVectors(capacity=0)
