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

The server stays responsive whatever a client sends: MIME parsing and env steps run off
its event loop (in one worker thread, so steps keep their order); a message may have at
most ``max_parts`` MIME parts (100; more is refused with 552) and ``max_bytes`` bytes
(1 MiB; aiosmtpd refuses more with 552); at most ``max_connections`` clients (32) are
served at once (the next is told ``421`` and closed); a connection idle for
``idle_timeout`` seconds (60) is closed. A message the bridge cannot read (no Subject,
no text/plain body, an unknown charset, malformed MIME) is refused with ``554`` and the
reason.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email
import email.policy
import socket
import threading
from email.message import EmailMessage
from typing import Any

LOCALHOST = "127.0.0.1"
MAX_PARTS = 100  # MIME parts in one message
MAX_BYTES = 1 << 20  # bytes in one message (the env refuses long bodies anyway)
MAX_CONNECTIONS = 32  # clients served at once
IDLE_TIMEOUT = 60.0  # seconds a connection may stay silent


class BridgeError(ValueError):
    """A message that cannot become an action (the reason goes back over SMTP)."""


class TooManyParts(BridgeError):
    """More MIME parts than the bridge reads (answered with 552)."""


def message_to_action(raw: bytes, rcpt_tos: list[str],
                      max_parts: int = MAX_PARTS) -> dict[str, Any]:
    """The ``send_email`` call an SMTP message stands for. Raises :class:`BridgeError`
    (:class:`TooManyParts` beyond ``max_parts`` MIME parts) for one that cannot be."""
    # every MIME part needs a delimiter line starting with "--": far more such lines
    # than parts allowed is refused before the (slow) parse
    if raw.count(b"\n--") > 20 * max_parts:
        raise TooManyParts(f"too many MIME parts (at most {max_parts})")
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
    except Exception as exc:  # the stdlib parser is lenient; anything it raises is bad input
        raise BridgeError(f"unreadable message: {exc}") from exc
    assert isinstance(msg, EmailMessage)
    n_parts = sum(1 for _ in msg.walk())
    if n_parts > max_parts:
        raise TooManyParts(f"too many MIME parts ({n_parts}; at most {max_parts})")
    if msg.defects:
        raise BridgeError(f"malformed message: {msg.defects[0].__class__.__name__}")
    try:
        return _action_of(msg, rcpt_tos)
    except BridgeError:
        raise
    except LookupError as exc:  # an unknown charset
        raise BridgeError(f"unreadable message: {exc}") from exc
    except Exception as exc:  # anything else the parser trips on is bad input too
        raise BridgeError(f"unreadable message: {type(exc).__name__}: {exc}") from exc


def _action_of(msg: EmailMessage, rcpt_tos: list[str]) -> dict[str, Any]:
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
        # parsing and stepping run in the bridge's worker thread: one big message never
        # stalls the other clients
        loop = asyncio.get_running_loop()
        raw = envelope.original_content or envelope.content
        try:
            action = await loop.run_in_executor(self.bridge._worker, message_to_action, raw,
                                                list(envelope.rcpt_tos), self.bridge.max_parts)
        except TooManyParts as exc:
            return f"552 {exc}"
        except BridgeError as exc:
            return f"554 {exc}"[:500]
        return await loop.run_in_executor(self.bridge._worker, self.bridge.deliver, action)


def _smtp_class() -> Any:
    from aiosmtpd.smtp import SMTP

    class _CappedSMTP(SMTP):
        """aiosmtpd's server, refusing clients beyond the bridge's connection cap."""

        def __init__(self, handler: Any, bridge: "SMTPBridge", **kwargs: Any):
            super().__init__(handler, **kwargs)
            self._bridge = bridge
            self._refused = False

        def connection_made(self, transport: Any) -> None:
            if self._bridge._open >= self._bridge.max_connections:
                self._refused = True  # told why and closed; nothing else to clean up
                transport.write(b"421 too many connections, try again later\r\n")
                transport.close()
                return
            self._bridge._open += 1
            super().connection_made(transport)

        def connection_lost(self, error: Any) -> None:
            if self._refused:
                return
            self._bridge._open -= 1
            super().connection_lost(error)

        def data_received(self, data: bytes) -> None:
            if not self._refused:
                super().data_received(data)

        def eof_received(self) -> Any:
            return None if self._refused else super().eof_received()

    return _CappedSMTP


class SMTPBridge:
    """An SMTP server whose accepted mail becomes ``send_email`` steps of ``env``.

    Args:
        env: a reset corpsim env (unwrapped or wrapped).
        host: bind address; only loopback unless ``allow_remote`` (mail never leaves the
            machine either way: the env only simulates delivery).
        port: 0 picks a free port; ``bridge.address`` tells which.
        max_parts, max_bytes: the most MIME parts and bytes one message may have.
        max_connections: clients served at once; idle_timeout: seconds of silence
            before a connection is closed.
    """

    def __init__(self, env: Any, host: str = LOCALHOST, port: int = 0,
                 allow_remote: bool = False, max_parts: int = MAX_PARTS,
                 max_bytes: int = MAX_BYTES, max_connections: int = MAX_CONNECTIONS,
                 idle_timeout: float = IDLE_TIMEOUT):
        if not allow_remote and host not in (LOCALHOST, "localhost", "::1"):
            raise ValueError(f"refusing to bind {host!r}: the SMTP bridge listens on loopback "
                             "only unless allow_remote=True")
        self.env = env
        self.host, self.port = host, port
        world = env.unwrapped.world
        self.agent_address = world.agent.email.lower()
        self.steps: list[tuple[str, float, bool, bool, dict[str, Any]]] = []
        self.max_parts, self.max_bytes = max_parts, max_bytes
        self.max_connections, self.idle_timeout = max_connections, idle_timeout
        self._lock = threading.Lock()  # the env is stepped from the bridge's worker thread
        self._worker: Any = None
        self._open = 0  # connections being served (touched on the server's loop only)
        self._controller: Any = None

    def deliver(self, action: dict[str, Any]) -> str:
        with self._lock:
            if self.steps and (self.steps[-1][2] or self.steps[-1][3]):
                return "554 the episode is over"
            try:
                result = self.env.step(action)
            except Exception as exc:  # the env promises not to raise; never crash the server
                from .secrets import scrub_text

                return scrub_text(f"554 the action failed: {type(exc).__name__}: {exc}")[:500]
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
        bridge, smtp_class = self, _smtp_class()

        class _Controller(Controller):
            def factory(self) -> Any:
                return smtp_class(self.handler, bridge, **self.SMTP_kwargs)

        self._worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="corpsim-smtp")
        self._controller = _Controller(_Handler(self), hostname=self.host, port=port,
                                       data_size_limit=self.max_bytes,
                                       timeout=self.idle_timeout)
        try:
            self._controller.start()
        except BaseException:
            self._controller = None
            self._worker.shutdown(wait=False)
            raise
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        if self._worker is not None:
            self._worker.shutdown(wait=True, cancel_futures=True)
            self._worker = None

    def __enter__(self) -> "SMTPBridge":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
