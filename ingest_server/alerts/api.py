"""HTTP API of the alert lifecycle: list, read with history, acknowledge, assign, resolve,
silence, notes; channel health; and the server-sent event stream for the dashboard.

The app provides, on its lifespan state or ``app.state``: ``alert_service`` (an
:class:`AlertService`), optionally ``notify_dispatcher`` (a :class:`Dispatcher`, for channel
health) and ``sse`` (an :class:`SseBroadcaster`, for ``/alerts/stream``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ingest_server.alerts._errors import AlertNotFound, InvalidAction, InvalidInput
from ingest_server.alerts._models import AlertDetail, AlertPublic, AlertState
from ingest_server.alerts._service import AlertService
from ingest_server.auth import principal_of, still_signed_in, visible_sites
from ingest_server.notify import ChannelStats, Dispatcher, SseBroadcaster
from rules.live import Severity

__all__ = ["router"]

router = APIRouter(prefix="/alerts", tags=["alerts"])

# 15 s: below the 30-60 s idle timeouts of common reverse proxies, so the stream stays open.
SSE_KEEPALIVE_S = 15.0

# Who does it is the signed-in principal; a body's "actor" is accepted for compatibility and
# must name that principal when given.
Actor = Annotated[
    str | None, Field(default=None, min_length=1, max_length=64, description="Who does it")
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AcknowledgeBody(_Body):
    actor: Actor
    note: str | None = Field(default=None, max_length=2000)


class AssignBody(_Body):
    actor: Actor
    assignee: Annotated[str, Field(min_length=1, max_length=64)]


class ResolveBody(_Body):
    actor: Actor
    note: Annotated[str, Field(min_length=1, max_length=2000)]


class SilenceBody(_Body):
    actor: Actor
    duration_s: float = Field(
        gt=0, le=366 * 86_400, description="Bounded further by the service's maximum silence"
    )
    reason: str | None = Field(default=None, max_length=2000)


class NoteBody(_Body):
    actor: Actor
    text: Annotated[str, Field(min_length=1, max_length=2000)]


def _state(request: Request, name: str) -> Any:
    value = getattr(request.state, name, None)
    return value if value is not None else getattr(request.app.state, name, None)


def _service(request: Request) -> AlertService:
    service = _state(request, "alert_service")
    if not isinstance(service, AlertService):
        raise HTTPException(503, "the alert service is not running")
    return service


def _actor(request: Request, claimed: str | None) -> str:
    """The signed-in principal's name; a claimed actor must be that name. A bare router
    without access control (embedded in another app) takes the claimed actor."""
    if getattr(request.app.state, "auth", None) is None:
        if claimed is None:
            raise HTTPException(422, "actor is required")
        return claimed
    principal = principal_of(request)
    if claimed is not None and claimed not in (principal.actor, principal.username):
        raise HTTPException(
            422, f"actor {claimed!r} is not the signed-in user {principal.actor!r}; omit it"
        )
    return principal.actor


def _call(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except AlertNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except InvalidAction as exc:
        raise HTTPException(409, str(exc)) from None
    except InvalidInput as exc:
        raise HTTPException(422, str(exc)) from None


@router.get("", response_model=list[AlertPublic])
def list_alerts(
    request: Request,
    state: Annotated[list[AlertState] | None, Query()] = None,
    site: str | None = None,
    rule: str | None = None,
    subject: str | None = None,
    min_severity: Severity | None = None,
    active: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[AlertPublic]:
    """Alerts, most recently changed first."""
    return _service(request).list_alerts(
        state=state,
        site=site,
        rule=rule,
        subject=subject,
        min_severity=min_severity,
        active=active,
        limit=limit,
        offset=offset,
        sites=visible_sites(request),
    )


@router.get("/channels", response_model=dict[str, ChannelStats])
def channel_health(request: Request) -> dict[str, ChannelStats]:
    """Per-channel delivery counters (sent, failed attempts, given up, dropped, queued)."""
    dispatcher = _state(request, "notify_dispatcher")
    if not isinstance(dispatcher, Dispatcher):
        return {}
    return dispatcher.stats()


@router.get("/stream")
async def stream(request: Request) -> StreamingResponse:
    """Alert events as server-sent events (``event:`` is the kind, ``data:`` the JSON)."""
    sse = _state(request, "sse")
    if not isinstance(sse, SseBroadcaster):
        raise HTTPException(503, "the alert stream is not running")
    subscription = sse.subscribe(visible_sites(request))

    async def events() -> AsyncIterator[str]:
        yield ": connected\n\n"
        async with subscription:
            while True:
                try:
                    message = await asyncio.wait_for(subscription.get(), SSE_KEEPALIVE_S)
                except TimeoutError:
                    if not await asyncio.to_thread(still_signed_in, request):
                        return
                    yield ": keepalive\n\n"
                    continue
                yield message.frame()

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/{alert_id}", response_model=AlertDetail)
def get_alert(request: Request, alert_id: int) -> AlertDetail:
    """One alert with its full history."""
    result: AlertDetail = _call(_service(request).get, alert_id)
    return result


@router.post("/{alert_id}/acknowledge", response_model=AlertPublic)
def acknowledge(request: Request, alert_id: int, body: AcknowledgeBody) -> AlertPublic:
    result: AlertPublic = _call(
        _service(request).acknowledge, alert_id, _actor(request, body.actor), body.note
    )
    return result


@router.post("/{alert_id}/assign", response_model=AlertPublic)
def assign(request: Request, alert_id: int, body: AssignBody) -> AlertPublic:
    result: AlertPublic = _call(
        _service(request).assign, alert_id, body.assignee, _actor(request, body.actor)
    )
    return result


@router.post("/{alert_id}/resolve", response_model=AlertPublic)
def resolve(request: Request, alert_id: int, body: ResolveBody) -> AlertPublic:
    result: AlertPublic = _call(
        _service(request).resolve, alert_id, _actor(request, body.actor), body.note
    )
    return result


@router.post("/{alert_id}/silence", response_model=AlertPublic)
def silence(request: Request, alert_id: int, body: SilenceBody) -> AlertPublic:
    result: AlertPublic = _call(
        _service(request).silence,
        alert_id,
        _actor(request, body.actor),
        timedelta(seconds=body.duration_s),
        body.reason,
    )
    audit = getattr(request.app.state, "audit", None)
    if audit is not None:
        # Besides the call record: silencing a safety alert always names its alert and reason.
        audit.append(
            "alert.silenced",
            actor=_actor(request, None),
            detail={
                "alert": alert_id,
                "site": result.site,
                "rule": result.rule,
                "duration_s": body.duration_s,
                "reason": body.reason,
            },
        )
    return result


@router.post("/{alert_id}/notes", response_model=AlertPublic)
def add_note(request: Request, alert_id: int, body: NoteBody) -> AlertPublic:
    result: AlertPublic = _call(
        _service(request).add_note, alert_id, _actor(request, body.actor), body.text
    )
    return result
