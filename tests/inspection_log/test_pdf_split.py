"""The PDF writer encodes text with the font's codes itself once a document has met every
character of it; whatever the text (ASCII, CJK beyond one 256-glyph subset, no-break spaces,
characters the font lacks), the runs are reportlab's ``splitString``'s, call after call."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest_server.inspection_log import CjkFont
from ingest_server.inspection_log._pdfwriter import StreamingPdf

_CHARS = st.one_of(
    st.characters(min_codepoint=32, max_codepoint=126),
    st.characters(min_codepoint=0x4E00, max_codepoint=0x4FFF),  # more than one subset
    st.sampled_from(["\xa0", "，", "（", "—", "…", "\x00", "\u0301", "\U0001f525", "\ufffe"]),
)


@settings(max_examples=60, deadline=None)
@given(texts=st.lists(st.text(_CHARS, max_size=40), min_size=1, max_size=30))
def test_runs_equal_reportlabs(font: CjkFont, texts: list[str]) -> None:
    ours, theirs = StreamingPdf(font, "a"), StreamingPdf(font, "b")
    # Twice: the second pass meets only known characters.
    for text in texts + texts:
        assert ours.split(text) == font.tt.splitString(text, theirs)
    assert font.tt.state[ours].subsets == font.tt.state[theirs].subsets


def test_runs_across_several_subsets(font: CjkFont) -> None:
    texts = ["".join(chr(c) for c in range(0x4E00 + 40 * i, 0x4E28 + 40 * i)) for i in range(15)]
    texts = [f"{t[:20]} seq 12，{t[20:]}" for t in texts]
    ours, theirs = StreamingPdf(font, "a"), StreamingPdf(font, "b")
    for text in texts + texts[::-1]:
        assert ours.split(text) == font.tt.splitString(text, theirs)
    assert len(font.tt.state[ours].subsets) >= 3
    assert any(len(ours.split(t)) > 1 for t in texts)
