"""The live hub as a reading sink: room occupancy, the daily counter reset, fan-out to streams."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from dashboards import LiveHub
from ingest_server import StoredReading, StoredStatus
from protocol import (
    DoorReading,
    DoorRole,
    DoorState,
    GatewayState,
    GatewayStatus,
    OccupancyReading,
    OccupancySource,
)

# 10:00 in Shanghai.
T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def occ(
    rid: str, device: str, ts: datetime, room: str = "r1", site: str = "s1", **kw: int
) -> StoredReading:
    source = OccupancySource.PRESENCE if "count" in kw else OccupancySource.COUNTER
    reading = OccupancyReading(id=rid, device=device, ts=ts, source=source, **kw)
    return StoredReading(reading, site, "gw", room, unknown_device=False)


def test_count_sensors_of_a_room_add_up_and_the_latest_count_wins() -> None:
    hub = LiveHub()
    hub.on_readings([occ("a", "p1", T0, count=3), occ("b", "p2", T0, count=4)], T0)
    hub.on_readings([occ("c", "p1", T0 + timedelta(minutes=1), count=1)], T0)
    state = hub.room("s1", "r1")
    assert state is not None
    assert state.value() == 5
    assert state.is_occupied() is True


def test_counter_rooms_wait_for_a_baseline_then_count_and_reset_at_three() -> None:
    hub = LiveHub({"s1": "Asia/Shanghai"})
    hub.on_readings([occ("a", "c1", T0, entries=5, exits=0)], T0)
    state = hub.room("s1", "r1")
    assert state is not None
    assert state.value() is None, "no baseline yet: unknown, never a guess"
    hub.seed("s1", "r1", {}, 5, date(2026, 11, 23), {}, T0, counter_ids={"a"})
    hub.on_readings([occ("b", "c1", T0 + timedelta(minutes=1), entries=2, exits=1)], T0)
    assert hub.room("s1", "r1").value() == 6  # type: ignore[union-attr]
    hub.on_readings([occ("c", "c1", T0 + timedelta(minutes=2), entries=0, exits=9)], T0)
    assert hub.room("s1", "r1").value() == 0, "never below zero"  # type: ignore[union-attr]
    # 03:30 the next day in Shanghai: a new counting day starts from zero.
    next_day = datetime(2026, 11, 23, 19, 30, tzinfo=UTC)
    hub.on_readings([occ("d", "c1", next_day, entries=2, exits=0)], next_day)
    state = hub.room("s1", "r1")
    assert state is not None
    assert state.value() == 2
    assert state.counter_day == date(2026, 11, 24)


def test_a_reading_in_the_seed_and_handed_over_after_it_counts_once() -> None:
    hub = LiveHub({"s1": "Asia/Shanghai"})
    day = date(2026, 11, 23)
    # "a" was stored, counted by the seed's query, and reaches the sink only after the seed;
    # "b" reached the sink before the seed and was committed after its query.
    hub.on_readings([occ("b", "c1", T0 + timedelta(seconds=2), entries=1, exits=0)], T0)
    hub.seed("s1", "r1", {}, 10, day, {}, T0, counter_ids={"a", "x"})
    assert hub.room("s1", "r1").value() == 11  # type: ignore[union-attr]
    hub.on_readings([occ("a", "c1", T0 + timedelta(seconds=1), entries=4, exits=0)], T0)
    hub.on_readings([occ("b", "c1", T0 + timedelta(seconds=2), entries=1, exits=0)], T0)
    assert hub.room("s1", "r1").value() == 11, "neither counted twice"  # type: ignore[union-attr]
    hub.on_readings([occ("c", "c1", T0 + timedelta(seconds=3), entries=2, exits=0)], T0)
    hub.on_readings([occ("c", "c1", T0 + timedelta(seconds=3), entries=2, exits=0)], T0)
    assert hub.room("s1", "r1").value() == 13, "a redelivery counts once"  # type: ignore[union-attr]


def test_seed_keeps_what_the_hub_learnt_meanwhile() -> None:
    hub = LiveHub()
    hub.on_readings([occ("a", "p1", T0, count=8)], T0)
    hub.seed("s1", "r1", {"p1": 2}, None, None, {}, T0 - timedelta(hours=1))
    assert hub.room("s1", "r1").value() == 8  # type: ignore[union-attr]


async def test_streams_get_their_sites_events_in_order_and_end_on_close() -> None:
    hub = LiveHub()
    loop = asyncio.get_running_loop()
    mine = hub.subscribe("s1", loop)
    everything = hub.subscribe(None, loop)
    door = DoorReading(
        id="d", device="door-1", ts=T0, state=DoorState.OPEN, role=DoorRole.FIRE_DOOR
    )
    status = GatewayStatus(gateway="gw2", state=GatewayState.OFFLINE)
    await asyncio.to_thread(
        hub.on_readings,
        [
            occ("a", "p1", T0, count=3),
            StoredReading(door, "s1", "gw", "r1", False),
            occ("b", "p9", T0, site="s2", count=1),
        ],
        T0,
    )
    await asyncio.to_thread(hub.on_status, [StoredStatus("s2", status, T0)], T0)
    hub.close()
    got_mine = [e async for e in _drain(mine.queue)]
    got_all = [e async for e in _drain(everything.queue)]
    assert [(e.type, e.site) for e in got_mine] == [("device", "s1"), ("room", "s1")]
    assert got_mine[1].data["occupancy"] == 3
    assert got_mine[0].data["fields"]["state"] == "open"
    assert [(e.type, e.site) for e in got_all] == [
        ("device", "s1"),
        ("room", "s1"),
        ("room", "s2"),
        ("gateway", "s2"),
    ]
    assert got_all[3].data["state"] == "offline"
    assert 'event: room\ndata: {"site":"s1"' in got_mine[1].encode()


async def test_a_slow_stream_is_told_to_resync_instead_of_growing() -> None:
    hub = LiveHub()
    sub = hub.subscribe("s1", asyncio.get_running_loop())
    for i in range(1100):
        await asyncio.to_thread(hub.on_readings, [occ(f"r{i}", "p1", T0, count=i % 50)], T0)
    await asyncio.sleep(0)
    assert sub.queue.qsize() == 1000
    assert sub.overflowed


async def _drain(queue: asyncio.Queue):  # type: ignore[no-untyped-def, type-arg]
    while True:
        event = await asyncio.wait_for(queue.get(), 5)
        if event is None:
            return
        yield event
