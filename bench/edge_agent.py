"""Edge agent benchmark: resident memory and CPU with 100 devices reporting every second, the
outbox commit rate, how long a one-hour backlog of 100 devices takes to drain, and the local
alarm latency (alarm observed → relay on) while the uplink is down.

Steady state is measured twice:

- **zigbee2mqtt** (the headline figure): the agent runs its Zigbee2MQTT driver, as on a real
  gateway; the 100 devices are a separate feeder process publishing Zigbee2MQTT state messages
  on the broker, evenly spread over each second (one every 10 ms, as radios deliver them), so
  neither the devices' cost nor their imports count against the agent.
- **in-process sim**: the agent runs ``firmware_sims.edge_driver:SimulatedDriver``, which emits
  all 100 devices at once every second from inside the agent process; its cost, and that of
  everything ``firmware_sims`` imports, count against the agent.

Both report the agent process only (its RSS from /proc, its CPU time after a warm-up, over
``--duration`` seconds).

Run:  .venv/bin/python bench/edge_agent.py [--duration 60] [--replay-rate 20] [--only steady]
      [--agent-tree CHECKOUT]   (the agent from another checkout, for before/after runs)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from gpiozero.pins.mock import MockFactory, MockPin
from paho.mqtt.enums import CallbackAPIVersion

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from edge_agent import Agent, GatewayConfig, Lane, Outbox, Pending  # noqa: E402
from firmware_sims.edge_driver import SimulatedDriver  # noqa: E402
from protocol import Channel, channel_topic  # noqa: E402
from tests.services import Mosquitto  # noqa: E402

SIM = "firmware_sims.edge_driver:SimulatedDriver"
Z2M = "edge_agent.drivers.zigbee2mqtt:Zigbee2MqttDriver"
DEVICES = 100
CLK_TCK = os.sysconf("SC_CLK_TCK")
# Start-up (imports, config, first connection, the first health reading of every Zigbee
# device) is not steady state.
WARM_UP_S = 10.0


def _devices_toml(driver: str = "sim", kinds: tuple[str, ...] = ()) -> str:
    kinds = kinds or ("presence", "counter", "smoke", "door")
    out = []
    for i in range(DEVICES):
        kind = kinds[i % len(kinds)]
        role = '\nrole = "fire_door"' if kind == "door" else ""
        out.append(f'[[devices]]\nid = "d{i:03d}"\nkind = "{kind}"\ndriver = "{driver}"{role}\n')
    return "\n".join(out)


def _agent_toml(
    broker: Mosquitto,
    gateway: str,
    outbox: Path,
    driver: str,
    factory: str,
    options: str,
    devices: str,
) -> str:
    return f"""gateway = "{gateway}"
