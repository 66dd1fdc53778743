"""The web UI: pages, static assets from the package, page data and a live event stream.

Include :data:`router` in the server app (``app.include_router(router)``). Its lifespan, nested
in the app's, creates a :class:`~dashboards.LiveHub`, registers it on ``app.state.sinks`` and
puts it on ``app.state.live``.

| path | |
|---|---|
| ``GET /`` | redirect to ``/ui/`` |
| ``GET /ui/``, ``/ui/{page}`` | the pages (see :data:`PAGES`) |
| ``GET /static/{path}`` | JavaScript, CSS, vendored ECharts |
| ``GET /ui/api/overview`` | every site's summary |
| ``GET /ui/api/sites/{site}/live`` | rooms by floor with live occupancy, devices, gateways |
| ``GET /ui/api/stream?site=`` | server-sent events ``room``, ``device``, ``gateway``, ``resync`` |
| ``GET /ui/api/me`` | the signed-in user (the demo user until access control exists) |
| ``GET /ui/api/checklists`` | checklist items of each manual inspection record, zh / en |
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import APIRouter, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from pydantic import BaseModel

from dashboards._live import LiveHub
from dashboards._views import OverviewView, SiteView, overview, site_view
from protocol import ID_PATTERN, Clock

if TYPE_CHECKING:
    # Types only: ingest_server includes this package's router, so no import at run time.
    from ingest_server import IngestService

__all__ = ["PAGES", "router"]

log = logging.getLogger(__name__)

PAGES = ("overview", "site", "alerts", "utilization", "compliance", "inspections", "signin")
# Pages that draw charts load ECharts (1.1 MB); the others do without it.
CHART_PAGES = frozenset({"site", "utilization"})
_ECHARTS = '<script src="/static/vendor/echarts.min.js"></script>'

_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
}
# Proxies and browsers drop an idle stream after 30–60 s; a comment every 15 s keeps it open
# and lets the server notice a client that went away.
HEARTBEAT_S = 15.0
# A browser reconnects this long after losing the stream: back within seconds of a server
# restart, without a burst of reconnects from every open page.
RETRY_MS = 2000

SiteId = Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    hub = LiveHub({s.id: s.timezone for s in app.state.registry.snapshot().sites})
    app.state.live = hub
    app.state.sinks.add(hub)
    try:
        yield
    finally:
        app.state.sinks.remove(hub)
        hub.close()


router = APIRouter(lifespan=_lifespan, include_in_schema=True, tags=["dashboards"])


# Room for every asset the package ships (about 20) plus misses for unknown paths.
@functools.lru_cache(maxsize=64)
def _asset(path: str) -> tuple[bytes, str] | None:
    """An asset's bytes and ETag; package data does not change while the server runs."""
    parts = path.split("/")
    if not path or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        return None
    node = resources.files("dashboards").joinpath("static")
    for part in parts:
        node = node.joinpath(part)
    if not node.is_file():
        return None
    data = node.read_bytes()
    return data, '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def _shell(page: str) -> str:
    found = _asset("page.html")
    assert found is not None, "dashboards/static/page.html is missing from the package"
    return (
        found[0]
        .decode("utf-8")
        .replace("{{page}}", page)
        .replace("{{charts}}", _ECHARTS if page in CHART_PAGES else "")
    )


@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui/", include_in_schema=False, response_class=HTMLResponse)
def overview_page() -> HTMLResponse:
    return HTMLResponse(_shell("overview"))


@router.get("/ui/{page}", include_in_schema=False, response_class=HTMLResponse)
def page(page: str) -> HTMLResponse:
    if page not in PAGES:
        raise HTTPException(404, f"no page {page!r}")
    return HTMLResponse(_shell(page))


@router.get("/static/{path:path}", include_in_schema=False)
def static(path: str, request: Request) -> Response:
    suffix = path[path.rfind(".") :] if "." in path else ""
    kind = _TYPES.get(suffix)
    found = _asset(path) if kind is not None else None
    if found is None or kind is None:
        raise HTTPException(404, f"no asset {path!r}")
    data, etag = found
    # Revalidate every time (an upgrade must show at once) but send the body only when changed.
    headers = {"Cache-Control": "no-cache", "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=kind, headers=headers)


def _parts(request: Request) -> tuple[IngestService, LiveHub, Clock]:
    state = request.app.state
    return state.service, state.live, state.clock


@router.get("/ui/api/overview", summary="Every site: occupancy, capacity, devices, compliance")
def api_overview(request: Request) -> OverviewView:
    service, hub, clock = _parts(request)
    return overview(service, hub, service.registry.snapshot().sites, clock.now())


@router.get("/ui/api/sites/{site_id}/live", summary="A site's rooms with live state")
def api_site(request: Request, site_id: SiteId) -> SiteView:
    service, hub, clock = _parts(request)
    site = service.registry.snapshot().site(site_id)
    if site is None:
        raise HTTPException(404, f"site {site_id!r} does not exist")
    return site_view(service, hub, site, clock.now())


class User(BaseModel):
    """Who is signed in. Roles follow the access-control design: operator, manager, inspector,
    admin."""

    id: str
    name: str
    roles: list[Literal["operator", "manager", "inspector", "admin"]]
    demo: bool


DEMO_USER = User(
    id="demo", name="演示用户 Demo", roles=["operator", "manager", "inspector", "admin"], demo=True
)


@router.get("/ui/api/me", summary="The signed-in user (the demo user until access control)")
def api_me() -> User:
    return DEMO_USER


class ChecklistItem(BaseModel):
    """One item a manual inspection record may carry."""

    item: str
    zh: str
    en: str


@router.get(
    "/ui/api/checklists",
    summary="Checklist items of each manual record type (patrol, periodic check, ...), zh / en",
)
def api_checklists() -> dict[str, list[ChecklistItem]]:
    # Imported here: ingest_server includes this router, so a module-level import would cycle.
    from ingest_server.inspection_log import CHECKLISTS

    return {
        str(category): [ChecklistItem(item=k, zh=zh, en=en) for k, (zh, en) in items.items()]
        for category, items in CHECKLISTS.items()
    }


@router.get("/ui/api/stream", summary="Server-sent events: room, device, gateway, resync")
async def api_stream(
    request: Request,
    site: Annotated[str | None, Query(pattern=ID_PATTERN, max_length=64)] = None,
) -> StreamingResponse:
    hub: LiveHub = request.app.state.live
    sub = hub.subscribe(site, asyncio.get_running_loop())

    async def events() -> AsyncIterator[str]:
        try:
            yield f"retry: {RETRY_MS}\n: connected\n\n"
            while True:
                try:
                    event = await asyncio.wait_for(sub.queue.get(), HEARTBEAT_S)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield ": keep-alive\n\n"
                    continue
                if event is None:
                    return
                if sub.overflowed:
                    sub.overflowed = False
                    yield "event: resync\ndata: {}\n\n"
                yield event.encode()
        finally:
            hub.unsubscribe(sub)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
