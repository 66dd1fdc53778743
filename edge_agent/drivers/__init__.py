"""Built-in drivers, named in a gateway config by dotted path:

- ``edge_agent.drivers.zigbee2mqtt:Zigbee2MqttDriver``
- ``edge_agent.drivers.gpio:GpioDriver``
"""

__all__: list[str] = []
