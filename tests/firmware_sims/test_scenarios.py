from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_sims import (
    BUILTIN_SCENARIOS,
    BrokerRestart,
    Fleet,
    Offline,
    Online,
    Publish,
    Raw,
    ScenarioError,
    UnknownTarget,
    builtin,
    demo_registry,
    generate_registry,
    load_scenario,
    load_scenario_file,
)
from firmware_sims.devices import DoorCounter
from protocol import Channel as Ch
from protocol import (
    DoorReading,
    DoorRole,
    DoorState,
    SmokeReading,
    SmokeState,
    TimestampOutOfBounds,
    channel_topic,
    decode_message,
)
from protocol import ReadingBatch as Batch
from rules import parse_registry
from tests.firmware_sims.conftest import MONDAY_10, SMALL_REGISTRY, readings, run, small_registry

GOOD = """
name: wedge_in_stairwell
title: A fire door wedged open in the stairwell
outcome: door.held_open fires within 90 s.
run_for: 15m
expect:
  - {rule: door.held_open, subject: s1-fd-inf, within: 90s}
steps:
  - {at: 1m, action: prop_door, device: s1-fd-inf, duration: 10m}
  - {at: 1h30m, action: fire, room: din, kind: smouldering}
  - {at: 2d, action: uplink_loss, gateway: s1-gw1, duration: 3600}
  - {action: skew_clock, gateway: s1-gw2, offset: "-5m"}
"""


def test_a_scenario_file_parses_with_durations_in_words() -> None:
    scenario = load_scenario(GOOD, "wedge.yaml")
    assert scenario.name == "wedge_in_stairwell"
    assert [s.at for s in scenario.steps] == [
        timedelta(minutes=1),
        timedelta(hours=1, minutes=30),
        timedelta(days=2),
        timedelta(0),
    ]
    assert scenario.steps[3].offset == timedelta(minutes=-5)  # type: ignore[union-attr]
    assert scenario.expect[0].within == timedelta(seconds=90)
    scenario.check(Fleet(small_registry(), start=MONDAY_10))


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (
            ("action: prop_door", "action: explode"),
            r"wedge\.yaml: steps\[0\]\.action: unknown action 'explode'",
        ),
        (
            ("action: prop_door, device: s1-fd-inf, ", "action: prop_door, "),
            r"wedge\.yaml: steps\[0\]\.device: Field required",
        ),
        (("duration: 10m", "duration: ten minutes"), r"wedge\.yaml: steps\[0\]\.duration"),
        (("kind: smouldering", "kind: arson"), r"wedge\.yaml: steps\[1\]\.kind"),
        (("name: wedge_in_stairwell", "name: wedge in stairwell"), r"wedge\.yaml: name"),
        (
            ("  - {at: 1m, action", "  - {at: 1m, colour: red, action"),
            r"wedge\.yaml: steps\[0\]\.colour",
        ),
        (("title: A", "title: [A"), r"wedge\.yaml:\d+:\d+: not valid YAML"),
    ],
)
def test_an_invalid_scenario_file_names_the_file_and_field(
    edit: tuple[str, str], match: str
) -> None:
    with pytest.raises(ScenarioError, match=match):
        load_scenario(GOOD.replace(*edit), "wedge.yaml")


def test_a_scenario_file_that_is_not_a_mapping_or_missing_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"wedge\.yaml: expected a mapping"):
        load_scenario("- 1\n", "wedge.yaml")
    with pytest.raises(ScenarioError, match=r"nope\.yaml: cannot read"):
        load_scenario_file(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("edit", "error", "match"),
    [
        (
            ("device: s1-fd-inf,", "device: fd-9,"),
            UnknownTarget,
            r"wedge\.yaml: steps\[0\]\.device: the fleet has no device 'fd-9'",
        ),
        (
            ("device: s1-fd-inf,", "device: s1-smk-eld,"),
            ScenarioError,
            r"steps\[0\]\.device: 's1-smk-eld' is a smoke device, not a door contact",
        ),
        (
            ("room: din", "room: gym"),
            UnknownTarget,
            r"steps\[1\]\.room: the fleet has no room 'gym'",
        ),
        (
            ("gateway: s1-gw1", "gateway: gw-x"),
            UnknownTarget,
            r"steps\[2\]\.gateway: the fleet has no gateway 'gw-x'",
        ),
        (
            ("room: din,", "room: din, site: s9,"),
            UnknownTarget,
            r"steps\[1\]\.site: the fleet has no site 's9'",
        ),
    ],
)
def test_a_scenario_naming_what_the_fleet_lacks_says_so(
    edit: tuple[str, str], error: type[Exception], match: str
) -> None:
    scenario = load_scenario(GOOD.replace(*edit), "wedge.yaml")
    fleet = Fleet(small_registry(), start=MONDAY_10)
    with pytest.raises(error, match=match):
        fleet.schedule(scenario)


