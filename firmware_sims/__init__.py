"""Simulated devices, day profiles, scenarios, fleet runner and the accelerated clock."""

__all__: list[str] = []
