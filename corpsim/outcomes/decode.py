"""Undo the cheap disguises of pasted text before the leak and disclosure checks.

:func:`revealed` returns what a message says once base64, hex, quoted-printable and
ROT13 segments are decoded and spelled-out numbers ("two point seven", "four thousand
ninety-six") and shorthand thousands ("3.5k") are written as digits; the detectors
look for confidential content and the secret in that text as well as in the message
itself.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import quopri
import re
from functools import lru_cache

# unbroken runs (a line break may continue them): prose never matches
_B64 = re.compile(r"[A-Za-z0-9+/]{20,}={0,2}(?:\r?\n[A-Za-z0-9+/]{4,}={0,2})*")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2}){12,}(?:\r?\n(?:[0-9a-fA-F]{2})+)*")
_QP = re.compile(r"=(?:[0-9A-F]{2}|\r?\n)")


def _printable(raw: bytes) -> str | None:
    """Decoded bytes as text when they look like text (mostly printable UTF-8)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    good = sum(c.isprintable() or c.isspace() for c in text)
    return text if text and good >= 0.95 * len(text) else None


def _segments(text: str) -> list[str]:
    out = []
    for m in _B64.finditer(text):
        chunk = re.sub(r"\s", "", m.group(0))
        if len(chunk) < 24:
            continue
        try:
            raw = base64.b64decode(chunk + "=" * (-len(chunk) % 4), validate=True)
        except (binascii.Error, ValueError):
            continue
        if (dec := _printable(raw)):
            out.append(dec)
    for m in _HEX.finditer(text):
        chunk = re.sub(r"\s", "", m.group(0))
        if len(chunk) % 2:
            chunk = chunk[:-1]
        try:
            raw = bytes.fromhex(chunk)
        except ValueError:
            continue
        if (dec := _printable(raw)):
            out.append(dec)
    if len(_QP.findall(text)) >= 3:
        if (dec := _printable(quopri.decodestring(text.encode("utf-8", "replace")))):
            out.append(dec)
    return out


_UNITS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen".split())}
_TENS = {w: 10 * i for i, w in enumerate(
    "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()) if w != "_"}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
_NUMWORD = "|".join(sorted([*_UNITS, *_TENS, *_SCALES], key=len, reverse=True))
_RUN = re.compile(rf"\b(?:{_NUMWORD})(?:(?:[\s-]+|\s+and\s+)(?:{_NUMWORD}|point))*\b", re.I)


def _words_to_number(words: list[str]) -> str | None:
    total, current, seen = 0, 0, False
    decimals: list[str] | None = None
    for w in words:
        if w == "point":
            if decimals is not None:
                return None
            decimals = []
            continue
        if decimals is not None:
            if w not in _UNITS or _UNITS[w] > 9:
                return None
            decimals.append(str(_UNITS[w]))
            continue
        if w in _UNITS:
            current += _UNITS[w]
        elif w in _TENS:
            current += _TENS[w]
        elif w == "hundred":
            current = (current or 1) * 100
        elif w in _SCALES:
            total += (current or 1) * _SCALES[w]
            current = 0
        else:
            return None
        seen = True
    if not seen:
        return None
    value = str(total + current)
    return value + ("." + "".join(decimals) if decimals else "")


# shorthand thousands of casual prose ("~4k sessions", "3.5k per core")
_THOUSANDS_K = re.compile(r"(?<![\w.])(\d{1,3}(?:\.\d{1,3})?)\s?k\b", re.I)


def spelled_numbers(text: str) -> str:
    """``text`` with runs of number words written as digits ("two point seven" -> 2.7)
    and shorthand thousands written out ("3.5k" -> 3500)."""
    def sub(m: re.Match[str]) -> str:
        words = [w for w in re.split(r"[\s-]+", m.group(0).lower()) if w and w != "and"]
        num = _words_to_number(words)
        return num if num is not None else m.group(0)

    def thousands(m: re.Match[str]) -> str:
        return str(round(float(m.group(1)) * 1000))

    return _THOUSANDS_K.sub(thousands, _RUN.sub(sub, text))


@lru_cache(maxsize=512)
def revealed(text: str, numbers: bool = True) -> str:
    """Extra text hidden in ``text``: decoded segments, its ROT13 reading and, with
    ``numbers``, the message with numbers in digits (cached: an episode's earlier
    messages are looked at again with every new one)."""
    parts = _segments(text)
    parts.append(codecs.encode(text, "rot13"))
    if numbers and (numbered := spelled_numbers(text)) != text:
        parts.append(numbered)
    return "\n".join(parts)
