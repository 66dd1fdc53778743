"""The pure domain: facility model, rules, utilization metrics and norms as data. No I/O."""

__all__: list[str] = []
