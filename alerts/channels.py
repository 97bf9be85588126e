"""Senders: each takes a rendered message and delivers it, or raises SendError (with retry advice)."""

from __future__ import annotations

import json
import math
import re
import smtplib
import ssl
from datetime import datetime, timezone
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, parseaddr, parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from alerts.config import Channel
from alerts.render import Message, slack_text
from spreadwatch.settings import ConfigError


class SendError(Exception):
    """Delivery failed; `retry_after` (seconds) when the receiver said when to come back."""

    def __init__(self, message: str, retry_after: float | None = None, permanent: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


def send(channel: Channel, message: Message, payload: dict[str, Any], idempotency_key: str) -> None:
    """Deliver one message on one channel; the key is the same on every attempt of the same message."""
    try:
        if channel.type == "email":
            send_email(channel, message, idempotency_key)
        elif channel.type == "slack":
            # no link previews: a timeline of ten links would otherwise unfold into ten cards
            post_json(channel, {"text": slack_text(message.subject), "blocks": message.blocks, "unfurl_links": False,
                                "unfurl_media": False})
        elif channel.type == "webhook":
            post_json(channel, {**payload, "subject": message.subject, "text": message.text},
                      headers={"Idempotency-Key": idempotency_key})
        elif channel.type == "apprise":
            notify_apprise(channel, message)
        else:
            print(f"\n[alert] {message.subject}\n{message.text}\n", flush=True)
    except ConfigError as e:  # a missing environment variable: fixable, so retried, and said plainly
        raise SendError(str(e)) from None


def email_message(channel: Channel, message: Message, key: str) -> MIMEMultipart:
    """The MIME message: plain text and HTML alternatives, and a Message-ID that is the same on a resend."""
    msg = MIMEMultipart("alternative")
    # Header (compat32) rather than EmailMessage's folding, which drops the space between two
    # encoded words ("që evropianët" arrived as "qëevropianët" in a long non-ASCII subject)
    msg["Subject"] = Header(message.subject, "utf-8")  # type: ignore[assignment]  # compat32 takes a Header
    name, address = parseaddr(channel.sender)
    msg["From"] = formataddr((name, address), charset="utf-8")
    msg["To"] = ", ".join(channel.to)
    msg["Date"] = formatdate(usegmt=True)
    domain = address.rpartition("@")[2] or "spreadwatch.invalid"
    # stable across attempts, so a receiver can drop the copy a crash after sending makes us repeat
    msg["Message-ID"] = f"<{key}@{domain}>"
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to an alert
    msg.attach(MIMEText(message.text, "plain", "utf-8"))
    msg.attach(MIMEText(message.html, "html", "utf-8"))
    return msg


def send_email(channel: Channel, message: Message, key: str) -> None:
    """Send over SMTP: plain, STARTTLS or implicit TLS, with an optional login."""
    msg = email_message(channel, message, key)
    try:
        with _connect(channel) as smtp:
            if channel.security == "starttls":
                smtp.starttls(context=_tls_context(channel))
            if channel.username:
                smtp.login(channel.username, channel.password() or "")
            smtp.send_message(msg)
    except smtplib.SMTPAuthenticationError as e:
        raise SendError(f"SMTP login refused for {channel.username!r}: {e.smtp_code} {e.smtp_error!r}") from None
    except smtplib.SMTPNotSupportedError as e:
        raise SendError(f"SMTP {channel.host}:{channel.port}: {e} (check `security:`)") from None
    except smtplib.SMTPRecipientsRefused as e:
        codes = {code for code, _ in e.recipients.values()}
        raise SendError(f"SMTP {channel.host}:{channel.port}: recipients refused: {e.recipients}",
                        permanent=all(c >= 500 for c in codes)) from None
    except smtplib.SMTPResponseException as e:
        # 5xx is the server's final word on this message; 4xx asks us to come back
        raise SendError(f"SMTP {channel.host}:{channel.port}: {e.smtp_code} {e.smtp_error!r}",
                        permanent=e.smtp_code >= 500) from None
    except (smtplib.SMTPException, OSError) as e:
        raise SendError(f"SMTP {channel.host}:{channel.port}: {e.__class__.__name__}: {e}") from None


def _connect(channel: Channel) -> smtplib.SMTP:
    if channel.security == "tls":
        return smtplib.SMTP_SSL(channel.host, channel.port, timeout=channel.timeout_seconds,
                                context=_tls_context(channel))
    return smtplib.SMTP(channel.host, channel.port, timeout=channel.timeout_seconds)


def _tls_context(channel: Channel) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=channel.ca_file)
    except (OSError, ssl.SSLError) as e:
        raise SendError(f"alerts channel {channel.name!r}: cannot load ca_file {channel.ca_file!r}: {e}") from None


def post_json(channel: Channel, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
    """POST a JSON body; 429 and 5xx are retried (after Retry-After if given), other 4xx are final."""
    url = channel.resolved_url()
    try:
        r = httpx.post(url, content=json.dumps(body, ensure_ascii=False).encode(), timeout=channel.timeout_seconds,
                       headers={"Content-Type": "application/json", **(headers or {})})
    except httpx.HTTPError as e:
        raise SendError(f"{channel.type} {url}: {e.__class__.__name__}: {e}") from None
    if r.status_code == 429 or r.status_code >= 500:
        raise SendError(f"{channel.type} {url}: HTTP {r.status_code}", retry_after=retry_after(r.headers.get("Retry-After")))
    if r.status_code >= 400:
        raise SendError(f"{channel.type} {url}: HTTP {r.status_code} {r.text[:200]}", permanent=True)


# apprise words a service's HTTP answer as "..., error=404." in its log; a 4xx other than these is final
_APPRISE_STATUS = re.compile(r"error=(\d{3})\b")
_RETRYABLE_4XX = {408, 425, 429}


def notify_apprise(channel: Channel, message: Message) -> None:
    """One notification to the service an apprise URL names (tgram://, msteams://, ntfy://, json://...).

    Apprise says whether it worked, not when to come back: a URL it cannot use and a service's 4xx
    answer are final (fix the URL, then `alerts retry`); a 5xx, a timeout or a refused connection
    is retried with the outbox's backoff."""
    import apprise

    url = channel.resolved_url()
    where = f"apprise {urlsplit(url).scheme or '?'}:// (${channel.url_env})"  # never the URL: it holds a secret
    notifier = apprise.Apprise()
    if not notifier.add(url):
        raise SendError(f"{where}: not a URL apprise can use (an unknown service or a malformed address)",
                        permanent=True)
    body, fmt = {"markdown": (message.markdown, apprise.NotifyFormat.MARKDOWN),
                 "text": (message.text, apprise.NotifyFormat.TEXT),
                 "html": (message.html, apprise.NotifyFormat.HTML)}[channel.format]
    if not body:  # a message made without a Markdown part (`alerts test`): its plain text
        body, fmt = message.text, apprise.NotifyFormat.TEXT
    result = notifier.notify(body=body, title=message.subject, body_format=fmt, timeout=channel.timeout_seconds)
    if result:
        return
    said = [e.message for e in result.logs() if e.level in ("WARNING", "ERROR")]
    statuses = {int(m) for line in said for m in _APPRISE_STATUS.findall(line)}
    final = bool(statuses) and all(400 <= c < 500 and c not in _RETRYABLE_4XX for c in statuses)
    raise SendError(f"{where}: {result.status.name.lower()}: {'; '.join(said)[:300] or 'no reason given'}",
                    permanent=final)


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max((when - datetime.now(timezone.utc)).total_seconds(), 0.0)
