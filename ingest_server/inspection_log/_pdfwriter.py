"""A streaming PDF writer with an embedded CJK TrueType font, for exports of any length.

reportlab's canvas keeps every page until it saves, so a 100,000-entry export would grow with
its length. This writer emits each page's content stream as soon as the page is finished and
writes the shared objects (font subsets, resources, page tree, cross-reference table) at the end;
what it keeps meanwhile is two integers per page. Fonts are reportlab's TrueType parser and
subsetter (subsets of 256 glyphs, as reportlab embeds them), so the glyphs actually used are
embedded and text extracts through ToUnicode maps.
"""

from __future__ import annotations

import functools
import re
import threading
import zlib
from array import array
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reportlab.pdfbase.ttfonts import (  # type: ignore[import-untyped]
    SUBSETN,
    TTFont,
    makeToUnicodeCMap,
)

from ingest_server.inspection_log._errors import FontMissing

__all__ = [
    "CJK_FONT_CANDIDATES",
    "CjkFont",
    "PageCanvas",
    "StreamingPdf",
    "find_cjk_font",
    "load_font",
]

# TrueType (glyf) CJK fonts that Debian ships; CFF-flavoured OpenType (Noto CJK) cannot be
# subset by reportlab, so it is not listed.
CJK_FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/truetype/arphic/uming.ttc"),
)

A4_LANDSCAPE = (841.89, 595.28)
# Objects per chunk of the page tree and xref table written at the end (~20 KB each).
_XREF_CHUNK = 1000


def find_cjk_font(configured: Path | None = None) -> Path:
    """The CJK TrueType font to embed: ``configured`` if given, else the first Debian one found."""
    if configured is not None:
        if not configured.is_file():
            raise FontMissing(f"the configured CJK font {configured} does not exist")
        return configured
    for candidate in CJK_FONT_CANDIDATES:
        if candidate.is_file():
            return candidate
    raise FontMissing(
        "no CJK TrueType font found for PDF export: install Debian's fonts-wqy-microhei "
        "(apt-get install fonts-wqy-microhei) or set LINLI_INSPECTION_CJK_FONT to a .ttf/.ttc"
    )


