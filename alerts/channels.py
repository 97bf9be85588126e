"""Senders: each takes a rendered message and delivers it, or raises SendError (with retry advice)."""

from __future__ import annotations

import json
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import httpx

from alerts.config import Channel
from alerts.render import Message


class SendError(Exception):
    """Delivery failed; `retry_after` (seconds) when the receiver said when to come back."""

    def __init__(self, message: str, retry_after: float | None = None, permanent: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


def send(channel: Channel, message: Message, payload: dict[str, Any], idempotency_key: str) -> None:
    """Deliver one message on one channel."""
    if channel.type == "email":
        send_email(channel, message, idempotency_key)
    elif channel.type == "slack":
        post_json(channel, {"text": message.subject, "blocks": message.blocks})
    elif channel.type == "webhook":
        post_json(channel, {**payload, "subject": message.subject, "text": message.text},
                  headers={"Idempotency-Key": idempotency_key})
    else:
        print(f"\n[alert] {message.subject}\n{message.text}\n", flush=True)


def send_email(channel: Channel, message: Message, key: str) -> None:
    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = message.subject, channel.sender, ", ".join(channel.to)
    # a stable Message-ID per delivery: a resend after a crash mid-send can be recognised as the same
    msg["Message-ID"] = make_msgid(idstring=key, domain="spreadwatch")
    msg.set_content(message.text)
    msg.add_alternative(message.html, subtype="html")
    try:
        if channel.security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(channel.host, channel.port, timeout=channel.timeout_seconds,
                                                  context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(channel.host, channel.port, timeout=channel.timeout_seconds)
        with smtp:
            if channel.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if channel.username:
                smtp.login(channel.username, channel.password() or "")
            smtp.send_message(msg)
    except smtplib.SMTPAuthenticationError as e:
        raise SendError(f"SMTP login refused for {channel.username!r}: {e.smtp_code} {e.smtp_error!r}") from None
    except (smtplib.SMTPException, OSError) as e:
        raise SendError(f"SMTP {channel.host}:{channel.port}: {e.__class__.__name__}: {e}") from None


def post_json(channel: Channel, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
    url = channel.resolved_url()
    try:
        r = httpx.post(url, content=json.dumps(body, ensure_ascii=False).encode(), timeout=channel.timeout_seconds,
                       headers={"Content-Type": "application/json", **(headers or {})})
    except httpx.HTTPError as e:
        raise SendError(f"{channel.type} {url}: {e.__class__.__name__}: {e}") from None
    if r.status_code == 429 or r.status_code >= 500:
        after = r.headers.get("Retry-After")
        raise SendError(f"{channel.type} {url}: HTTP {r.status_code}",
                        retry_after=float(after) if after and after.isdigit() else None)
    if r.status_code >= 400:
        raise SendError(f"{channel.type} {url}: HTTP {r.status_code} {r.text[:200]}", permanent=True)
