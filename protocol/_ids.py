"""Identifiers that may appear in topics and payloads."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import StringConstraints

# Letters, digits, '_' and '-', starting with a letter or digit: safe in MQTT topics (no '/',
# '+', '#', '$'), in file names, in InfluxDB tags and in URLs without escaping.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"
# Long enough for "site-district-street-centre" style names and ULIDs, short enough that a
# topic stays far below MQTT's 65,535-byte limit and an index stays small.
MAX_ID_LENGTH = 64

_ID_RE = re.compile(ID_PATTERN)

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN, min_length=1, max_length=MAX_ID_LENGTH)]


def is_valid_id(value: str) -> bool:
    """Tell whether ``value`` is a safe identifier."""
    return 0 < len(value) <= MAX_ID_LENGTH and _ID_RE.fullmatch(value) is not None
