"""Counters and gauges of the ingest path, rendered in the Prometheus text format."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping

__all__ = ["Metrics"]

# Store write latency buckets (seconds): an fsync'd SQLite commit takes 1–20 ms here; a spool
# write under load up to ~100 ms; anything above a second is an incident.
_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class Metrics:
    """Thread-safe counters; the consumer thread increments, /metrics reads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: Counter[str] = Counter()
        self._dead: Counter[str] = Counter()
        self._hist = [0] * (len(_BUCKETS) + 1)
        self._hist_sum = 0.0
        self._hist_count = 0

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counters[name] += n

    def dead_letter(self, reason: str) -> None:
        with self._lock:
            self._dead[reason] += 1

    def observe_write(self, seconds: float) -> None:
        with self._lock:
            for i, bound in enumerate(_BUCKETS):
                if seconds <= bound:
                    self._hist[i] += 1
                    break
            else:
                self._hist[-1] += 1
            self._hist_sum += seconds
            self._hist_count += 1

    def get(self, name: str) -> int:
        with self._lock:
            return self._counters[name]

    def dead_letters(self) -> dict[str, int]:
        with self._lock:
            return dict(self._dead)

    def render(self, gauges: Mapping[str, float]) -> str:
        """The Prometheus text exposition of every counter plus ``gauges``."""
        help_text = {
            "messages": "MQTT messages received on subscribed topics",
            "ignored": "MQTT messages on topics the server did not subscribe to",
            "readings": "readings decoded from messages",
            "stored": "readings stored (new)",
            "duplicates": "readings dropped as already stored (redelivery, replay)",
            "statuses": "gateway status messages recorded",
            "unknown_device": "readings stored from devices the registry does not know",
            "write_errors": "failed write attempts (retried, messages not acked)",
            "sink_errors": "exceptions raised by reading sinks",
        }
        out: list[str] = []
        with self._lock:
            for key, text in help_text.items():
                name = f"linli_ingest_{key}_total"
                out += [f"# HELP {name} {text}", f"# TYPE {name} counter"]
                out.append(f"{name} {self._counters[key]}")
            name = "linli_ingest_dead_letters_total"
            out += [f"# HELP {name} messages dead-lettered, by reason", f"# TYPE {name} counter"]
            out += [f'{name}{{reason="{r}"}} {n}' for r, n in sorted(self._dead.items())]
            if not self._dead:
                out.append(f"{name} 0")
            name = "linli_ingest_store_write_seconds"
            out += [f"# HELP {name} durable write latency per batch", f"# TYPE {name} histogram"]
            cumulative = 0
            for bound, n in zip(_BUCKETS, self._hist, strict=False):
                cumulative += n
                out.append(f'{name}_bucket{{le="{bound}"}} {cumulative}')
            out.append(f'{name}_bucket{{le="+Inf"}} {self._hist_count}')
            out.append(f"{name}_sum {self._hist_sum:.6f}")
            out.append(f"{name}_count {self._hist_count}")
        for gname, value in sorted(gauges.items()):
            out += [f"# TYPE {gname} gauge", f"{gname} {value:g}"]
        return "\n".join(out) + "\n"
