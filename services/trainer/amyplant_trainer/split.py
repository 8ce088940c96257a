"""Seeded train/validation/test splits by time blocks, so near-identical neighbouring frames never leak."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

Item = TypeVar("Item")


@dataclass(frozen=True)
class SplitPlan:
    """Fractions of blocks per split, the block length in consecutive images, and the seed."""

    validation: float = 0.15
    test: float = 0.15
    block: int = 10
    seed: int = 1234
    # Deal the blocks stratum by stratum along the timeline (a stratum: as many consecutive blocks as it
    # takes to hold one test block), so every part of the recording (day and night, each scene) is in
    # training and in the test split; False deals them at random over the whole timeline.
    spread: bool = True


def split_by_blocks(items: Sequence[Item], plan: SplitPlan) -> dict[str, list[Item]]:
    """Cut the time-ordered items into consecutive blocks and deal whole blocks to the splits (seeded)."""
    if plan.block < 1:
        raise ValueError("block must be at least 1")
    if not 0 <= plan.validation < 1 or not 0 <= plan.test < 1 or plan.validation + plan.test >= 1:
        raise ValueError("validation and test fractions must be in [0, 1) and leave room for training")
    blocks = [list(items[start : start + plan.block]) for start in range(0, len(items), plan.block)]
    rng = random.Random(plan.seed)
    if plan.spread and plan.test:
        stratum = max(2, round(1 / plan.test))
        chosen: dict[str, set[int]] = {"test": set(), "validation": set()}
        for first in range(0, len(blocks), stratum):
            members = list(range(first, min(first + stratum, len(blocks))))
            rng.shuffle(members)
            # Fractions are kept over the whole timeline: each stratum takes what brings the running
            # count up to the rounded share of the blocks dealt so far.
            dealt = first + len(members)
            n_test = round(dealt * plan.test) - len(chosen["test"])
            n_validation = round(dealt * plan.validation) - len(chosen["validation"])
            chosen["test"].update(members[:n_test])
            chosen["validation"].update(members[n_test : n_test + n_validation])
        _at_least_one_each(chosen, len(blocks), plan, rng)
    else:
        chosen = _dealt_at_random(len(blocks), plan, rng)
    splits: dict[str, list[Item]] = {"train": [], "validation": [], "test": []}
    for index, block in enumerate(blocks):
        name = next((split for split, members in chosen.items() if index in members), "train")
        splits[name].extend(block)
    return splits


def _dealt_at_random(count: int, plan: SplitPlan, rng: random.Random) -> dict[str, set[int]]:
    order = list(range(count))
    rng.shuffle(order)
    n_test = round(count * plan.test) if plan.test else 0
    n_validation = round(count * plan.validation) if plan.validation else 0
    chosen = {"test": set(order[:n_test]), "validation": set(order[n_test : n_test + n_validation])}
    _at_least_one_each(chosen, count, plan, rng)
    return chosen


def _at_least_one_each(chosen: dict[str, set[int]], count: int, plan: SplitPlan, rng: random.Random) -> None:
    """Each requested split gets a block when there are enough blocks to go round (three or more)."""
    if count < 3:
        return
    for name, fraction in (("test", plan.test), ("validation", plan.validation)):
        if fraction and not chosen[name]:
            free = [i for i in range(count) if all(i not in members for members in chosen.values())]
            chosen[name].add(rng.choice(free))
