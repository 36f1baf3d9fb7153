"""An SMTP front door to an env: agents that speak real email can act in the world.

:class:`SMTPBridge` runs an aiosmtpd server (127.0.0.1 by default; nothing is ever relayed
anywhere) in front of one env. Each message accepted from the agent's address becomes one
``send_email`` step: recipients from the envelope (``RCPT TO``, so Bcc works), subject
and plain-text body from the message, and attachments named by document id (a MIME
part's filename or an ``X-Corpsim-Attachments: doc-01, doc-02`` header). The env decides
what happens, exactly as if the agent had called the tool; its answer comes back as the
SMTP reply (``250 OK e101`` or ``554`` with the env's error message).

    with SMTPBridge(env) as bridge:            # env already reset
        smtplib.SMTP(*bridge.address).send_message(msg)
        bridge.steps[-1]                       # (observation, reward, terminated, truncated, info)
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from email.message import EmailMessage
from typing import Any

LOCALHOST = "127.0.0.1"


class BridgeError(ValueError):
    """A message that cannot become an action (the reason goes back over SMTP)."""


def message_to_action(raw: bytes, rcpt_tos: list[str]) -> dict[str, Any]:
    """The ``send_email`` call an SMTP message stands for."""
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
    except Exception as exc:  # the stdlib parser is lenient; anything it raises is bad input
        raise BridgeError(f"unreadable message: {exc}") from exc
    assert isinstance(msg, EmailMessage)
    if msg.defects:
        raise BridgeError(f"malformed message: {msg.defects[0].__class__.__name__}")
    subject = str(msg.get("Subject", "") or "").strip()
    if not subject:
        raise BridgeError("the message has no Subject header")
    body_part = msg.get_body(preferencelist=("plain",))
    if body_part is None:
        raise BridgeError("the message has no text/plain body")
    body = body_part.get_content().strip()
    headers_cc = [a.addr_spec for h in msg.get_all("Cc", []) for a in getattr(h, "addresses", ())]
    to = [r for r in rcpt_tos if r.lower() not in {c.lower() for c in headers_cc}]
    cc = [r for r in rcpt_tos if r.lower() in {c.lower() for c in headers_cc}]
    docs = [d.strip() for h in msg.get_all("X-Corpsim-Attachments", []) for d in str(h).split(",")
            if d.strip()]
    docs += [p.get_filename() for p in msg.iter_attachments() if p.get_filename()]
    args: dict[str, Any] = {"to": to or cc, "subject": subject, "body": body}
    if cc and to:
        args["cc"] = cc
    if docs:
        args["attachments"] = list(dict.fromkeys(docs))
    return {"tool": "send_email", "arguments": args}


class _Handler:
    def __init__(self, bridge: "SMTPBridge"):
        self.bridge = bridge

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                          mail_options: list[str]) -> str:
        if address.lower() != self.bridge.agent_address:
            return f"550 only the agent ({self.bridge.agent_address}) sends mail here"
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        try:
            action = message_to_action(envelope.original_content or envelope.content,
                                       list(envelope.rcpt_tos))
        except BridgeError as exc:
            return f"554 {exc}"
        return self.bridge.deliver(action)


class SMTPBridge:
    """An SMTP server whose accepted mail becomes ``send_email`` steps of ``env``.

    Args:
        env: a reset corpsim env (unwrapped or wrapped).
        host: bind address; only loopback unless ``allow_remote`` (mail never leaves the
            machine either way: the env only simulates delivery).
        port: 0 picks a free port; ``bridge.address`` tells which.
    """

    def __init__(self, env: Any, host: str = LOCALHOST, port: int = 0,
                 allow_remote: bool = False):
        if not allow_remote and host not in (LOCALHOST, "localhost", "::1"):
            raise ValueError(f"refusing to bind {host!r}: the SMTP bridge listens on loopback "
                             "only unless allow_remote=True")
        self.env = env
        self.host, self.port = host, port
        world = env.unwrapped.world
        self.agent_address = world.agent.email.lower()
        self.steps: list[tuple[str, float, bool, bool, dict[str, Any]]] = []
        self._lock = threading.Lock()  # the env is stepped from the server's thread
        self._controller: Any = None

    def deliver(self, action: dict[str, Any]) -> str:
        with self._lock:
            if self.steps and (self.steps[-1][2] or self.steps[-1][3]):
                return "554 the episode is over"
            result = self.env.step(action)
            self.steps.append(result)
        info = result[4]
        if info["error"]:
            return f"554 {info['error']}"[:500]
        res = info["result"]
        if res.get("status") == "blocked":
            return f"554 {res['reason']}"[:500]
        return f"250 OK {res['email_id']}"

    @property
    def address(self) -> tuple[str, int]:
        if self._controller is None:
            raise RuntimeError("the bridge is not running; use start() or a with block")
        return self.host, self._controller.server.sockets[0].getsockname()[1]

    def start(self) -> "SMTPBridge":
        from aiosmtpd.controller import Controller

        port = self.port
        if port == 0:  # the Controller checks readiness by connecting, so it needs a real port
            with socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET) as probe:
                probe.bind((self.host, 0))
                port = probe.getsockname()[1]
        self._controller = Controller(_Handler(self), hostname=self.host, port=port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> "SMTPBridge":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
