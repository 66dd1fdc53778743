"""``down/config`` payloads are adversarial input: any bytes are refused or applied, never
raised, and a refused map leaves the map in force."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent import Agent, GatewayConfig
from tests.edge_agent.conftest import GPIO, SIM

BASE = {
    "gateway": "gw-1",
    "site": "s-1",
    "uplink": {"host": "127.0.0.1"},
    "outbox": {"path": "unused.db"},
    "drivers": [{"name": "sim", "factory": SIM}, {"name": "wired", "factory": GPIO}],
    "devices": [{"id": "d1", "kind": "presence", "driver": "sim"}],
}

DEVICE = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["d1", "d2", "bad id", ""]),
        "kind": st.sampled_from(["smoke", "door", "counter", "presence", "lamp"]),
        "driver": st.sampled_from(["sim", "wired", "nope"]),
    },
    optional={
        "role": st.sampled_from(["fire_door", "entrance", "x"]),
        "address": st.sampled_from(["17", "GPIO5", "x" * 300]),
        "params": st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    },
)
PAYLOAD = st.one_of(
    st.binary(max_size=64),
    st.builds(
        lambda devices, v: json.dumps({"v": v, "devices": devices}).encode(),
        st.lists(DEVICE, max_size=3),
        st.sampled_from([1, 2, "1"]),
    ),
)


@settings(max_examples=150, deadline=None)
@given(PAYLOAD)
def test_any_down_config_is_applied_whole_or_refused(payload: bytes) -> None:
    agent = Agent(GatewayConfig.model_validate(BASE), source=str(Path("gw.toml")))
    before = list(agent._devices)
    agent._remote_config(payload)
    if agent.stats.bad_configs:
        assert agent._devices == before
    else:
        assert payload == b"" or json.loads(payload)["v"] == 1
