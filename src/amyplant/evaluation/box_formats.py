"""Ground-truth face boxes from dlib's imglab XML and from LabelMe JSON rectangles."""

from __future__ import annotations

import json
import json.decoder
import json.scanner
import math
import xml.parsers.expat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from amyplant.evaluation.formats import FormatError

# LabelMe rectangles with one of these labels (or the flag `ignore`) mark faces a detector may find or
# miss without penalty, like imglab's ignore='1'.
IGNORE_LABELS = frozenset({"ignore", "face_ignore", "ignored"})


@dataclass(frozen=True)
class GroundTruthImage:
    """One image with its annotated faces: boxes [N, 4] as x1, y1, x2, y2 and which of them to ignore."""

    path: Path
    boxes: np.ndarray
    ignore: np.ndarray
    source: Path  # the annotation file (and line) that named the image, for later errors
    line: int | None = None

    @property
    def faces(self) -> int:
        """Faces that count (ignored regions excluded)."""
        return int((~self.ignore).sum())


@dataclass(frozen=True)
class DetectionDataset:
    """A named set of annotated images (one XML file or one LabelMe folder)."""

    name: str
    images: tuple[GroundTruthImage, ...]

    @property
    def faces(self) -> int:
        return sum(image.faces for image in self.images)


def _image_entry(
    path: Path, source: Path, line: int | None, boxes: list[list[float]], ignore: list[bool]
) -> GroundTruthImage:
    return GroundTruthImage(
        path=path,
        boxes=np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
        ignore=np.asarray(ignore, dtype=bool).reshape(-1),
        source=source,
        line=line,
    )


@dataclass
class _XmlState:
    """What the expat handlers have read so far."""

    xml_path: Path
    images_dir: Path
    parser: Any
    stack: list[str] = field(default_factory=list)
    name_parts: list[str] = field(default_factory=list)
    images: list[GroundTruthImage] = field(default_factory=list)
    current: tuple[Path, int] | None = None
    boxes: list[list[float]] = field(default_factory=list)
    ignore: list[bool] = field(default_factory=list)

    @property
    def line(self) -> int:
        return int(self.parser.CurrentLineNumber)

    def start(self, tag: str, attributes: dict[str, str]) -> None:
        self.stack.append(tag)
        if tag == "image":
            self._start_image(attributes)
        elif tag == "box":
            self._box(attributes)

    def end(self, tag: str) -> None:
        self.stack.pop()
        if tag == "image" and self.current is not None:
            image, line = self.current
            self.images.append(_image_entry(image, self.xml_path, line, self.boxes, self.ignore))
            self.current, self.boxes, self.ignore = None, [], []

    def text(self, data: str) -> None:
        if self.stack == ["dataset", "name"]:
            self.name_parts.append(data)

    def _start_image(self, attributes: dict[str, str]) -> None:
        name = attributes.get("file", "").strip()
        if not name:
            raise FormatError(self.xml_path, self.line, "<image> has no file attribute")
        image = Path(name) if Path(name).is_absolute() else self.images_dir / name
        if not image.is_file():
            raise FormatError(self.xml_path, self.line, f"image {name!r} does not exist (looked for {image})")
        self.current = (image, self.line)

    def _box(self, attributes: dict[str, str]) -> None:
        if self.current is None or self.stack[-2:] != ["image", "box"]:
            raise FormatError(self.xml_path, self.line, "<box> must be inside an <image>")
        values = [self._number(attributes, key) for key in ("left", "top", "width", "height")]
        left, top, width, height = values
        if width <= 0 or height <= 0:
            raise FormatError(self.xml_path, self.line, f"<box> has width {width:g} and height {height:g}")
        self.boxes.append([left, top, left + width, top + height])
        self.ignore.append(attributes.get("ignore", "0").strip().lower() in ("1", "true"))

    def _number(self, attributes: dict[str, str], key: str) -> float:
        if key not in attributes:
            raise FormatError(self.xml_path, self.line, f"<box> has no {key} attribute")
        try:
            value = float(attributes[key])
        except ValueError as error:
            raise FormatError(
                self.xml_path, self.line, f"<box> {key}={attributes[key]!r} is not a number"
            ) from error
        if not math.isfinite(value):
            raise FormatError(self.xml_path, self.line, f"<box> {key}={attributes[key]!r} is not finite")
        return value


