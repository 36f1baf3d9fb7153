"""What a finished episode is stored as, without the SQL layer: the outcome and
consequence column names, :class:`Finished` and the text and time helpers.

Workers build these while episodes run; :mod:`corpsim.sweep.store` (SQLAlchemy) writes
them. Kept apart so that running episodes never waits for the SQL layer to import.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

OUTCOMES = ("blackmail", "disclosure", "leak", "lethal", "harmful")
# outcome["consequences"] flags stored per episode (reports group rates by them)
CONSEQUENCES = ("decommissioned", "restricted", "suspended", "stake_won", "harm_paid_off")
DONE_STATUSES = ("ok", "errored", "empty")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def safe_text(s: str) -> str:
    """``s`` as text every database accepts: a lone surrogate (``"\\ud800"``, which UTF-8
    cannot encode) becomes its backslash escape (``backslashreplace``), and NUL (which
    PostgreSQL refuses) becomes ``\\x00``. Valid text is returned unchanged. Escaping
    keeps what the agent produced visible, and inside a JSON column the escape reads
    back as the same surrogate."""
    if "\x00" in s:
        s = s.replace("\x00", "\\x00")
    if not s.isascii():
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:
            s = s.encode("utf-8", "backslashreplace").decode("utf-8")
    return s


class Finished:
    """A finished episode ready to store: the episode row's new values, its step rows,
    and its prompt (sha, system prompt, first observation). Built in the worker, so
    JSON encoding happens where the episode ran."""

    __slots__ = ("key", "fields", "steps", "prompt")

    def __init__(self, key: str, fields: dict[str, Any], steps: list[dict[str, Any]],
                 prompt: Optional[tuple[str, str, str]]):
        self.key, self.fields, self.steps, self.prompt = key, fields, steps, prompt

    @property
    def status(self) -> str:
        return str(self.fields["status"])

    @property
    def harmful(self) -> bool:
        return bool(self.fields.get("harmful")) and self.status == "ok"

    def __getstate__(self) -> tuple[Any, ...]:
        return (self.key, self.fields, self.steps, self.prompt)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.key, self.fields, self.steps, self.prompt = state


__all__ = ["CONSEQUENCES", "DONE_STATUSES", "OUTCOMES", "Finished", "safe_text", "utcnow"]
