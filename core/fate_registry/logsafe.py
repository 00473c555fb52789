"""Text from a request, made safe to log: one line, and nothing that looks like something else."""

from __future__ import annotations


def printable(text: str) -> str:
    """``text`` with backslashes, double quotes and non-printable characters (newlines, ANSI
    escapes, U+2028...) backslash-escaped, so a logged path cannot forge or garble a line."""
    if text.isprintable() and "\\" not in text and '"' not in text:
        return text
    return "".join(_escape(char) for char in text)


def _escape(char: str) -> str:
    if char in '\\"':
        return "\\" + char
    if char.isprintable():
        return char
    return char.encode("unicode_escape").decode("ascii")
