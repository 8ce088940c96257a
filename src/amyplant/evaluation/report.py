"""Readable tables (one column per face system) and the JSON document of an evaluation."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Kind = Literal["ratio", "ms", "count", "number", "text"]
MISSING = "n/a"


@dataclass(frozen=True)
class Row:
    """One line of a table: its label, the figure's JSON key and how to print it."""

    label: str
    key: str
    kind: Kind = "ratio"


def json_safe(value: Any) -> Any:
    """Plain JSON values: numpy scalars become Python numbers, NaN and infinities become null."""
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else None
    return value


def format_value(value: Any, kind: Kind) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return MISSING
    if kind == "ratio":
        return f"{float(value):.3f}"
    if kind == "ms":
        return f"{float(value):.1f}"
    if kind == "count":
        return str(int(value))
    if kind == "text":
        return str(value)
    return f"{float(value):.3f}"


def table(title: str, rows: Sequence[Row], columns: Mapping[str, Mapping[str, Any]]) -> str:
    """A plain-text table: one row per figure, one column per face system."""
    names = list(columns)
    cells = [[format_value(columns[name].get(row.key), row.kind) for name in names] for row in rows]
    label_width = max([len(row.label) for row in rows] + [len(title)])
    widths = [max([len(name)] + [len(line[i]) for line in cells]) for i, name in enumerate(names)]
    header = title.ljust(label_width) + "".join(
        f"  {name.rjust(width)}" for name, width in zip(names, widths, strict=True)
    )
    lines = [header, "-" * len(header)]
    for row, line in zip(rows, cells, strict=True):
        lines.append(
            row.label.ljust(label_width)
            + "".join(f"  {cell.rjust(width)}" for cell, width in zip(line, widths, strict=True))
        )
    return "\n".join(lines)


def document(
    command: str,
    columns: Mapping[str, Mapping[str, Any]],
    ours: str,
    *,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Our figures at the top level (the keys scripts rely on), the other systems under `compare`."""
    result: dict[str, Any] = {"command": command, **(extra or {}), **columns[ours]}
    others = {name: figures for name, figures in columns.items() if name != ours}
    if others:
        result["compare"] = others
    return dict(json_safe(result))


def render_json(value: Mapping[str, Any]) -> str:
    return json.dumps(json_safe(value), indent=2, allow_nan=False)
