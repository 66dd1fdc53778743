"""The ``linli`` command: a thin dispatcher that parses arguments and calls into one package."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

Handler = Callable[[argparse.Namespace], int]


def _protocol_schema(_args: argparse.Namespace) -> int:
    from protocol import json_schema

    json.dump(json_schema(), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


def _cmd_server(args: argparse.Namespace) -> int:
    from ingest_server import serve

    return serve(host=args.host, port=args.port, registry=args.registry, log_level=args.log_level)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; each sub-command sets ``handler``."""
    parser = argparse.ArgumentParser(
        prog="linli",
        description="Safety and utilization monitoring for community service centres.",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    proto = commands.add_parser("protocol", help="the MQTT wire protocol")
    proto_cmds = proto.add_subparsers(metavar="ACTION", required=True)
    schema = proto_cmds.add_parser("schema", help="print the JSON Schema of every message")
    schema.set_defaults(handler=_protocol_schema)

    server = commands.add_parser(
        "server", help="the ingest server (MQTT consumer, stores, API); settings from LINLI_*"
    )
    server.add_argument("--host", help="HTTP bind address (LINLI_HTTP_HOST)")
    server.add_argument("--port", type=int, help="HTTP port (LINLI_HTTP_PORT)")
    server.add_argument(
        "--registry", type=Path, help="facility registry YAML (LINLI_REGISTRY_PATH)"
    )
    server.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    server.set_defaults(handler=_cmd_server)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``linli`` console script."""
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    return handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
