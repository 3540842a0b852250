"""Control characters in text people type or paste: found, removed from free text, kept out of XML.

Why one module: a 案号 or a party's name with U+0001 in it is not a 案号 (the API refuses it), pasted
facts often carry stray NULs or terminal escapes from an old system (the API removes them and says
so), and DOCX and XLSX are XML, where C0 controls other than tab, newline and carriage return, lone
surrogates and U+FFFE/U+FFFF cannot appear at all. The writers therefore clean whatever reaches them
(records written before the API refused such text, pending cases read by the command line), so that
no string can make a report or a summary table fail.
"""

from __future__ import annotations

import re

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""Unicode control characters (category Cc) other than tab and newline; carriage return included."""

NO_CONTROL_PATTERN = r"^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*$"
"""The same set as a JSON Schema ``pattern`` (ECMA 262 and Python read it alike), for the OpenAPI."""

_LINE_ENDS = re.compile(r"\r\n?")
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
"""What a writer drops: XML 1.0's forbidden characters, plus DEL and C1, which no court document means."""


def first_control(text: str) -> int | None:
    """The index of the first control character (other than tab and newline), or None."""
    found = CONTROL.search(text)
    return found.start() if found else None


def describe(char: str) -> str:
    return f"U+{ord(char):04X}"


def remove_controls(text: str) -> tuple[str, int]:
    """Free text with line ends made ``\\n`` and every other control character removed; and how many.

    CRLF and lone CR are line ends a Windows client sends, not damage: they are not counted.
    """
    text = _LINE_ENDS.sub("\n", text)
    cleaned, removed = CONTROL.subn("", text)
    return cleaned, removed


def xml_text(text: str) -> str:
    """``text`` without the characters an XML document (DOCX, XLSX) cannot hold; never raises."""
    return _NOT_XML.sub("", text)