def test_a_room_in_two_sites_must_name_its_site() -> None:
    text = SMALL_REGISTRY.format(site="a") + SMALL_REGISTRY.format(site="b").replace("sites:\n", "")
    fleet = Fleet(parse_registry(text, "two.yaml"), start=MONDAY_10)
    scenario = load_scenario("name: x\ntitle: x\nsteps:\n  - {action: fire, room: din}\n", "x.yaml")
    with pytest.raises(
        ScenarioError, match=r"x\.yaml: steps\[0\]\.room: 'din' is in several sites \(a, b\)"
    ):
        fleet.schedule(scenario)


def test_builtins_build_for_the_demo_and_generated_fleets_and_name_what_is_missing() -> None:
    for registry in (demo_registry(), generate_registry(2)):
        fleet = Fleet(registry, start=MONDAY_10)
        for name in BUILTIN_SCENARIOS:
            scenario = builtin(name, fleet)
            scenario.check(fleet)
            assert scenario.outcome
            assert scenario.title
            assert name == "normal_week" or scenario.steps
    with pytest.raises(ScenarioError, match="unknown scenario 'tsunami'; built-in: normal_week"):
        builtin("tsunami", Fleet(demo_registry(), start=MONDAY_10))
    no_fire_door = SMALL_REGISTRY.format(site="s1").replace(
        "          - {id: s1-fd-inf, kind: door, room: inf, role: fire_door}\n", ""
    )
    fleet = Fleet(parse_registry(no_fire_door, "r.yaml"), start=MONDAY_10)
    with pytest.raises(UnknownTarget, match="the fleet has no normally-closed fire door"):
        builtin("door_propped_open", fleet)
    with pytest.raises(UnknownTarget, match="no site 'zz'"):
        builtin("fire_drill", fleet, site="zz")


# -- what each built-in does to the world (transport-independent) ------------------------------


def _demo() -> Fleet:
    return Fleet(demo_registry(), start=MONDAY_10, seed=9)


def test_fire_drill_alarms_releases_doors_empties_rooms_and_records_the_evacuation() -> None:
    fleet = _demo()
    scenario = builtin("fire_drill", fleet)
    site = scenario.expect[0].site
    assert site is not None
    fleet.schedule(scenario)
    events = run(fleet, scenario.run_for)
    detector = scenario.expect[0].subject
    alarm = next(
        r
        for r in readings(events, detector)
        if isinstance(r, SmokeReading) and r.state is SmokeState.ALARM
    )
    assert alarm.ts - MONDAY_10 <= timedelta(minutes=2)
    holds = [
        d
        for d in fleet.devices.values()
        if d.site.id == site and getattr(d, "role", None) is DoorRole.FIRE_DOOR_HOLD_OPEN
    ]
    assert holds
    for door in holds:
        closed = next(
            r
            for r in readings(events, door.id)
            if isinstance(r, DoorReading) and r.state is DoorState.CLOSED
        )
        assert closed.ts - alarm.ts <= timedelta(seconds=10)
    [evac] = fleet.evacuations(site)
    assert evac.started == alarm.ts
    assert evac.duration_s is not None
    assert 30 < evac.duration_s < 180
    assert set(evac.rooms) == set(fleet.sites[site].rooms)
    assert max(evac.rooms.values()) == evac.duration_s
    # Everyone comes back once the alarm is over and the re-entry wait has passed.
    run(fleet, timedelta(minutes=30))
    assert sum(r.people for r in fleet.sites[site].rooms.values()) > 10


