"""The web UI served by the server, and Grafana dashboards for InfluxDB users."""

__all__: list[str] = []
