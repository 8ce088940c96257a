"""Text from callers: control characters refused, and person names normalised so look-alikes are one name."""

from __future__ import annotations

import re
import unicodedata

from amyplant_store.errors import GalleryError

# C0 and C1 controls, DEL, and the bidirectional embeddings, overrides and isolates (which make a text
# display unlike its characters). Written as escapes: the class is also published as a JSON-schema pattern.
_LINE_BREAKS = r"\t\n\r"
_OTHER_CONTROLS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
SINGLE_LINE_PATTERN = rf"^[^{_LINE_BREAKS}{_OTHER_CONTROLS}]*$"
MULTI_LINE_PATTERN = rf"^[^{_OTHER_CONTROLS}]*$"
_SINGLE_LINE_FORBIDDEN = re.compile(rf"[{_LINE_BREAKS}{_OTHER_CONTROLS}]")
_MULTI_LINE_FORBIDDEN = re.compile(rf"[{_OTHER_CONTROLS}]")

# Characters that look like a space or a hyphen: a name typed on another keyboard must still be the same name.
_SPACE_LOOKALIKES = "\u00a0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u202f\u205f\u3000"
_HYPHEN_LOOKALIKES = "".join(map(chr, range(0x2010, 0x2016))) + "\u2212"
_LOOKALIKES = str.maketrans(dict.fromkeys(_SPACE_LOOKALIKES, " ") | dict.fromkeys(_HYPHEN_LOOKALIKES, "-"))


def control_character(text: str, *, multiline: bool = False) -> str | None:
    """The first character a stored text may not hold (tab and line breaks only in multi-line text)."""
    found = (_MULTI_LINE_FORBIDDEN if multiline else _SINGLE_LINE_FORBIDDEN).search(text)
    return found.group() if found else None


def check_text(text: str, *, field: str, multiline: bool = False) -> str:
    """The text unchanged, or a 422 GalleryError naming the first control character in it."""
    found = control_character(text, multiline=multiline)
    if found is not None:
        raise GalleryError(
            "invalid_text",
            f"{field} holds the control character U+{ord(found):04X}",
            status=422,
            field=field,
        )
    return text


def normalise_name(name: str) -> str:
    """Unicode NFC, look-alike spaces and hyphens made plain, runs of blanks collapsed, ends trimmed."""
    return " ".join(unicodedata.normalize("NFC", name).translate(_LOOKALIKES).split())
