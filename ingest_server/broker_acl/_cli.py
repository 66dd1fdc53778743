"""``linli mqtt-acl``: load the registry, generate, report; exit status 2 on a refusal."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from ingest_server.broker_acl._errors import BrokerAclError
from ingest_server.broker_acl._generate import generate, load_registry, parse_registry_text

__all__ = ["run_mqtt_acl"]


def run_mqtt_acl(
    out_dir: Path,
    *,
    registry_path: Path | None = None,
    registry_text: tuple[str, str] | None = None,
    server_user: str = "linli-server",
    notify_user: str | None = None,
    display_user: str | None = None,
    rotate: Sequence[str] = (),
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Generate from a registry file, or from ``registry_text`` as (text, source name)."""
    try:
        if registry_path is not None:
            registry = load_registry(registry_path)
            source = str(registry_path)
        elif registry_text is not None:
            text, source = registry_text
            registry = parse_registry_text(text, source)
        else:
            raise ValueError("a registry file or text is needed")
        result = generate(
            registry,
            out_dir,
            source=source,
            server_user=server_user,
            notify_user=notify_user,
            display_user=display_user,
            rotate=rotate,
        )
    except BrokerAclError as exc:
        print(f"linli mqtt-acl: {exc}", file=err)
        return 2
    print(result.summary(), file=out)
    for name, path in result.paths.items():
        print(f"  {name}: {path}", file=out)
    return 0
