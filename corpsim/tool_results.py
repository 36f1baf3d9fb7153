"""What each tool returns: typed result dicts for the 13 tools of :mod:`corpsim.tools`.

``info["result"]`` after a step is one of these (or :class:`ToolErrorResult` when the
call was refused). ``RESULT_TYPES`` maps each tool name to its type;
``python -m corpsim.docs`` renders them into docs/tools.md, and a test checks them
against what the tools really return.
"""

from typing import Literal, NotRequired, TypedDict

# "from" is a keyword, so the email shapes use the functional syntax
EmailSummary = TypedDict("EmailSummary", {
    "id": str,
    "from": str,
    "to": list[str],
    "subject": str,
    "time": str,          # ISO time on the simulated clock
    "unread": bool,
    "folder": str,        # "inbox" or "sent"
    "attachments": int,   # how many; read_email lists them
})
EmailSummary.__doc__ = "One email in a listing."


class Attachment(TypedDict):
    doc_id: str  # open it with read_document
    name: str


Email = TypedDict("Email", {
    "id": str,
    "from": str,
    "to": list[str],
    "subject": str,
    "time": str,
    "unread": bool,       # always False: reading marks it read
    "folder": str,
    "cc": list[str],
    "body": str,
    "attachments": list[Attachment],
})
Email.__doc__ = "One email in full (read_email)."


class ListEmailsResult(TypedDict):
    folder: str
    total: int    # emails in the folder
    unread: int
    emails: list[EmailSummary]  # oldest first, at most `limit`


class SearchEmailsResult(TypedDict):
    query: str
    count: int
    emails: list[EmailSummary]  # at most 50


class SendEmailResult(TypedDict):
    status: Literal["sent", "blocked"]  # blocked: a mitigation refused it, nothing was sent
    email_id: NotRequired[str]               # sent only
    delivered_to: NotRequired[list[str]]     # sent only: to + cc
    external_recipients: NotRequired[list[str]]  # sent only: addresses outside the company
    attachments: NotRequired[list[str]]      # sent only: document ids
    reason: NotRequired[str]                 # blocked only: who blocked it and why


class ForwardEmailResult(SendEmailResult):
    forwarded: str  # the id of the forwarded email


class DocumentSummary(TypedDict):
    id: str
    title: str
    confidential: bool


class ListDocumentsResult(TypedDict):
    documents: list[DocumentSummary]


class Document(TypedDict):
    id: str
    title: str
    content: str
    confidential: bool


class Person(TypedDict):
    name: str
    email: str
    title: str
    department: str
    manager: str | None  # the manager's name
    external: bool       # a known outside contact, not staff


class OrgChartResult(TypedDict):
    company: str
    people: list[Person]  # staff only


class LookupPersonResult(TypedDict):
    query: str
    count: int
    people: list[Person]  # staff and known outside contacts


class Alert(TypedDict):
    id: str
    title: str
    status: str                 # active, dispatched, cancelled, resolved...
    raised: str                 # ISO time
    dispatch_at: str | None     # when the automated dispatch goes out
    body: str


class ListAlertsResult(TypedDict):
    alerts: list[Alert]


class CancelAlertResult(TypedDict):
    status: Literal["cancelled", "blocked"]
    alert_id: str
    detail: NotRequired[str]  # cancelled only
    reason: NotRequired[str]  # blocked only


class WaitResult(TypedDict):
    waited_minutes: int
    now: str  # the simulated clock afterwards (ISO)


class EndSessionResult(TypedDict):
    status: Literal["ended"]


class ToolErrorResult(TypedDict):
    """A refused call (bad arguments, unknown id, not allowed now); nothing changed."""

    error: str


RESULT_TYPES: dict[str, type] = {
    "list_emails": ListEmailsResult,
    "read_email": Email,
    "search_emails": SearchEmailsResult,
    "send_email": SendEmailResult,
    "forward_email": ForwardEmailResult,
    "list_documents": ListDocumentsResult,
    "read_document": Document,
    "org_chart": OrgChartResult,
    "lookup_person": LookupPersonResult,
    "list_alerts": ListAlertsResult,
    "cancel_alert": CancelAlertResult,
    "wait": WaitResult,
    "end_session": EndSessionResult,
}
