"""The web UI served by the server, and Grafana dashboards for InfluxDB users.

Include :data:`router` in the server app; it serves the pages, the static assets (vendored
ECharts included, no CDN), page data and a server-sent event stream fed by :class:`LiveHub`, a
reading sink its lifespan registers. Errors are HTTP errors (404 for an unknown page, asset or
site); the package has no exception hierarchy of its own.
"""

from dashboards._live import LiveEvent, LiveHub, RoomLive
from dashboards.web import PAGES, router

__all__ = ["PAGES", "LiveEvent", "LiveHub", "RoomLive", "router"]
