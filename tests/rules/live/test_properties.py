"""Properties over arbitrary event sequences: restarts change nothing; door timing is exact."""

from __future__ import annotations

from datetime import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import DoorRole, DoorState, GatewayState, SmokeState
from rules.live import Decision, EngineSnapshot, LiveEngine
from tests.rules.live.factories import at, count, door, engine, flow, smoke, status

# One event: (seconds since the previous one, what happens).
_EVENTS = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=90),
        st.sampled_from(
            [
                "door1_open",
                "door1_closed",
                "door2_open",
                "door2_closed",
                "alarm",
                "normal",
                "test",
                "enter",
                "leave",
                "empty",
                "offline",
                "online",
                "tick",
            ]
        ),
    ),
    max_size=40,
)


def _feed(e: LiveEngine, what: str, t: datetime) -> list[Decision]:
    match what:
        case "door1_open" | "door1_closed":
            state = DoorState.OPEN if what.endswith("open") else DoorState.CLOSED
            return e.on_reading(door("door1", state, t), t)
        case "door2_open" | "door2_closed":
            state = DoorState.OPEN if what.endswith("open") else DoorState.CLOSED
            return e.on_reading(door("door2", state, t, DoorRole.FIRE_DOOR_HOLD_OPEN), t)
        case "alarm" | "normal" | "test":
            return e.on_reading(smoke("smk1", SmokeState(what), t), t)
        case "enter":
            return e.on_reading(flow("cnt1", 4, 0, t), t)
        case "leave":
            return e.on_reading(flow("cnt1", 0, 3, t), t)
        case "empty":
            return e.on_reading(count("pres2", 0, t), t)
        case "offline" | "online":
            return e.on_status(status(GatewayState(what)), t)
    return e.tick(t)


@settings(max_examples=60, deadline=None)
@given(events=_EVENTS, cut=st.integers(min_value=0, max_value=40))
def test_a_restart_anywhere_changes_no_decision(events: list[tuple[int, str]], cut: int) -> None:
    whole, split = engine(), engine()
    t = 0
    got_whole: list[Decision] = []
    got_split: list[Decision] = []
    for i, (gap, what) in enumerate(events):
        t += gap
        if i == cut:
            stored = split.snapshot(at(t)).model_dump_json()
            split = engine()
            split.restore(EngineSnapshot.model_validate_json(stored), at(t))
        got_whole += _feed(whole, what, at(t))
        got_split += _feed(split, what, at(t))
    got_whole += whole.tick(at(t + 600))
    got_split += split.tick(at(t + 600))
    assert got_split == got_whole


@settings(max_examples=80, deadline=None)
@given(gaps=st.lists(st.integers(min_value=1, max_value=120), min_size=1, max_size=20))
def test_held_open_fires_exactly_when_a_tick_sees_the_door_open_60_s(gaps: list[int]) -> None:
    e = engine()
    t, is_open, fired, expected = 0, False, 0, 0
    for gap in gaps:
        fired += sum(
            d.change.value == "fired" for d in e.tick(at(t + gap - 1)) if d.rule == "door.held_open"
        )
        if is_open and gap > 60:  # the tick one second before closing saw >= 60 s
            expected += 1
        t += gap
        is_open = not is_open
        state = DoorState.OPEN if is_open else DoorState.CLOSED
        fired += sum(
            d.change.value == "fired"
            for d in e.on_reading(door("door1", state, at(t)), at(t))
            if d.rule == "door.held_open"
        )
    assert fired == expected
