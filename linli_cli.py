"""The ``linli`` command: a thin dispatcher that parses arguments and calls into one package."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

Handler = Callable[[argparse.Namespace], int]


def _protocol_schema(_args: argparse.Namespace) -> int:
    from protocol import json_schema

    json.dump(json_schema(), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


def _cmd_edge(args: argparse.Namespace) -> int:
    from edge_agent import EdgeSettings, run_edge

    overrides = {"config": args.config, **({"log_level": args.log_level} if args.log_level else {})}
    return run_edge(EdgeSettings(**overrides))


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

    edge = commands.add_parser("edge", help="run the edge agent of one gateway")
    edge.add_argument("--config", required=True, metavar="FILE", help="gateway config (TOML)")
    edge.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    edge.set_defaults(handler=_cmd_edge)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``linli`` console script."""
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    return handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
