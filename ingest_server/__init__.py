"""Ingest server: MQTT consumer, stores, alerts and notifiers, scheduler, HTTP API."""

__all__: list[str] = []
