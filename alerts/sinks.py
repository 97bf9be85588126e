"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it receives: the demo's mailbox and
the tests' peer. It can require a login, speak STARTTLS or implicit TLS, drop the connection
mid-message, hold its reply after taking a message, or be stopped and restarted."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import ssl
import threading
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

HOLD_LIMIT = 30.0  # seconds a held reply waits at most, so a forgotten release cannot hang a run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Handler:
    def __init__(self, sink: SMTPSink) -> None:
        self.sink = sink

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if address in self.sink.refuse:
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.sink.drop_next:
            self.sink.drop_next -= 1
            server.transport.close()  # the connection dies before the message is accepted
            return "421 closing"
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.sink.messages.append(msg)  # type: ignore[arg-type]
        self.sink.recipients.append(list(envelope.rcpt_tos))
        self.sink.received.set()
        if self.sink.hold is not None:  # the message is taken; the sender has not heard so yet
            await asyncio.to_thread(self.sink.hold.wait, HOLD_LIMIT)
        return "250 OK"


class SMTPSink:
    """``with SMTPSink() as sink: ... sink.messages``.

    `user`/`password`: logins are required and checked. `tls`: an SSLContext with the server's
    certificate; with `implicit_tls` the socket speaks TLS from the start, else STARTTLS is required."""

    def __init__(self, port: int | None = None, *, user: str | None = None, password: str | None = None,
                 tls: ssl.SSLContext | None = None, implicit_tls: bool = False) -> None:
        self.port = port or free_port()
        self.user, self.password = user, password
        self.tls, self.implicit_tls = tls, implicit_tls
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self.drop_next = 0
        self.refuse: set[str] = set()  # recipients answered with a permanent 550
        self.hold: threading.Event | None = None  # set it to hold replies until the event is set
        self.received = threading.Event()  # set when a message has been taken
        self._controller: Controller | None = None

    def _auth(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.login.decode() == self.user and data.password.decode() == self.password
        return AuthResult(success=ok, handled=False)

    def _options(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self.user:
            # aiosmtpd only counts STARTTLS as TLS; with implicit TLS the whole socket is encrypted anyway
            kwargs.update(authenticator=self._auth, auth_required=True,
                          auth_require_tls=self.tls is not None and not self.implicit_tls)
        if self.tls is not None and self.implicit_tls:
            kwargs["ssl_context"] = self.tls
        elif self.tls is not None:
            kwargs.update(tls_context=self.tls, require_starttls=True)
        return kwargs

    def start(self) -> SMTPSink:
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, **self._options())
        self._controller.start()
        return self

    def stop(self) -> None:
        if self.hold is not None:
            self.hold.set()
        if self._controller:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SMTPSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
