"""Ground-truth lists for verification, identification and attributes: CSV files and enrollment folders."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
SAME_WORDS = frozenset({"yes", "1", "same", "true", "y", "match"})
DIFFERENT_WORDS = frozenset({"no", "0", "different", "false", "n", "mismatch"})
GENDER_WORDS: dict[str, Literal["female", "male"]] = {
    "female": "female",
    "f": "female",
    "woman": "female",
    "w": "female",
    "male": "male",
    "m": "male",
    "man": "male",
}
IDENTITY_SEPARATOR = ";"

Gender = Literal["female", "male"]


class FormatError(ValueError):
    """An evaluation input is unusable; the message names the file and, where there is one, the line."""

    def __init__(self, path: Path, line: int | None, message: str) -> None:
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line


@dataclass(frozen=True)
class Pair:
    """Two images and whether they show the same person."""

    file_x: Path
    file_y: Path
    same: bool
    line: int


@dataclass(frozen=True)
class IdentityLabel:
    """The people (enrolled names) that appear in one probe image; empty: nobody enrolled."""

    file: Path
    identities: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class AttributeLabel:
    """The true age and gender of the (largest) person in one image; either may be unknown."""

    file: Path
    age: float | None
    gender: Gender | None
    line: int


@dataclass(frozen=True)
class _Row:
    line: int
    cells: list[str]


def _rows(path: Path) -> Iterator[_Row]:
    """Non-blank, non-comment CSV rows with their line numbers; unreadable files raise FormatError."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as error:
        raise FormatError(path, None, "no such file") from error
    except (OSError, UnicodeDecodeError) as error:
        raise FormatError(path, None, f"cannot be read as UTF-8 text ({error})") from error
    try:
        # Lines are split first (no quoted newlines in these lists), so the row number is the line number.
        for number, cells in enumerate(csv.reader(text.splitlines()), start=1):
            stripped = [cell.strip() for cell in cells]
            if not any(stripped) or stripped[0].startswith("#"):
                continue
            yield _Row(number, stripped)
    except csv.Error as error:
        raise FormatError(path, None, f"is not valid CSV ({error})") from error


def _header_columns(row: _Row, names: tuple[str, ...]) -> dict[str, int] | None:
    """Column positions when `row` is a header naming every one of `names`, else None."""
    lowered = [cell.lower() for cell in row.cells]
    if not all(name in lowered for name in names):
        return None
    return {name: lowered.index(name) for name in names}


def _image(images_dir: Path, name: str, path: Path, line: int) -> Path:
    if not name:
        raise FormatError(path, line, "an image file name is empty")
    image = Path(name) if Path(name).is_absolute() else images_dir / name
    if not image.is_file():
        raise FormatError(path, line, f"image {name!r} does not exist (looked for {image})")
    return image


def _cell(row: _Row, index: int, path: Path, what: str) -> str:
    if index >= len(row.cells):
        raise FormatError(path, row.line, f"the row has no {what} column (got {len(row.cells)} columns)")
    return row.cells[index]


def read_pairs(path: Path, images_dir: Path) -> list[Pair]:
    """`file_x,file_y,Decision` rows (Yes/No, 1/0, same/different); a header row is optional."""
    pairs: list[Pair] = []
    columns = {"file_x": 0, "file_y": 1, "decision": 2}
    for index, row in enumerate(_rows(path)):
        header = _header_columns(row, tuple(columns)) if index == 0 else None
        if header is not None:
            columns = header
            continue
        decision = _cell(row, columns["decision"], path, "decision").lower()
        if decision not in SAME_WORDS | DIFFERENT_WORDS:
            raise FormatError(
                path, row.line, f"decision {decision!r} is not one of Yes/No, 1/0, same/different"
            )
        file_x = _image(images_dir, _cell(row, columns["file_x"], path, "file_x"), path, row.line)
        file_y = _image(images_dir, _cell(row, columns["file_y"], path, "file_y"), path, row.line)
        pairs.append(Pair(file_x, file_y, decision in SAME_WORDS, row.line))
    if not pairs:
        raise FormatError(path, None, "lists no pairs")
    return pairs


def read_identity_labels(path: Path, images_dir: Path) -> list[IdentityLabel]:
    """`file,identities` rows, several identities separated by `;`; a header row is optional."""
    labels: list[IdentityLabel] = []
    seen: dict[Path, int] = {}
    for index, row in enumerate(_rows(path)):
        if index == 0 and row.cells[0].lower() == "file":
            continue
        if len(row.cells) > 2:
            raise FormatError(
                path, row.line, f"expected `file,identities` (use {IDENTITY_SEPARATOR!r} between people)"
            )
        file = _image(images_dir, row.cells[0], path, row.line)
        if file in seen:
            raise FormatError(path, row.line, f"{row.cells[0]!r} is already listed on line {seen[file]}")
        seen[file] = row.line
        names = row.cells[1].split(IDENTITY_SEPARATOR) if len(row.cells) > 1 else []
        identities = tuple(name.strip() for name in names if name.strip())
        if len(set(identities)) != len(identities):
            raise FormatError(path, row.line, "the same identity is listed twice for one image")
        labels.append(IdentityLabel(file, identities, row.line))
    if not labels:
        raise FormatError(path, None, "lists no probe images")
    return labels


def read_attribute_labels(path: Path, images_dir: Path) -> list[AttributeLabel]:
    """`file,age,gender` rows (gender female/male, f/m); either value may be left empty."""
    labels: list[AttributeLabel] = []
    columns = {"file": 0, "age": 1, "gender": 2}
    for index, row in enumerate(_rows(path)):
        header = _header_columns(row, tuple(columns)) if index == 0 else None
        if header is not None:
            columns = header
            continue
        file = _image(images_dir, _cell(row, columns["file"], path, "file"), path, row.line)
        age = _age(_cell(row, columns["age"], path, "age"), path, row.line)
        gender_text = _cell(row, columns["gender"], path, "gender").lower()
        if gender_text and gender_text not in GENDER_WORDS:
            raise FormatError(path, row.line, f"gender {gender_text!r} is not female/male (or f/m)")
        gender = GENDER_WORDS[gender_text] if gender_text else None
        if age is None and gender is None:
            raise FormatError(path, row.line, "the row gives neither an age nor a gender")
        labels.append(AttributeLabel(file, age, gender, row.line))
    if not labels:
        raise FormatError(path, None, "lists no images")
    return labels


def _age(text: str, path: Path, line: int) -> float | None:
    if not text:
        return None
    try:
        age = float(text)
    except ValueError as error:
        raise FormatError(path, line, f"age {text!r} is not a number") from error
    if not 0 <= age <= 130:
        raise FormatError(path, line, f"age {text} is outside 0..130")
    return age


def enrollment_folders(directory: Path) -> dict[str, list[Path]]:
    """`DIR/<person>/*` images by person name (the folder name), in a stable order."""
    if not directory.is_dir():
        raise FormatError(directory, None, "is not a directory of <person>/ folders")
    people: dict[str, list[Path]] = {}
    for folder in sorted(p for p in directory.iterdir() if p.is_dir()):
        images = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise FormatError(folder, None, f"holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        people[folder.name] = images
    if not people:
        raise FormatError(directory, None, "holds no <person>/ folders to enroll")
    return people