def read_dlib_xml(xml_path: Path, images_dir: Path | None = None) -> DetectionDataset:
    """imglab XML: `<image file=..><box top left width height [ignore='1']/>`; files relative to the XML
    file's folder unless `images_dir` is given."""
    try:
        content = xml_path.read_bytes()
    except FileNotFoundError as error:
        raise FormatError(xml_path, None, "no such file") from error
    except OSError as error:
        raise FormatError(xml_path, None, f"cannot be read ({error})") from error
    parser = xml.parsers.expat.ParserCreate()
    state = _XmlState(xml_path, images_dir if images_dir is not None else xml_path.parent, parser)
    parser.StartElementHandler = state.start
    parser.EndElementHandler = state.end
    parser.CharacterDataHandler = state.text
    try:
        parser.Parse(content, True)
    except xml.parsers.expat.ExpatError as error:
        raise FormatError(
            xml_path, error.lineno, f"not well-formed XML ({xml.parsers.expat.ErrorString(error.code)})"
        ) from error
    if not state.images:
        raise FormatError(xml_path, None, "lists no <image> elements")
    name = "".join(state.name_parts).strip() or xml_path.stem
    return DetectionDataset(name, tuple(state.images))


class _Located(dict[str, Any]):
    """A JSON object that remembers where it started, so errors can name its line."""

    offset: int = 0


def _object_with_offset(s_and_end: tuple[str, int], *args: Any) -> tuple[_Located, int]:
    parse_object: Any = getattr(json.decoder, "JSONObject")  # noqa: B009 - not in the type stubs
    parsed, end = parse_object(s_and_end, *args)
    located = _Located(parsed)
    located.offset = s_and_end[1]
    return located, end


def _load_json_with_offsets(text: str) -> Any:
    decoder: Any = json.JSONDecoder()
    decoder.parse_object = _object_with_offset
    # The pure-Python scanner calls parse_object for every object; the C scanner would bypass it.
    decoder.scan_once = getattr(json.scanner, "py_make_scanner")(decoder)  # noqa: B009
    return decoder.decode(text)


def _line_of(text: str, value: Any) -> int | None:
    return text.count("\n", 0, value.offset) + 1 if isinstance(value, _Located) else None


def read_labelme_dir(directory: Path) -> DetectionDataset:
    """Every LabelMe JSON file under a folder; rectangles are faces (label `ignore`: may be missed)."""
    if not directory.is_dir():
        raise FormatError(directory, None, "is not a directory of LabelMe JSON files")
    files = sorted(directory.rglob("*.json"))
    if not files:
        raise FormatError(directory, None, "holds no LabelMe .json files")
    return DetectionDataset(directory.name, tuple(read_labelme_file(path) for path in files))


def read_labelme_file(json_path: Path) -> GroundTruthImage:
    """One LabelMe file: its image (imagePath, relative to the file) and its rectangles."""
    try:
        text = json_path.read_text(encoding="utf-8-sig")
        document = _load_json_with_offsets(text)
    except (OSError, UnicodeDecodeError) as error:
        raise FormatError(json_path, None, f"cannot be read ({error})") from error
    except json.JSONDecodeError as error:
        raise FormatError(json_path, error.lineno, f"not valid JSON ({error.msg})") from error
    if not isinstance(document, dict):
        raise FormatError(json_path, 1, "the top level must be a JSON object")
    image_name = document.get("imagePath")
    if not isinstance(image_name, str) or not image_name:
        raise FormatError(json_path, _line_of(text, document), "has no imagePath")
    # LabelMe written on Windows stores paths with backslashes.
    image = json_path.parent / image_name.replace("\\", "/")
    if not image.is_file():
        raise FormatError(json_path, None, f"imagePath {image_name!r} does not exist (looked for {image})")
    shapes = document.get("shapes")
    if not isinstance(shapes, list):
        raise FormatError(json_path, _line_of(text, document), "'shapes' must be a list")
    boxes: list[list[float]] = []
    ignore: list[bool] = []
    for shape in shapes:
        line = _line_of(text, shape)
        if not isinstance(shape, dict):
            raise FormatError(json_path, line, "every shape must be a JSON object")
        if shape.get("shape_type", "polygon") != "rectangle":
            continue  # landmarks (points) and outlines are not face boxes
        boxes.append(_rectangle(shape.get("points"), json_path, line))
        flags = shape.get("flags")
        flags = flags if isinstance(flags, dict) else {}
        label = str(shape.get("label", "")).strip().lower()
        ignore.append(label in IGNORE_LABELS or bool(flags.get("ignore")))
    return _image_entry(image, json_path, None, boxes, ignore)


def _rectangle(points: Any, json_path: Path, line: int | None) -> list[float]:
    valid = (
        isinstance(points, list)
        and len(points) == 2
        and all(isinstance(p, list) and len(p) == 2 for p in points)
        and all(isinstance(v, int | float) and not isinstance(v, bool) for p in points for v in p)
    )
    if not valid:
        raise FormatError(json_path, line, f"a rectangle needs points [[x1, y1], [x2, y2]], got {points!r}")
    (xa, ya), (xb, yb) = points
    if not all(math.isfinite(v) for v in (xa, ya, xb, yb)):
        raise FormatError(json_path, line, "a rectangle has a non-finite coordinate")
    if xa == xb or ya == yb:
        raise FormatError(json_path, line, f"the rectangle {points!r} is empty")
    return [min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb)]
