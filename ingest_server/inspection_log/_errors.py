"""Errors of the inspection log.

::

    InspectionLogError
    ├── InvalidRecord          a record refused at the boundary; ``.field`` names the culprit
    ├── ChainConflict          concurrent appends kept colliding on the same seq
    ├── SignatureError         a signed head that is malformed, forged or signed by another key
    ├── ExportError            an export that cannot be produced
    │   └── FontMissing        no CJK TrueType font for PDF output
    └── BadExportFile          a JSON export file that cannot be read for verification
"""

from __future__ import annotations

__all__ = [
    "BadExportFile",
    "ChainConflict",
    "ExportError",
    "FontMissing",
    "InspectionLogError",
    "InvalidRecord",
    "SignatureError",
]


class InspectionLogError(Exception):
    """Base of every inspection-log error."""


class InvalidRecord(InspectionLogError, ValueError):
    """A record refused at the boundary. ``field`` is the dotted path of the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ChainConflict(InspectionLogError):
    """Another writer appended to the same site concurrently, more times than we retry."""


class SignatureError(InspectionLogError):
    """A signed head digest that does not verify."""


class ExportError(InspectionLogError):
    """An export that cannot be produced."""


class FontMissing(ExportError):
    """No CJK TrueType font was found for PDF output."""


class BadExportFile(InspectionLogError):
    """A JSON export that is not an inspection-log export."""