site = "bench"
[uplink]
host = "{broker.host}"
port = {broker.port}
[outbox]
path = "{outbox}"
[[drivers]]
name = "{driver}"
factory = "{factory}"
[drivers.options]
{options}
{devices}
"""


def _config_toml(broker: Mosquitto, gateway: str, outbox: Path, options: str) -> str:
    return _agent_toml(broker, gateway, outbox, "sim", SIM, options, _devices_toml())


# Zigbee2MQTT has no people counter; the mix keeps one reading per message.
Z2M_KINDS = ("presence", "presence", "smoke", "door")


def _z2m_config_toml(broker: Mosquitto, gateway: str, outbox: Path, base_topic: str) -> str:
    options = f'host = "{broker.host}"\nport = {broker.port}\nbase_topic = "{base_topic}"'
    return _agent_toml(
        broker, gateway, outbox, "z2m", Z2M, options, _devices_toml("z2m", Z2M_KINDS)
    )


def _z2m_payload(kind: str, n: int) -> bytes:
    common = {"battery": 97, "linkquality": 100 + n % 50}
    if kind == "smoke":
        state: dict[str, Any] = {"smoke": False, "battery_low": False, "tamper": False}
    elif kind == "door":
        state = {"contact": n % 10 != 0}
    else:
        state = {"occupancy": n % 2 == 0}
    return json.dumps({**state, **common}).encode()


def feed_zigbee2mqtt(host: str, port: int, base_topic: str, duration: float) -> None:
    """The feeder process: every device publishes its state once a second, one every 10 ms,
    QoS 0 like Zigbee2MQTT."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"feeder-{base_topic}")
    client.connect(host, port)
    client.loop_start()
    step = 1.0 / DEVICES
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < duration:
        i = n % DEVICES
        kind = Z2M_KINDS[i % len(Z2M_KINDS)]
        client.publish(f"{base_topic}/d{i:03d}", _z2m_payload(kind, n // DEVICES), qos=0)
        n += 1
        time.sleep(max(0.0, start + n * step - time.monotonic()))
    client.disconnect()
    client.loop_stop()


class Counter:
    """Counts readings arriving on a gateway's up/ channels."""

    def __init__(self, broker: Mosquitto, gateway: str) -> None:
        self.readings = 0
        self.messages = 0
        self.first_alarm: float | None = None
        self.lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{gateway}")
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.subscribe(
            [
                (channel_topic("bench", gateway, Channel.READINGS), 1),
                (channel_topic("bench", gateway, Channel.ALARM), 1),
            ]
        )
        self.client.loop_start()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        body = json.loads(msg.payload)
        with self.lock:
            if "reading" in body and self.first_alarm is None:
                self.first_alarm = time.perf_counter()
            self.messages += 1
            self.readings += len(body["readings"]) if "readings" in body else 1

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _proc_stats(pid: int) -> tuple[float, int]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu_s = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return cpu_s, _status(pid)["VmRSS"]


def _status(pid: int) -> dict[str, int]:
    """The kB figures of /proc/PID/status."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if value.strip().endswith("kB"):
            out[key] = int(value.split()[0])
    return out


def _wakeups(pid: int) -> int:
    """Context switches of every thread of ``pid`` so far: each is a wake-up or a preemption."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "status").read_text()
        except OSError:
            continue  # a worker thread that just ended
        for line in text.splitlines():
            if "ctxt_switches:" in line:
                total += int(line.split()[1])
    return total


def _measure(label: str, proc: subprocess.Popen[bytes], counter: Counter, duration: float) -> None:
    time.sleep(WARM_UP_S)
    if proc.poll() is not None:
        raise RuntimeError(f"the agent exited with {proc.returncode} during warm-up")
    cpu0, _ = _proc_stats(proc.pid)
    wake0 = _wakeups(proc.pid)
    readings0 = counter.readings
    t0 = time.monotonic()
    rss_max = 0
    while time.monotonic() - t0 < duration:
        time.sleep(1)
        rss_max = max(rss_max, _proc_stats(proc.pid)[1])
    cpu1, rss = _proc_stats(proc.pid)
    wake1 = _wakeups(proc.pid)
    status = _status(proc.pid)
    elapsed = time.monotonic() - t0
    readings = counter.readings - readings0
    print(f"{label}, {DEVICES} devices @ 1 Hz for {elapsed:.0f} s after {WARM_UP_S:.0f} s warm-up:")
    print(f"  RSS {rss / 1024:.1f} MiB (max {rss_max / 1024:.1f} MiB)", end="")
    anon, files = status["RssAnon"] / 1024, status["RssFile"] / 1024
    print(f" = {anon:.1f} MiB anonymous + {files:.1f} MiB files")
    print(f"  CPU {100 * (cpu1 - cpu0) / elapsed:.2f} % of one core", end="")
    print(f", {(wake1 - wake0) / elapsed:.0f} context switches/s")
    print(f"  delivered {readings / elapsed:.0f} readings/s; load average {os.getloadavg()[0]:.2f}")


# The checkout the agent runs from (--agent-tree: an earlier commit, for before/after runs).
AGENT_TREE = REPO
# What deploy/systemd/linli-edge.service sets for the agent.
UNIT_ENVIRONMENT = {"MALLOC_ARENA_MAX": "2"}


def _agent_env(workdir: Path) -> dict[str, str]:
    """The agent's environment as deployed: the unit's settings, and compiled bytecode (pip
    compiles it on install) kept under ``workdir`` rather than beside the sources."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, **UNIT_ENVIRONMENT, "PYTHONPYCACHEPREFIX": str(workdir / "pycache")}


def _compile(workdir: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import edge_agent, edge_agent.drivers.zigbee2mqtt, firmware_sims.edge_driver",
        ],
        cwd=AGENT_TREE,
        env=_agent_env(workdir),
        check=True,
    )


def _agent(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "edge_agent", "--config", str(config), "--log-level", "WARNING"],
        cwd=AGENT_TREE,
        env=_agent_env(config.parent),
    )


_BARE_SUBSCRIBER = """
import sys
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
host, port, topic = sys.argv[1], int(sys.argv[2]), sys.argv[3]
client = mqtt.Client(CallbackAPIVersion.VERSION2)
client.on_connect = lambda c, *_: c.subscribe(topic, 1)
client.on_message = lambda *_: None
client.connect(host, port)
client.loop_forever()
"""


def bench_steady_state(broker: Mosquitto, workdir: Path, duration: float) -> None:
    config = workdir / "steady.toml"
    config.write_text(_z2m_config_toml(broker, "gw-steady", workdir / "steady.db", "bench-z2m"))
    counter = Counter(broker, "gw-steady")
    proc = _agent(config)
    feeder = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--feed",
            f"{broker.host}:{broker.port}/bench-z2m",
            "--duration",
            f"{duration + WARM_UP_S + 30:g}",
        ],
        cwd=REPO,
    )
    bare = subprocess.Popen(
        [sys.executable, "-c", _BARE_SUBSCRIBER, broker.host, str(broker.port), "bench-z2m/#"],
        env=_agent_env(workdir),
    )
    try:
        _measure("zigbee2mqtt driver, devices in a separate process", proc, counter, duration)
        cpu0, _ = _proc_stats(bare.pid)
        t0 = time.monotonic()
        time.sleep(duration)
        cpu1, rss = _proc_stats(bare.pid)
        print(
            "  baseline, a bare paho subscriber receiving the same messages (the driver's floor): "
            f"CPU {100 * (cpu1 - cpu0) / (time.monotonic() - t0):.2f} %, "
            f"resident {rss / 1024:.1f} MiB"
        )
    finally:
        bare.terminate()
        bare.wait(20)
        feeder.terminate()
        feeder.wait(20)
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        counter.close()


def bench_steady_state_sim(broker: Mosquitto, workdir: Path, duration: float) -> None:
    config = workdir / "steady-sim.toml"
    config.write_text(
        _config_toml(broker, "gw-steady-sim", workdir / "steady-sim.db", "interval_s = 1.0")
    )
    counter = Counter(broker, "gw-steady-sim")
    proc = _agent(config)
    try:
        _measure("in-process sim driver (devices inside the agent)", proc, counter, duration)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        counter.close()


def bench_commit_rate(workdir: Path) -> None:
    payload = json.dumps({"kind": "occupancy", "source": "presence", "count": 3}).encode()

    def item(lane: Lane) -> Pending:
        return Pending(lane, "d001", lambda rid: payload[:-1] + f',"id":"{rid}"}}'.encode())

    print("outbox commit rate:")
    for lane, group, n in [
        (Lane.TELEMETRY, 1, 2000),
        (Lane.ALARM, 1, 300),
        (Lane.TELEMETRY, 100, 20000),
    ]:
        outbox = Outbox(workdir / f"rate-{lane.name}-{group}.db", max_bytes=1 << 30)
        t0 = time.perf_counter()
        for _ in range(n // group):
            outbox.commit([item(lane) for _ in range(group)])
        elapsed = time.perf_counter() - t0
        outbox.close()
        sync = "FULL" if lane is Lane.ALARM else "NORMAL"
        print(
            f"  {lane.name.lower():9} lane, {group:3} per transaction (synchronous={sync}): "
            f"{n / elapsed:8.0f} readings/s, {n // group / elapsed:6.0f} commits/s"
        )


def _fill_backlog(path: Path, readings: int) -> None:
    outbox = Outbox(path, max_bytes=1 << 30)
    base = time.time() - 3600
    group: list[Pending] = []
    for i in range(readings):
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(base + i / DEVICES)) + "Z"
        device = f"d{i % DEVICES:03d}"
        body = (
            f'"kind":"occupancy","source":"presence","count":{i % 40},'
            f'"device":"{device}","ts":"{ts}"'
        )

        def build(rid: str, body: str = body) -> bytes:
            return ("{" + body + f',"id":"{rid}"' + "}").encode()

        group.append(Pending(Lane.TELEMETRY, f"d{i % DEVICES:03d}", build))
        if len(group) == 500:
            outbox.commit(group)
            group = []
    if group:
        outbox.commit(group)
    outbox.close()


def bench_backlog(broker: Mosquitto, workdir: Path, replay_rate: float) -> None:
    total = DEVICES * 3600
    db = workdir / f"backlog-{replay_rate:g}.db"
    t0 = time.perf_counter()
    _fill_backlog(db, total)
    fill = time.perf_counter() - t0
    gateway = f"gw-backlog-{int(replay_rate)}"
    base_topic = f"bench-{gateway}"
    config = workdir / f"{gateway}.toml"
    text = _z2m_config_toml(broker, gateway, db, base_topic).replace(
        "[outbox]\n", f"[outbox]\nreplay_rate = {replay_rate}\n"
    )
    config.write_text(text)
    counter = Counter(broker, gateway)
    device = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"smoke-{gateway}")
    device.connect(broker.host, broker.port)
    device.loop_start()
    smoke = next(i for i in range(DEVICES) if Z2M_KINDS[i % len(Z2M_KINDS)] == "smoke")
    alarm_sent: float | None = None
    backlog_left = 0
    rss_max = 0
    t0 = time.perf_counter()
    proc = _agent(config)
    try:
        while counter.readings < total and time.perf_counter() - t0 < 900:
            time.sleep(0.2)
            rss_max = max(rss_max, _proc_stats(proc.pid)[1])
            if alarm_sent is None and counter.readings >= total // 4:
                # A detector goes into alarm a quarter into the drain.
                backlog_left = total - counter.readings
                alarm_sent = time.perf_counter()
                payload = json.dumps({"smoke": True, "battery": 97})
                device.publish(f"{base_topic}/d{smoke:03d}", payload, qos=0)
        drained = time.perf_counter() - t0
        cpu, rss = _proc_stats(proc.pid)
    finally:
        device.disconnect()
        device.loop_stop()
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        counter.close()
    print(
        f"backlog of one hour ({total} readings, {db.stat().st_size / 2**20:.0f} MiB file, "
        f"filled in {fill:.0f} s), replay_rate {replay_rate:g} batches/s:"
    )
    print(
        f"  drained in {drained:.1f} s incl. start-up ({counter.readings} readings in "
        f"{counter.messages} messages); agent CPU {cpu:.1f} s, RSS {rss / 1024:.1f} MiB "
        f"(peak {rss_max / 1024:.1f} MiB)"
    )
    if alarm_sent is not None and counter.first_alarm is not None:
        print(
            f"  a live smoke alarm during the drain ({backlog_left} readings still queued) "
            f"arrived in {1000 * (counter.first_alarm - alarm_sent):.0f} ms "
            "(device publish → agent → broker → subscriber)"
        )
    else:
        print("  the live smoke alarm sent during the drain never arrived")


class TimedPin(MockPin):  # type: ignore[misc]
    """A mock pin that notes when it goes high."""

    went_high: float | None = None

    def _change_state(self, value: bool) -> None:
        if value and not self.state:
            TimedPin.went_high = time.perf_counter()
        super()._change_state(value)


async def _latency(broker: Mosquitto, workdir: Path, trials: int) -> list[float]:
    pins = MockFactory(pin_class=TimedPin)
    devices = [{"id": f"d{i:03d}", "kind": "presence", "driver": "sim"} for i in range(DEVICES)]
    devices += [{"id": f"smk{i}", "kind": "smoke", "driver": "sim"} for i in range(trials)]
    config = GatewayConfig.model_validate(
        {
            "gateway": "gw-latency",
            "site": "bench",
            "uplink": {"host": broker.host, "port": broker.port, "reconnect_max_s": 1},
            "outbox": {"path": str(workdir / "latency.db")},
            "drivers": [{"name": "sim", "factory": SIM, "options": {"interval_s": 1.0}}],
            "devices": devices,
            "outputs": [{"type": "gpio", "name": "sounder", "pin": 17}],
        }
    )
    agent = Agent(config, pin_factory=pins)
    sim = agent.drivers["sim"]
    assert isinstance(sim, SimulatedDriver)
    task = asyncio.create_task(agent.run())
    await agent.wait_ready()
    out: list[float] = []
    try:
        await asyncio.sleep(2)
        for i in range(trials):
            agent.silence("bench")
            await asyncio.sleep(0.2)
            TimedPin.went_high = None
            t0 = time.perf_counter()
            sim.feed(f"smk{i}", {"kind": "smoke", "state": "alarm"})
            for _ in range(5000):
                if TimedPin.went_high is not None:
                    break
                await asyncio.sleep(0.001)
            assert TimedPin.went_high is not None, "the relay never switched"
            out.append(TimedPin.went_high - t0)
    finally:
        agent.stop()
        await task
        pins.close()
    return out


def bench_latency(workdir: Path, trials: int) -> None:
    dead = Mosquitto(workdir / "dead-uplink")  # configured but never started: the uplink is down
    latencies = asyncio.run(_latency(dead, workdir, trials))
    ms = sorted(x * 1000 for x in latencies)
    print(
        f"local alarm latency, uplink down, {DEVICES} devices streaming ({trials} alarms): "
        f"median {statistics.median(ms):.1f} ms, max {ms[-1]:.1f} ms "
        "(observation emitted → committed with fsync → relay on)"
    )


PARTS = ("commit-rate", "latency", "steady", "steady-sim", "backlog")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="steady-state seconds")
    parser.add_argument("--replay-rate", type=float, default=20.0, help="backlog batches/s")
    parser.add_argument("--trials", type=int, default=20, help="alarm latency trials")
    parser.add_argument(
        "--agent-tree",
        type=Path,
        help="run the agent from this checkout (e.g. `git archive REV | tar -x -C /tmp/before`)",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=PARTS,
        help="run only these parts (repeatable; default: all)",
    )
    parser.add_argument("--feed", help=argparse.SUPPRESS)  # HOST:PORT/BASE: the feeder process
    args = parser.parse_args()
    if args.feed:
        address, _, base_topic = args.feed.partition("/")
        host, _, port = address.rpartition(":")
        feed_zigbee2mqtt(host, int(port), base_topic, args.duration)
        return
    print("reproduce:", shlex.join([".venv/bin/python", "bench/edge_agent.py", *sys.argv[1:]]))
    global AGENT_TREE
    if args.agent_tree is not None:
        AGENT_TREE = args.agent_tree.resolve()
        print(f"agent from {AGENT_TREE}")
    parts = args.only or PARTS
    with tempfile.TemporaryDirectory(prefix="linli-edge-bench-") as tmp:
        workdir = Path(tmp)
        broker = Mosquitto(workdir / "mosquitto")
        broker.start()
        try:
            _compile(workdir)
            if "commit-rate" in parts:
                bench_commit_rate(workdir)
            if "latency" in parts:
                bench_latency(workdir, args.trials)
            if "steady" in parts:
                bench_steady_state(broker, workdir, args.duration)
            if "steady-sim" in parts:
                bench_steady_state_sim(broker, workdir, args.duration)
            if "backlog" in parts:
                bench_backlog(broker, workdir, args.replay_rate)
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
