"""ASGI middleware that writes every state-changing call to the audit log after it ran."""

from __future__ import annotations

import logging

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ingest_server.auth._audit import AuditLog
from ingest_server.auth._model import Principal

__all__ = ["AuditMiddleware", "client_of"]

log = logging.getLogger(__name__)

_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
# Written by the sign-in handler itself, with the user name tried.
_SELF_AUDITED = frozenset({"/auth/login"})


def client_of(scope: Scope) -> str | None:
    client = scope.get("client")
    return None if not client else str(client[0])


class AuditMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _SAFE or scope["path"] in _SELF_AUDITED:
            await self.app(scope, receive, send)
            return
        status: list[int] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            await self._record(scope, status[0] if status else 500)

    async def _record(self, scope: Scope, status: int) -> None:
        audit: AuditLog | None = getattr(scope["app"].state, "audit", None)
        if audit is None:
            return
        principal = scope.get("state", {}).get("principal")
        actor = principal.actor if isinstance(principal, Principal) else None
        query = scope.get("query_string", b"").decode("latin-1")
        path = scope["path"] + (f"?{query}" if query else "")
        action = "call" if status < 400 else "call.refused"
        await anyio.to_thread.run_sync(
            lambda: audit.append(
                action,
                actor=actor,
                method=scope["method"],
                path=path,
                status=status,
                client=client_of(scope),
            )
        )
