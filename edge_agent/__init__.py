"""Edge agent for Raspberry Pi-class gateways: drivers, local safety, outbox, MQTT session."""

__all__: list[str] = []
