"""Health rules: device.silent, gateway.offline and device.fault (RULES.md B)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field

from protocol import SmokeState
from rules.facility import Device, DeviceKind
from rules.live._base import Condition, Input, RuleBase, Status, rule_type
from rules.live._facts import SiteView
from rules.live._model import Duration, Severity, Text

__all__ = ["DeviceFault", "DeviceSilent", "GatewayOffline"]

_KIND_ZH = {
    DeviceKind.SMOKE: "烟感",
    DeviceKind.HEAT: "温感",
    DeviceKind.DOOR: "门磁",
    DeviceKind.COUNTER: "客流计数器",
    DeviceKind.PRESENCE: "人员感应器",
}
_KIND_EN = {
    DeviceKind.SMOKE: "smoke detector",
    DeviceKind.HEAT: "heat detector",
    DeviceKind.DOOR: "door contact",
    DeviceKind.COUNTER: "people counter",
    DeviceKind.PRESENCE: "presence sensor",
}


def _device_name(view: SiteView, device: Device) -> Text:
    where = view.room_name(device.room) if device.room else Text(zh="", en="")
    return Text(
        zh=f"{where.zh} {_KIND_ZH[device.kind]} {device.id}".strip(),
        en=f"{_KIND_EN[device.kind]} {device.id}" + (f" in {where.en}" if device.room else ""),
    )


def _gateway_down(view: SiteView, gateway_id: str, now: datetime, multiplier: float) -> bool:
    gateway = next((g for g in view.site.gateways if g.id == gateway_id), None)
    fact = view.facts.gateways.get(gateway_id)
    last = fact.last_seen if fact else view.facts.started
    if fact is not None and not fact.online:
        return True
    heartbeat = gateway.heartbeat_s if gateway else 60.0
    return now - last > timedelta(seconds=heartbeat * multiplier)


@rule_type("device_silent")
class DeviceSilent(RuleBase):
    """No message from a device for longer than its class timeout."""

    inputs = frozenset({Input.SEEN, Input.STATUS, Input.CLOCK})

    type: Literal["device_silent"] = "device_silent"
    severity: Severity = Severity.MINOR
    # 3 reporting intervals: one lost heartbeat is radio noise, three in a row is a dead device.
    interval_multiplier: float = Field(default=3, gt=0, le=1000)
    timeouts: dict[DeviceKind, Duration] = Field(
        default_factory=dict, description="Per device class timeout, overriding the multiplier"
    )
    severity_by_kind: dict[DeviceKind, Severity] = Field(
        default_factory=lambda: {DeviceKind.SMOKE: Severity.MAJOR, DeviceKind.HEAT: Severity.MAJOR}
    )
    suppress_when_gateway_offline: bool = Field(
        default=True, description="One gateway.offline alert instead of one per device behind it"
    )

    def evaluate(self, view: SiteView, now: datetime) -> Iterator[Condition]:
        for gateway, device in view.site.devices():
            last = view.facts.last_seen.get(device.id, view.facts.started)
            timeout = self.timeouts.get(
                device.kind, device.reporting_interval_s * self.interval_multiplier
            )
            due = last + timedelta(seconds=timeout)
            if now <= due:
                status = Status.CLEAR
            elif self.suppress_when_gateway_offline and _gateway_down(view, gateway.id, now, 3):
                status = Status.HOLD
            else:
                status = Status.SET
            name = _device_name(view, device)
            yield Condition(
                subject=view.subject(device=device.id),
                status=status,
                since=due,
                severity=self.severity_by_kind.get(device.kind, self.severity),
                room=device.room,
                device=device.id,
                gateway=gateway.id,
                details={"last_seen": last.isoformat(), "timeout_s": timeout},
                message=Text(
                    zh=f"{view.site_name().zh} {name.zh} 超过 {timeout:.0f} 秒无消息",
                    en=f"{name.en} at {view.site_name().en} silent for more than {timeout:.0f} s",
                ),
            )


@rule_type("gateway_offline")
class GatewayOffline(RuleBase):
    """A gateway's Last Will arrived, or no status or reading within its heartbeat timeout."""

    inputs = frozenset({Input.SEEN, Input.STATUS, Input.CLOCK})

    type: Literal["gateway_offline"] = "gateway_offline"
    severity: Severity = Severity.MAJOR
    # 3 heartbeats: tolerates one late and one lost status message.
    heartbeat_multiplier: float = Field(default=3, gt=0, le=1000)

    def evaluate(self, view: SiteView, now: datetime) -> Iterator[Condition]:
        site = view.site_name()
        for gateway in view.site.gateways:
            fact = view.facts.gateways.get(gateway.id)
            last = fact.last_seen if fact else view.facts.started
            timeout = gateway.heartbeat_s * self.heartbeat_multiplier
            last_will = fact is not None and not fact.online
            missed = now - last > timedelta(seconds=timeout)
            since = (
                fact.offline_since
                if last_will and fact is not None and fact.offline_since
                else last + timedelta(seconds=timeout)
            )
            reason = "last_will" if last_will else "missed_heartbeat"
            yield Condition(
                subject=view.subject(device=gateway.id),
                status=Status.SET if last_will or missed else Status.CLEAR,
                since=since,
                gateway=gateway.id,
                details={"reason": reason, "last_seen": last.isoformat()},
                message=Text(
                    zh=f"{site.zh} 网关 {gateway.id} 离线"
                    + ("（遗嘱消息）" if last_will else f"（超过 {timeout:.0f} 秒无心跳）"),
                    en=f"Gateway {gateway.id} at {site.en} offline"
                    + (" (Last Will)" if last_will else f" (no heartbeat for {timeout:.0f} s)"),
                ),
            )


