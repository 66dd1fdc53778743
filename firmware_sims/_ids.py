"""Reading ids: stable, unique, safe (protocol.ID_PATTERN) and at most 64 characters."""

from __future__ import annotations

import hashlib
from datetime import datetime

from protocol import MAX_ID_LENGTH

__all__ = ["ReadingIds"]

# A device id longer than this is shortened to a prefix plus a digest, leaving room for the
# time and sequence parts (at most 8 + 1 + 14 characters) within MAX_ID_LENGTH.
_PREFIX_MAX = MAX_ID_LENGTH - 24
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _b36(value: int) -> str:
    if value == 0:
        return "0"
    out = []
    while value:
        value, rem = divmod(value, 36)
        out.append(_DIGITS[rem])
    return "".join(reversed(out))


class ReadingIds:
    """Ids for one device's readings: ``{device}-{epoch seconds}-{sequence}``, base 36.

    The time part keeps ids of two runs of the same seeded fleet apart (a server that stored the
    first run would otherwise drop the second as replays); the sequence keeps two readings of the
    same second apart. A stepped clock with a fixed start gives the very same ids every run.
    """

    __slots__ = ("_last_s", "_last_text", "_prefix", "_seq")

    def __init__(self, device: str) -> None:
        if len(device) > _PREFIX_MAX:
            digest = hashlib.blake2b(device.encode(), digest_size=6).hexdigest()
            device = f"{device[: _PREFIX_MAX - 13]}-{digest}"
        self._prefix = device
        self._seq = 0
        self._last_s = -1
        self._last_text = ""

    def next(self, ts: datetime) -> str:
        self._seq += 1
        seconds = max(0, int(ts.timestamp()))
        if seconds != self._last_s:
            self._last_s, self._last_text = seconds, _b36(seconds)
        return f"{self._prefix}-{self._last_text}-{_b36(self._seq)}"
