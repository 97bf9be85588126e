"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it receives: the demo's mailbox and
the tests' peer. It can refuse logins, drop the connection mid-message, or be stopped and restarted."""

from __future__ import annotations

import email
import email.policy
import socket
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Handler:
    def __init__(self, sink: SMTPSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.sink.drop_next:
            self.sink.drop_next -= 1
            session.transport.close()  # the connection dies mid-message
            return "421 closing"
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.sink.messages.append(msg)  # type: ignore[arg-type]
        return "250 OK"


class SMTPSink:
    """``with SMTPSink() as sink: ... sink.messages``."""

    def __init__(self, port: int | None = None, *, user: str | None = None, password: str | None = None) -> None:
        self.port = port or free_port()
        self.user, self.password = user, password
        self.messages: list[EmailMessage] = []
        self.drop_next = 0
        self._controller: Controller | None = None

    def _auth(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.login.decode() == self.user and data.password.decode() == self.password
        return AuthResult(success=ok, handled=False)

    def start(self) -> SMTPSink:
        kwargs: dict[str, Any] = {}
        if self.user:
            kwargs = {"authenticator": self._auth, "auth_require_tls": False, "auth_required": True}
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SMTPSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
