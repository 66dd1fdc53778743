"""Hand-built sites for the norm tests."""

from __future__ import annotations

from typing import Any

from rules import Room, Site


def room(room_id: str, function: str | None, floor: int = 1, **fields: Any) -> Room:
    return Room.model_validate(
        {"id": room_id, "name": f"房间{room_id}", "function": function, "floor": floor, **fields}
    )


def site(*rooms: Room, **fields: Any) -> Site:
    data: dict[str, Any] = {"id": "s1", "name": "测试中心", "rooms": rooms}
    data.update(fields)
    return Site.model_validate(data)