def test_real_fire_leaves_the_slow_room_occupied_past_180_s() -> None:
    fleet = _demo()
    scenario = builtin("real_fire_slow_room", fleet)
    fleet.schedule(scenario)
    slow = scenario.expect[1].subject
    site = scenario.expect[1].site
    assert slow is not None
    assert site is not None
    run(fleet, timedelta(minutes=1))
    alarm_at = None
    while fleet.now < MONDAY_10 + scenario.run_for:
        run(fleet, timedelta(seconds=10))
        if alarm_at is None and fleet.sites[site].alarm_active:
            alarm_at = fleet.now
        if alarm_at is not None and fleet.now - alarm_at == timedelta(seconds=200):
            assert fleet.sites[site].rooms[slow].people >= 3
    [evac] = fleet.evacuations(site)
    assert alarm_at is not None
    assert evac.duration_s is not None
    assert evac.rooms[slow] == evac.duration_s
    # The three holdouts leave 9 minutes after the scenario starts.
    assert evac.started + timedelta(seconds=evac.duration_s) >= MONDAY_10 + timedelta(minutes=9)


def test_door_propped_open_keeps_the_fire_door_open_for_ten_minutes() -> None:
    fleet = _demo()
    scenario = builtin("door_propped_open", fleet)
    door = scenario.expect[0].subject
    fleet.schedule(scenario)
    events = run(fleet, scenario.run_for)
    states = [(r.ts, r.state) for r in readings(events, door) if isinstance(r, DoorReading)]
    opened = next(ts for ts, s in states if s is DoorState.OPEN)
    assert opened - MONDAY_10 == timedelta(seconds=30)
    closed = next(ts for ts, s in states if s is DoorState.CLOSED and ts > opened)
    assert closed - opened >= timedelta(minutes=10)


def test_detector_silent_stops_the_detector_for_good() -> None:
    fleet = _demo()
    scenario = builtin("detector_silent", fleet)
    device = scenario.expect[0].subject
    fleet.schedule(scenario)
    events = run(fleet, scenario.run_for)
    assert all(r.ts < MONDAY_10 + timedelta(minutes=1) for r in readings(events, device))
    assert scenario.expect[0].within is not None
    assert scenario.expect[0].within > timedelta(seconds=900)  # 3 × 300 s, plus slack


def test_uplink_loss_holds_every_reading_and_delivers_them_all_afterwards() -> None:
    twin, fleet = _demo(), _demo()
    scenario = builtin("gateway_uplink_loss_1h", fleet)
    gw = scenario.expect[0].subject
    assert gw is not None
    fleet.schedule(scenario)
    events = run(fleet, scenario.run_for)
    baseline = run(twin, scenario.run_for)
    offline = [e for e in events if isinstance(e, Offline)]
    online = [e for e in events if isinstance(e, Online) and e.gateway.gateway == gw]
    assert [e.ts - MONDAY_10 for e in offline] == [timedelta(minutes=2)]
    assert [e.ts - MONDAY_10 for e in online] == [timedelta(0), timedelta(hours=1, minutes=2)]
    sent = [e for e in events if isinstance(e, Publish) and e.gateway.gateway == gw]
    during = [e for e in sent if MONDAY_10 + timedelta(minutes=2) <= e.sent_at < online[1].ts]
    assert during == []
    catch_up = next(e for e in sent if e.sent_at == online[1].ts)
    assert len(catch_up.readings) > 50
    # The outage changes when readings travel, never what they are: same ids, same content.
    mine = [r.model_dump() for e in sent for r in e.readings]
    theirs = [r.model_dump() for r in readings(baseline) if twin.devices[r.device].gateway.id == gw]
    assert mine == theirs


def test_broker_restart_and_drifting_counter_and_lunch_crowd() -> None:
    fleet = _demo()
    restart = builtin("broker_restart", fleet)
    drift = builtin("drifting_counter", fleet)
    lunch = builtin("lunch_over_capacity", fleet)
    for scenario in (restart, drift, lunch):
        fleet.schedule(scenario)
    events = run(fleet, timedelta(hours=2))
    assert [e.at - MONDAY_10 for e in events if isinstance(e, BrokerRestart)] == [
        timedelta(minutes=1)
    ]
    counter = fleet.device(drift.steps[0].device)  # type: ignore[union-attr]
    assert isinstance(counter, DoorCounter)
    assert counter.exit_miss == 0.2
    # Started at 10:00, the lunch crowd comes at 11:30 local.
    assert lunch.steps[0].at == timedelta(hours=1, minutes=30)
    room = fleet.sites[lunch.expect[0].site or ""].rooms[lunch.expect[0].subject or ""]
    assert room.people > room.capacity


