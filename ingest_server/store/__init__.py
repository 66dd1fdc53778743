"""Time-series stores: the :class:`TimeSeriesStore` port and its SQLite and InfluxDB adapters."""

from ingest_server.store._influx import MEASUREMENTS, InfluxStore, to_line
from ingest_server.store._port import MAX_SERIES_LIMIT, TimeSeriesStore
from ingest_server.store._sqlite import SqliteStore

__all__ = [
    "MAX_SERIES_LIMIT",
    "MEASUREMENTS",
    "InfluxStore",
    "SqliteStore",
    "TimeSeriesStore",
    "to_line",
]
