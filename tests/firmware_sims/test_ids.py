from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from firmware_sims._ids import ReadingIds
from protocol import MAX_ID_LENGTH, is_valid_id

T0 = datetime(2026, 1, 5, tzinfo=UTC)

ids = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")


@given(device=ids, count=st.integers(1, 50), seconds=st.integers(0, 10**9))
def test_reading_ids_are_safe_short_and_unique(device: str, count: int, seconds: int) -> None:
    gen = ReadingIds(device)
    made = [gen.next(T0 + timedelta(seconds=seconds)) for _ in range(count)]
    assert len(set(made)) == count
    assert all(is_valid_id(i) and len(i) <= MAX_ID_LENGTH for i in made)


def test_long_device_ids_stay_apart_after_shortening() -> None:
    a, b = "x" * 63 + "a", "x" * 63 + "b"
    assert ReadingIds(a).next(T0) != ReadingIds(b).next(T0)


def test_ids_of_the_same_device_at_another_time_differ() -> None:
    # A second run of the same seeded fleet from a later start must not look like a replay.
    assert ReadingIds("smk-1").next(T0) != ReadingIds("smk-1").next(T0 + timedelta(days=1))
