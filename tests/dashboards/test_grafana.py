"""The Grafana dashboards: structure, names checked against what the InfluxDB adapter writes,
and every query run against a real influxd holding points written in the adapter's format."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import pytest
import yaml

from ingest_server import StoredReading
from ingest_server.store import MEASUREMENTS, to_line
from protocol import (
    DoorReading,
    DoorRole,
    DoorState,
    HealthReading,
    OccupancyReading,
    OccupancySource,
    SmokeReading,
    SmokeSensor,
    SmokeState,
)
from tests.services import InfluxDB

GRAFANA = resources.files("dashboards").joinpath("grafana")
DASHBOARDS = sorted(p.name for p in GRAFANA.iterdir() if p.name.endswith(".json"))
SITE, GATEWAY = "g-site", "g-gw"


def _readings(now: datetime) -> list[StoredReading]:
    """One reading of every kind with every optional field set, and the alarm-like states the
    panels look for."""
    ts = now - timedelta(minutes=10)
    readings: list[Any] = [
        SmokeReading(
            id="r1",
            device="smk-1",
            ts=ts,
            sensor=SmokeSensor.MULTI,
            state=SmokeState.ALARM,
            obscuration=3.5,
            temperature_c=41.0,
            battery_pct=80,
        ),
        SmokeReading(id="r2", device="smk-1", ts=ts + timedelta(seconds=1), state=SmokeState.FAULT),
        DoorReading(
            id="r3",
            device="door-1",
            ts=ts,
            state=DoorState.OPEN,
            role=DoorRole.FIRE_DOOR,
            fault=False,
        ),
        OccupancyReading(id="r4", device="cnt-1", ts=ts, source=OccupancySource.PRESENCE, count=7),
        OccupancyReading(
            id="r5", device="cnt-2", ts=ts, source=OccupancySource.COUNTER, entries=4, exits=1
        ),
        OccupancyReading(
            id="r6", device="cnt-3", ts=ts, source=OccupancySource.PRESENCE, occupied=True
        ),
        HealthReading(
            id="r7",
            device="smk-1",
            ts=ts,
            battery_pct=15,
            battery_low=True,
            signal_lqi=120,
            rssi_dbm=-70,
            tamper=True,
            fault="dirty_chamber",
        ),
    ]
    return [StoredReading(r, SITE, GATEWAY, "room-1", unknown_device=False) for r in readings]


def _written_schema() -> dict[str, tuple[set[str], set[str]]]:
    """Measurement → (tags, fields) as the adapter's ``to_line`` writes them."""
    schema: dict[str, tuple[set[str], set[str]]] = {}
    for stored in _readings(datetime.now(UTC)):
        line = to_line(stored)
        head, fields, _ts = re.split(r"(?<!\\) ", line)
        measurement, *tags = head.split(",")
        known = schema.setdefault(measurement, (set(), set()))
        known[0].update(t.split("=", 1)[0] for t in tags)
        known[1].update(f.split("=", 1)[0] for f in re.split(r",(?=\w+=)", fields))
    assert set(schema) == set(MEASUREMENTS)
    return schema


SCHEMA = _written_schema()


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(GRAFANA.joinpath(name).read_text("utf-8"))
    return data


def _queries(dashboard: dict[str, Any]) -> list[str]:
    out = [v["query"] for v in dashboard["templating"]["list"]]
    out += [t["query"] for p in dashboard["panels"] for t in p["targets"]]
    return out


def problems(query: str) -> list[str]:
    """Names in an InfluxQL query that the adapter does not write."""
    found: list[str] = []
    froms = re.findall(r'FROM "(\w+)"', query)
    if len(froms) != 1:
        return [f"expected one FROM measurement in {query!r}"]
    measurement = froms[0]
    if measurement not in SCHEMA:
        return [f"measurement {measurement!r} is not written"]
    tags, fields = SCHEMA[measurement]
    for field in re.findall(r'\b(?:max|min|mean|sum|count|last|integral)\("(\w+)"', query):
        if field not in fields:
            found.append(f"{measurement}: no field {field!r}")
    for name in re.findall(r'"(\w+)"\s*(?:=~|!~|=|!=|<>|<|>)', query):
        if name not in tags | fields:
            found.append(f"{measurement}: no tag or field {name!r}")
    group = re.search(r"GROUP BY (.*?)(?: fill\(|$)", query)
    if group:
        for name in re.findall(r'"(\w+)"', group.group(1)):
            if name not in tags:
                found.append(f"{measurement}: GROUP BY {name!r} is not a tag")
    key = re.search(r'WITH KEY = "(\w+)"', query)
    if key and key.group(1) not in tags:
        found.append(f"{measurement}: no tag {key.group(1)!r}")
    return found


