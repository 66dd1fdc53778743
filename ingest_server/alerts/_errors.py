"""Errors of the alert lifecycle, mapped to HTTP statuses by the router.

::

    AlertError
     ├── AlertNotFound      no alert with that id (404)
     ├── InvalidAction      the action does not fit the alert's state (409)
     └── InvalidInput       the action's input is refused: empty note, silence too long (422)
"""

from __future__ import annotations

__all__ = ["AlertError", "AlertNotFound", "InvalidAction", "InvalidInput"]


class AlertError(Exception):
    """Base of the alert lifecycle's errors."""


class AlertNotFound(AlertError):
    def __init__(self, alert_id: int) -> None:
        super().__init__(f"no alert {alert_id}")
        self.alert_id = alert_id


class InvalidAction(AlertError):
    """An operator action that the alert's current state does not allow."""


class InvalidInput(AlertError):
    """An operator action with input the lifecycle refuses."""
