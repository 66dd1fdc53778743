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


def _cmd_rules_check(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ingest_server.alerts import DEFAULT_PACK_DIR, check_packs

    report = check_packs(
        Path(args.dir) if args.dir else DEFAULT_PACK_DIR,
        Path(args.registry) if args.registry else None,
    )
    for error in report.errors:
        print(error, file=sys.stderr)
    for pack in report.packs.values():
        print(f"{pack.id} {pack.version}: {len(pack.rules)} rules ({pack.source})")
    return 1 if report.errors else 0


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

    rules_cmd = commands.add_parser("rules", help="live rule packs")
    rules_cmds = rules_cmd.add_subparsers(metavar="ACTION", required=True)
    check = rules_cmds.add_parser("check", help="validate the live rule packs")
    check.add_argument("--dir", help="pack directory (default: the shipped packs)")
    check.add_argument("--registry", help="registry YAML to check room references against")
    check.set_defaults(handler=_cmd_rules_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``linli`` console script."""
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    return handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