_FAULT_ZH = {
    "battery_low": "电量低",
    "tamper": "防拆报警",
    "detector_fault": "探测器故障",
    "door_fault": "闭门器/释放装置故障",
    "dirty_chamber": "迷宫污染",
    "self_test_failed": "自检失败",
}


@rule_type("device_fault")
class DeviceFault(RuleBase):
    """Battery low, tamper, detector trouble or a failed self-test (NFPA 72 trouble signals)."""

    inputs = frozenset({Input.SMOKE, Input.DOOR, Input.HEALTH})

    type: Literal["device_fault"] = "device_fault"
    severity: Severity = Severity.MINOR
    major_severity: Severity = Severity.MAJOR
    major_faults: tuple[str, ...] = (
        "tamper",
        "detector_fault",
        "door_fault",
        "dirty_chamber",
        "self_test_failed",
    )

    def evaluate(self, view: SiteView, now: datetime) -> Iterator[Condition]:
        site = view.site_name()
        devices = set(view.facts.health) | set(view.facts.smoke) | set(view.facts.doors)
        for dev in sorted(devices):
            faults: list[str] = []
            smoke = view.facts.smoke.get(dev)
            if smoke is not None and smoke.state is SmokeState.FAULT:
                faults.append("detector_fault")
            door = view.facts.doors.get(dev)
            if door is not None and door.fault:
                faults.append("door_fault")
            health = view.facts.health.get(dev)
            if health is not None:
                if health.battery_low:
                    faults.append("battery_low")
                if health.tamper:
                    faults.append("tamper")
                if health.fault:
                    faults.append(health.fault)
            device = view.device(dev)
            major = any(f in self.major_faults for f in faults)
            zh = "、".join(_FAULT_ZH.get(f, f) for f in faults)
            en = ", ".join(f.replace("_", " ") for f in faults)
            yield Condition(
                subject=view.subject(device=dev),
                status=Status.SET if faults else Status.CLEAR,
                severity=self.major_severity if major else self.severity,
                room=device.room if device else None,
                device=dev,
                details={"faults": faults},
                message=Text(
                    zh=f"{site.zh} 设备 {dev} 故障：{zh}",
                    en=f"Device {dev} at {site.en} reports a fault: {en}",
                ),
            )