def test_the_checker_catches_wrong_names() -> None:
    assert problems('SELECT max("count") FROM "occupancy" WHERE $timeFilter') == []
    assert problems('SELECT max("people") FROM "occupancy" WHERE $timeFilter')
    assert problems('SELECT max("count") FROM "occupancy_1h" WHERE $timeFilter')
    assert problems('SELECT max("count") FROM "occupancy" WHERE "floor" = 2')
    assert problems('SELECT max("count") FROM "occupancy" GROUP BY "count"')
    assert problems('SHOW TAG VALUES FROM "smoke" WITH KEY = "zone"')


def test_there_are_the_three_dashboards() -> None:
    assert DASHBOARDS == [
        "linli-alarms-health.json",
        "linli-occupancy.json",
        "linli-utilization.json",
    ]


@pytest.mark.parametrize("name", DASHBOARDS)
def test_dashboard_structure(name: str) -> None:
    d = _load(name)
    provisioned = yaml.safe_load(
        GRAFANA.joinpath("provisioning", "datasources", "linli.yaml").read_text("utf-8")
    )
    ds_uid = provisioned["datasources"][0]["uid"]
    assert provisioned["datasources"][0]["type"] == "influxdb"
    assert d["uid"] == name.removesuffix(".json")
    assert d["title"]
    assert d["schemaVersion"] >= 36
    assert d["panels"], "a dashboard without panels"
    assert len({p["id"] for p in d["panels"]}) == len(d["panels"])
    variables = {v["name"] for v in d["templating"]["list"]}
    cells: set[tuple[int, int]] = set()
    for panel in d["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["w"] > 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        own = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not own & cells, f"{panel['title']} overlaps another panel"
        cells |= own
        assert panel["datasource"] == {"type": "influxdb", "uid": ds_uid}
        refs = [t["refId"] for t in panel["targets"]]
        assert refs
        assert len(set(refs)) == len(refs)
        for target in panel["targets"]:
            assert target["rawQuery"] is True
            assert target["datasource"]["uid"] == ds_uid
            for used in re.findall(r"\$(\w+)", target["query"]):
                assert used in variables | {"timeFilter", "__interval"}, used
            if "alias" in target:
                for tag in re.findall(r"\$tag_(\w+)", target["alias"]):
                    assert f'"{tag}"' in target["query"].split("GROUP BY")[1]
    for variable in d["templating"]["list"]:
        assert variable["datasource"]["uid"] == ds_uid


@pytest.mark.parametrize("name", DASHBOARDS)
def test_queries_name_only_what_the_adapter_writes(name: str) -> None:
    for query in _queries(_load(name)):
        assert problems(query) == [], query


def _substitute(query: str) -> str:
    return (
        query.replace("$timeFilter", "time >= now() - 1h AND time <= now()")
        .replace("$__interval", "1m")
        .replace("$site", SITE)
        .replace("$room", "room-1")
    )


def test_every_query_runs_and_finds_the_adapters_points(influxdb: InfluxDB, unique_id: str) -> None:
    influxdb.create_database(unique_id)
    lines = "\n".join(to_line(s) for s in _readings(datetime.now(UTC)))
    assert influxdb.write(unique_id, lines) == 204
    for name in DASHBOARDS:
        for query in _queries(_load(name)):
            answer = influxdb.query(_substitute(query), unique_id)
            results: list[dict[str, Any]] = answer["results"]  # type: ignore[assignment]
            assert "error" not in results[0], (name, query, results[0])
            assert results[0].get("series"), f"{name}: no data for {query!r}"
