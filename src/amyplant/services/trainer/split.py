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


def split_by_blocks(items: Sequence[Item], plan: SplitPlan) -> dict[str, list[Item]]:
    """Cut the time-ordered items into consecutive blocks and deal whole blocks to the splits (seeded)."""
    if plan.block < 1:
        raise ValueError("block must be at least 1")
    if not 0 <= plan.validation < 1 or not 0 <= plan.test < 1 or plan.validation + plan.test >= 1:
        raise ValueError("validation and test fractions must be in [0, 1) and leave room for training")
    blocks = [list(items[start : start + plan.block]) for start in range(0, len(items), plan.block)]
    order = list(range(len(blocks)))
    random.Random(plan.seed).shuffle(order)
    n_test = round(len(blocks) * plan.test) if plan.test else 0
    n_validation = round(len(blocks) * plan.validation) if plan.validation else 0
    if len(blocks) >= 3:
        # Each requested split gets at least one block when there are enough blocks to go round.
        n_test = max(n_test, 1 if plan.test else 0)
        n_validation = max(n_validation, 1 if plan.validation else 0)
    chosen = {
        "test": set(order[:n_test]),
        "validation": set(order[n_test : n_test + n_validation]),
    }
    splits: dict[str, list[Item]] = {"train": [], "validation": [], "test": []}
    for index, block in enumerate(blocks):
        name = next((split for split, members in chosen.items() if index in members), "train")
        splits[name].extend(block)
    return splits
