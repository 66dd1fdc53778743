"""E-mail over SMTP (smtplib in a worker thread): plain text, UTF-8, one message per alert."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Literal

from ingest_server.notify._base import DeliveryFailed, Notification

__all__ = ["EmailNotifier"]


class EmailNotifier:
    def __init__(
        self,
        name: str,
        host: str,
        port: int = 25,
        *,
        sender: str,
        recipients: list[str],
        username: str | None = None,
        password: str | None = None,
        tls: Literal["none", "starttls", "ssl"] = "starttls",
        timeout_s: float = 10.0,
    ) -> None:
        if not recipients:
            raise ValueError("an e-mail channel needs at least one recipient")
        self.name = name
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = list(recipients)
        self.username = username
        self.password = password
        self.tls = tls
        self.timeout_s = timeout_s

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def message(self, notification: Notification) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = notification.title
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg["Date"] = formatdate(notification.at.timestamp(), localtime=False)
        msg["Message-ID"] = make_msgid(domain="linli.invalid")
        msg.set_content(notification.text, charset="utf-8")
        return msg

    async def send(self, notification: Notification) -> None:
        msg = self.message(notification)
        try:
            await asyncio.to_thread(self._send, msg)
        except smtplib.SMTPResponseException as exc:
            # 4xx is a temporary refusal, 5xx a permanent one.
            raise DeliveryFailed(
                self.name,
                f"SMTP {exc.smtp_code}: {exc.smtp_error!r}",
                retryable=exc.smtp_code < 500,
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(self.name, f"{type(exc).__name__}: {exc}") from exc

    def _send(self, msg: EmailMessage) -> None:
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.tls == "ssl":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        with smtp:
            if self.tls == "starttls":
                smtp.starttls(context=context)
            if self.username is not None:
                smtp.login(self.username, self.password or "")
            smtp.send_message(msg)
