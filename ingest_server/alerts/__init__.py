"""The alert lifecycle: one alert per (rule, subject), pending → firing → acknowledged →
resolved, persisted in ``alert_*`` tables; the pipeline from readings to alerts; rule pack
loading; scheduler jobs. The HTTP router is ``ingest_server.alerts.api.router``.

Errors::

    AlertError
     ├── AlertNotFound
     ├── InvalidAction
     └── InvalidInput
"""

from ingest_server.alerts._errors import AlertError, AlertNotFound, InvalidAction, InvalidInput
from ingest_server.alerts._jobs import (
    add_alert_jobs,
    reload_packs_job,
    remind_job,
    snapshot_job,
    tick_job,
)
from ingest_server.alerts._models import (
    ACTIVE_STATES,
    AlertDetail,
    AlertEvent,
    AlertPublic,
    AlertState,
    EventKind,
    TransitionPublic,
)
from ingest_server.alerts._packs import DEFAULT_PACK_DIR, PackLoader, PackReport, check_packs
from ingest_server.alerts._pipeline import AlertPipeline, Reminder
from ingest_server.alerts._service import ENGINE_ACTOR, AlertService
from ingest_server.alerts._tables import AlertRow, EngineSnapshotRow, SilenceRow, TransitionRow

__all__ = [
    "ACTIVE_STATES",
    "DEFAULT_PACK_DIR",
    "ENGINE_ACTOR",
    "AlertDetail",
    "AlertError",
    "AlertEvent",
    "AlertNotFound",
    "AlertPipeline",
    "AlertPublic",
    "AlertRow",
    "AlertService",
    "AlertState",
    "EngineSnapshotRow",
    "EventKind",
    "InvalidAction",
    "InvalidInput",
    "PackLoader",
    "PackReport",
    "Reminder",
    "SilenceRow",
    "TransitionPublic",
    "TransitionRow",
    "add_alert_jobs",
    "check_packs",
    "reload_packs_job",
    "remind_job",
    "snapshot_job",
    "tick_job",
]