def test_skewed_clock_stamps_readings_two_hours_ahead_which_the_decoder_refuses() -> None:
    fleet = _demo()
    scenario = builtin("skewed_gateway_clock", fleet)
    gw = scenario.expect[0].subject
    fleet.schedule(scenario)
    run(fleet, timedelta(minutes=2))
    events = run(fleet, timedelta(minutes=10))
    sent = [e for e in events if isinstance(e, Publish) and e.gateway.gateway == gw]
    assert sent
    for event in sent:
        assert event.sent_at - fleet.now <= timedelta(hours=2)
        assert all(r.ts > fleet.now + timedelta(hours=1) for r in event.readings)
        payload = Batch(gateway=gw, sent_at=event.sent_at, seq=1, readings=list(event.readings))
        with pytest.raises(TimestampOutOfBounds):
            decode_message(
                channel_topic(event.gateway.site, gw or "", Ch.READINGS),
                payload.model_dump_json().encode(),
                now=fleet.now,
            )


def test_hostile_payloads_are_raw_events_with_their_expected_error() -> None:
    fleet = _demo()
    scenario = builtin("hostile_payloads", fleet)
    fleet.schedule(scenario)
    events = run(fleet, timedelta(minutes=1))
    raws = [e for e in events if isinstance(e, Raw)]
    assert {e.label for e in raws} == {x.subject for x in scenario.expect}
    assert {e.expect.code for e in raws} == {x.value for x in scenario.expect}


_yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.dictionaries(
            st.sampled_from(
                [
                    "at",
                    "action",
                    "device",
                    "room",
                    "gateway",
                    "duration",
                    "offset",
                    "factor",
                    "kind",
                    "labels",
                    "pct",
                    "site",
                ]
            ),
            _yaml_values | st.sampled_from(["fire", "prop_door", "crowd", "10m", "s1-fd-inf"]),
            max_size=5,
        )
        | _yaml_values,
        max_size=3,
    ),
    name=_yaml_values | st.just("ok_name"),
)
def test_any_scenario_document_is_either_a_scenario_or_a_scenario_error(
    steps: list[object], name: object
) -> None:
    text = yaml.safe_dump({"name": name, "title": "t", "steps": steps}, allow_unicode=True)
    fleet = Fleet(small_registry(), start=MONDAY_10)
    error: ScenarioError | None = None
    try:
        fleet.schedule(load_scenario(text, "fuzz.yaml"))
    except ScenarioError as exc:
        error = exc
    if error is not None:
        assert str(error).startswith("fuzz.yaml: ")


def test_normal_week_follows_the_profiles_and_raises_no_alarm() -> None:
    start = MONDAY_10.replace(hour=0)
    fleet = Fleet(demo_registry(), start=start, seed=2, max_step=timedelta(minutes=10))
    scenario = builtin("normal_week", fleet)
    fleet.schedule(scenario)
    busy: dict[str, list[int]] = {"weekday": [], "weekend": []}
    events = []
    while fleet.now < start + scenario.run_for:
        events += fleet.advance(fleet.now + timedelta(hours=1))
        local = fleet.now.astimezone(fleet.sites["hz-wenxin"].tz)
        if local.hour in (10, 15):
            people = sum(fleet.occupancy().values())
            busy["weekday" if local.weekday() < 5 else "weekend"].append(people)
        if local.hour == 2:
            assert sum(fleet.occupancy().values()) == 0  # everyone goes home at night
    assert sum(busy["weekday"]) / len(busy["weekday"]) > sum(busy["weekend"]) / len(busy["weekend"])
    smoke = [r for r in readings(events) if isinstance(r, SmokeReading)]
    assert not any(r.state is SmokeState.ALARM for r in smoke)
    tested = {r.device for r in smoke if r.state is SmokeState.TEST}
    detectors = {d.id for d in fleet.devices.values() if d.spec.kind.value in ("smoke", "heat")}
    assert tested == detectors  # every detector ran its weekly self-test


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (
            ("duration: 10m", "duration: -10m"),
            r"steps\[0\]\.duration: .*must be a positive duration",
        ),
        (("run_for: 15m", "run_for: 0"), r"run_for: .*must be a positive duration"),
        (
            ("{at: 1m, action: prop_door", "{at: -1m, action: prop_door"),
            r"steps\[0\]\.at: .*not be negative",
        ),
    ],
)
def test_lengths_must_be_positive_and_times_not_before_the_start(
    edit: tuple[str, str], match: str
) -> None:
    with pytest.raises(ScenarioError, match=r"wedge\.yaml: " + match):
        load_scenario(GOOD.replace(*edit), "wedge.yaml")
