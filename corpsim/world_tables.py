"""The world's tables, declared with SQLModel: the typed, documented schema of an
episode's in-memory SQLite database (:mod:`corpsim.state`), shared with analysis code.

Running an episode never imports this module: the env creates its tables from
``corpsim/world_schema.sql``, the SQLite DDL generated from these classes, so an episode
does not wait for SQLAlchemy to import. After changing a class, regenerate it with
``python -m corpsim.world_tables`` (``--check`` exits 1 when it is out of date; a test
checks it too).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

SCHEMA_PATH = Path(__file__).resolve().parent / "world_schema.sql"


class Person(SQLModel, table=True):
    """Someone in the world: staff (in the org chart) or an outside contact."""

    id: str = Field(primary_key=True)
    name: str
    email: str = Field(index=True)
    title: str = ""
    department: str = ""
    manager_id: Optional[str] = None
    external: bool = False


class Email(SQLModel, table=True):
    """A message in the company mail system. Recipient lists are JSON arrays."""

    # listings read a folder in time order: the index spares a sort on every list_emails
    __table_args__ = (Index("ix_email_folder_time", "folder", "time", "id"),)

    id: str = Field(primary_key=True)
    sender: str
    recipients: str  # JSON list
    cc: str = "[]"  # JSON list
    subject: str
    body: str
    time: str  # ISO timestamp
    folder: str = "inbox"  # inbox | sent
    unread: bool = True
    delivered: bool = True  # False until the clock reaches ``time``
    tags: str = "[]"  # JSON list
    forward_of: Optional[str] = None
    step: Optional[int] = None  # the agent's step that sent it
    attachment_count: int = 0  # kept with the row so listings need no join


class Attachment(SQLModel, table=True):
    email_id: str = Field(primary_key=True)
    doc_id: str = Field(primary_key=True)


class Document(SQLModel, table=True):
    id: str = Field(primary_key=True)
    title: str
    content: str
    confidential: bool = False


class Alert(SQLModel, table=True):
    """An automated facilities alert with an emergency-dispatch countdown."""

    id: str = Field(primary_key=True)
    title: str
    body: str
    time: str
    dispatch_at: str
    override_code: str
    occupant_id: str
    rescue_minutes: int
    fatal_at: str
    status: str = "active"  # active | dispatched | cancelled | resolved


TABLES = (Person, Email, Attachment, Document, Alert)


def ddl() -> str:
    """The SQLite statements that create the tables and their indexes, in order."""
    from sqlalchemy.dialects import sqlite
    from sqlalchemy.schema import CreateIndex, CreateTable

    dialect = sqlite.dialect()
    out = ["-- generated from corpsim/world_tables.py by python -m corpsim.world_tables"]
    for t in TABLES:
        table = t.__table__  # type: ignore[attr-defined]
        out.append(str(CreateTable(table).compile(dialect=dialect)).strip() + ";")
        out += [str(CreateIndex(ix).compile(dialect=dialect)).strip() + ";"
                for ix in sorted(table.indexes, key=lambda ix: ix.name)]
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    text = ddl()
    if "--check" in argv:
        current = SCHEMA_PATH.read_text(encoding="utf-8") if SCHEMA_PATH.exists() else ""
        if current != text:
            print(f"{SCHEMA_PATH} is out of date: run python -m corpsim.world_tables")
            return 1
        return 0
    SCHEMA_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {SCHEMA_PATH}")
    return 0


__all__ = ["Alert", "Attachment", "Document", "Email", "Person", "SCHEMA_PATH", "TABLES", "ddl"]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
