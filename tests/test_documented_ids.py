"""Every customer or visitor id the docs, compose and the demo name is one the demo simulates.

A reader who opens the README's storefront link, or runs its ``segstream segments`` example, after
``bash scripts/demo.sh`` must meet a real simulated customer, not an empty page.
"""

from __future__ import annotations

import argparse
import re
from itertools import islice
from pathlib import Path

import yaml

from streams.cli import _parser
from streams.demo import STOREFRONT_CUSTOMER
from streams.traffic import live, make_shoppers
from streams.traffic.generator import Shopper

ROOT = Path(__file__).resolve().parents[1]
# Shaped like the simulator's ids (c + 7 digits, anon-c + 7 digits) or a near miss of them.
ID = re.compile(r"\b(?:anon-[0-9a-z]+|c\d{5,})\b")
FIRST_SECOND_OF_TRAFFIC = 300  # events: the demo's default rate per second


def documents() -> list[Path]:
    named = ["README.md", "docker-compose.yml", "Dockerfile", "streams/demo.py", "streams/cli.py"]
    globs = ["docs/*.md", "scripts/*.sh", "streams/storefront/*"]
    return [ROOT / n for n in named] + [p for g in globs for p in sorted(ROOT.glob(g))]


def documented_ids() -> dict[str, list[str]]:
    """id -> the files naming it."""
    found: dict[str, list[str]] = {}
    for path in documents():
        for token in set(ID.findall(path.read_text())):
            found.setdefault(token, []).append(str(path.relative_to(ROOT)))
    return found


def demo_defaults() -> argparse.Namespace:
    demo = _parser().parse_args(["demo"])
    simulate = _parser().parse_args(["simulate"])  # the demo runs it with its default seed
    return argparse.Namespace(customers=demo.customers, rate=demo.rate, seed=simulate.seed)


def crowd(customers: int, seed: int) -> dict[str, Shopper]:
    """Every id the simulator makes, customer and visitor, for its shopper."""
    shoppers = make_shoppers(customers, seed=seed)
    by_id = {s.customer_id: s for s in shoppers}
    return by_id | {s.anonymous_id: s for s in shoppers if s.anonymous_id}


def test_the_scan_finds_the_documented_ids() -> None:
    ids = documented_ids()
    assert STOREFRONT_CUSTOMER in ids
    assert "streams/demo.py" in ids[STOREFRONT_CUSTOMER]
    assert any(token.startswith("anon-") for token in ids)


def test_every_documented_id_is_a_simulated_shopper_who_keeps_visiting() -> None:
    defaults = demo_defaults()
    simulated = crowd(defaults.customers, defaults.seed)
    for token, files in documented_ids().items():
        assert token in simulated, f"{token} (in {files}) is not an id the demo simulates"
        lapses = simulated[token].persona.lapses_after_days
        assert lapses is None, f"{token} (in {files}) stops visiting: live traffic never has it"


def test_compose_simulates_the_same_crowd() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    command = compose["services"]["simulator"]["command"]
    simulate = _parser().parse_args(command)
    assert (simulate.customers, simulate.seed) == (demo_defaults().customers, demo_defaults().seed)


def test_the_storefront_link_is_personalized_from_the_first_second() -> None:
    defaults = demo_defaults()
    shoppers = make_shoppers(defaults.customers, seed=defaults.seed)
    [shopper] = [s for s in shoppers if s.customer_id == STOREFRONT_CUSTOMER]
    assert shopper.anonymous_id is None  # signed in: its events carry the customer id at once
    first = islice(live(shoppers, seed=defaults.seed, now=0.0), FIRST_SECOND_OF_TRAFFIC)
    assert any(event.payload.get("customer_id") == STOREFRONT_CUSTOMER for event in first)
    assert defaults.rate >= FIRST_SECOND_OF_TRAFFIC