class CjkFont:
    """A parsed TrueType font; parsing takes seconds, so instances are cached per path."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.tt = TTFont("LinliCJK", str(path), subfontIndex=0, asciiReadable=True)
        except Exception as exc:  # reportlab raises TTFError and plain errors alike
            raise FontMissing(f"{path} is not a usable TrueType font: {exc}") from exc
        self._widths: dict[str, float] = {}
        # reportlab's subsetter moves a read position shared by every user of the parsed font;
        # subsetting (at the end of each PDF) is done under this lock.
        self.lock = threading.Lock()

    def _units(self, text: str) -> list[float]:
        widths = self._widths
        try:
            return list(map(widths.__getitem__, text))
        except KeyError:
            for ch in text:
                if ch not in widths:
                    widths[ch] = float(self.tt.stringWidth(ch, 1000))
            return list(map(widths.__getitem__, text))

    def width(self, text: str, size: float) -> float:
        """Advance width of ``text`` at ``size`` points (cached per character)."""
        return sum(self._units(text)) * size / 1000.0

    def wrap(self, text: str, size: float, width: float, max_lines: int) -> list[str]:
        """Greedy wrap by character (CJK has no spaces); the last line ends with … if cut."""
        limit = width * 1000.0 / size
        if "\n" not in text and sum(self._units(text)) <= limit:
            return [text]
        lines: list[str] = []
        for paragraph in text.splitlines() or [""]:
            start = 0
            used = 0.0
            for i, w in enumerate(self._units(paragraph)):
                if i > start and used + w > limit:
                    lines.append(paragraph[start:i])
                    start, used = i, 0.0
                used += w
            lines.append(paragraph[start:])
        if len(lines) > max_lines:
            lines = lines[:max_lines]
            lines[-1] = lines[-1][:-1] + "…"
        return lines


@functools.lru_cache(maxsize=4)
def load_font(path: Path) -> CjkFont:
    """A :class:`CjkFont`, parsed once per process and path."""
    return CjkFont(path)


class PageCanvas:
    """Drawing operations of one page (origin bottom-left, points)."""

    def __init__(self, pdf: StreamingPdf) -> None:
        self._pdf = pdf
        self._ops: list[str] = []

    def text(self, x: float, y: float, value: str, size: float = 9, gray: float = 0.0) -> None:
        if not value:
            return
        head = f"BT {gray:.2f} g 1 0 0 1 {x:.2f} {y:.2f} Tm"
        runs = self._pdf.split(value)
        if len(runs) == 1:
            subset, chunk = runs[0]
            self._ops.append(f"{head} /F{subset} {size:.1f} Tf <{chunk.hex()}> Tj ET")
            return
        parts = [head]
        for subset, chunk in runs:
            parts.append(f"/F{subset} {size:.1f} Tf <{chunk.hex()}> Tj")
        parts.append("ET")
        self._ops.append(" ".join(parts))

    def text_right(self, x: float, y: float, value: str, size: float = 9) -> None:
        self.text(x - self._pdf.font.width(value, size), y, value, size)

    def line(self, x1: float, y1: float, x2: float, y2: float, width: float = 0.5) -> None:
        self._ops.append(f"{width:.2f} w {x1:.2f} {y1:.2f} m {x2:.2f} {y2:.2f} l S")

    def rect(self, x: float, y: float, w: float, h: float, gray: float = 0.9) -> None:
        self._ops.append(f"{gray:.2f} g {x:.2f} {y:.2f} {w:.2f} {h:.2f} re f 0 g")

    def content(self) -> bytes:
        return "\n".join(self._ops).encode("latin-1")


class StreamingPdf:
    """Yields a PDF in chunks: :meth:`start`, then :meth:`page` per page, then :meth:`finish`."""

    def __init__(self, font: CjkFont, title: str, page_size: tuple[float, float] = A4_LANDSCAPE):
        self.font = font
        self.title = title
        self.width, self.height = page_size
        # Byte offset per object number, and the page objects: 8 bytes per object in arrays, so
        # a 3,000-page export keeps ~70 KB of bookkeeping and nothing else.
        self._offsets = array("q", [0] * 5)
        self._pos = 0
        self._next_obj = 5  # 1 catalog, 2 page tree, 3 resources, 4 info
        self._pages = array("q")
        # The font's code of each character this document has used (``str.translate`` tables):
        # what reportlab's splitString assigns, so that known text is encoded without it.
        self._codes: dict[int, int] = {}
        self._known: dict[int, None] = {}
        self._runs: re.Pattern[str] | None = None
        self._subsets = 0

    def split(self, value: str) -> list[tuple[int, bytes]]:
        """``font.tt.splitString(value, self)``: (subset, codes) runs of ``value``, assigning
        codes to characters not seen before in this document."""
        if not value or value.translate(self._known):
            return self._split_new(value)
        codes = value.translate(self._codes)
        if max(codes) < "\u0100":
            return [(0, codes.encode("latin-1"))]
        if self._runs is None:
            self._runs = re.compile(
                "|".join(f"[{chr(n << 8)}-{chr((n << 8) | 0xFF)}]+" for n in range(self._subsets))
            )
        return [
            (ord(run[0]) >> 8, run.encode("utf-16-be")[1::2]) for run in self._runs.findall(codes)
        ]

    def _split_new(self, value: str) -> list[tuple[int, bytes]]:
        tt: Any = self.font.tt
        result: list[tuple[int, bytes]] = tt.splitString(value, self)
        state = tt.state[self]
        glyphs = tt.face.charToGlyph
        for ch in set(value):
            code = 32 if ch == "\xa0" else ord(ch)
            n = state.assignments.get(code, 0 if code not in glyphs else None)
            # Codes that UTF-16 cannot carry alone (surrogates) stay on reportlab's path.
            if n is not None and n < 0xD800:
                self._codes[ord(ch)] = n
                self._known[ord(ch)] = None
        subsets = len(state.subsets)
        if subsets != self._subsets:
            self._subsets, self._runs = subsets, None
        return result

    def _alloc(self) -> int:
        num = self._next_obj
        self._next_obj += 1
        self._offsets.append(0)
        return num

    def _obj(self, num: int, body: bytes) -> bytes:
        self._offsets[num] = self._pos
        data = b"%d 0 obj\n" % num + body + b"\nendobj\n"
        self._pos += len(data)
        return data

    def _stream(self, num: int, content: bytes, extra: str = "") -> bytes:
        packed = zlib.compress(content, 6)
        head = f"<< /Length {len(packed)} /Filter /FlateDecode {extra}>>\nstream\n".encode()
        return self._obj(num, head + packed + b"\nendstream")

    def start(self) -> bytes:
        data = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
        self._pos += len(data)
        return data

    def canvas(self) -> PageCanvas:
        return PageCanvas(self)

    def page(self, canvas: PageCanvas) -> bytes:
        """Write a finished page."""
        content_num = self._alloc()
        page_num = self._alloc()
        self._pages.append(page_num)
        out = self._stream(content_num, canvas.content())
        out += self._obj(
            page_num,
            (
                f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {self.width:.2f} {self.height:.2f}]"
                f" /Resources 3 0 R /Contents {content_num} 0 R >>"
            ).encode(),
        )
        return out

    def _font_objects(self) -> tuple[bytes, list[tuple[int, int]]]:
        tt: Any = self.font.tt
        face = tt.face
        state = tt.state.get(self)
        subsets: list[list[int]] = state.subsets if state is not None else []
        out = b""
        refs: list[tuple[int, int]] = []
        for n, subset in enumerate(subsets):
            base = (SUBSETN(n) + b"+" + face.name + face.subfontNameX).decode("latin-1")
            file_num, desc_num, cmap_num, font_num = (self._alloc() for _ in range(4))
            with self.font.lock:
                program = face.makeSubset(subset)
            out += self._stream(file_num, program, f"/Length1 {len(program)} ")
            flags = (face.flags & ~32) | 4
            bbox = " ".join(f"{v:.0f}" for v in face.bbox)
            out += self._obj(
                desc_num,
                (
                    f"<< /Type /FontDescriptor /FontName /{base} /Flags {flags}"
                    f" /FontBBox [{bbox}] /ItalicAngle {face.italicAngle}"
                    f" /Ascent {face.ascent:.0f} /Descent {face.descent:.0f}"
                    f" /CapHeight {face.capHeight:.0f} /StemV {face.stemV}"
                    f" /MissingWidth {face.defaultWidth:.0f} /FontFile2 {file_num} 0 R >>"
                ).encode(),
            )
            out += self._stream(cmap_num, makeToUnicodeCMap(base, subset).encode("latin-1"))
            widths = " ".join(f"{face.getCharWidth(code):.0f}" for code in subset)
            out += self._obj(
                font_num,
                (
                    f"<< /Type /Font /Subtype /TrueType /BaseFont /{base} /FirstChar 0"
                    f" /LastChar {len(subset) - 1} /Widths [{widths}]"
                    f" /FontDescriptor {desc_num} 0 R /ToUnicode {cmap_num} 0 R >>"
                ).encode(),
            )
            refs.append((n, font_num))
        if state is not None:
            del tt.state[self]
        return out, refs

    def finish(self, creation: datetime | None) -> Iterator[bytes]:
        """Font subsets, resources, page tree, catalog, info, xref and trailer, in chunks."""
        out, refs = self._font_objects()
        fonts = " ".join(f"/F{n} {num} 0 R" for n, num in refs)
        out += self._obj(3, f"<< /Font << {fonts} >> >>".encode())
        yield out
        self._offsets[2] = self._pos
        head = b"2 0 obj\n<< /Type /Pages /Kids ["
        self._pos += len(head)
        yield head
        for lo in range(0, len(self._pages), _XREF_CHUNK):
            kids = "".join(f"{num} 0 R " for num in self._pages[lo : lo + _XREF_CHUNK]).encode()
            self._pos += len(kids)
            yield kids
        tail = f"] /Count {len(self._pages)} >>\nendobj\n".encode()
        self._pos += len(tail)
        out = tail + self._obj(1, b"<< /Type /Catalog /Pages 2 0 R >>")
        title = self.title.encode("utf-16-be").hex()
        when = creation.astimezone(UTC).strftime("D:%Y%m%d%H%M%SZ") if creation else ""
        info = f"<< /Title <feff{title}> /Producer (Linli) /CreationDate ({when}) >>"
        out += self._obj(4, info.encode())
        yield out
        xref_at = self._pos
        count = self._next_obj
        yield f"xref\n0 {count}\n0000000000 65535 f \n".encode()
        for lo in range(1, count, _XREF_CHUNK):
            hi = min(count, lo + _XREF_CHUNK)
            yield "".join(f"{self._offsets[n]:010d} 00000 n \n" for n in range(lo, hi)).encode()
        yield (
            f"trailer\n<< /Size {count} /Root 1 0 R /Info 4 0 R >>\nstartxref\n{xref_at}\n%%EOF\n"
        ).encode()
