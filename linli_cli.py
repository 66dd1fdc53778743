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


def _cmd_sim(args: argparse.Namespace) -> int:
    from firmware_sims.cli import main as sim_main

    return sim_main(args)


def _add_sim(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sim = commands.add_parser(
        "sim",
        help="run a simulated device fleet against an MQTT broker",
        description="Simulate gateways and their devices on an accelerated clock, publishing "
        "straight to MQTT. Settings also come from LINLI_SIM_* environment variables.",
    )
    source = sim.add_mutually_exclusive_group()
    source.add_argument("--registry", metavar="FILE", help="registry YAML (default: demo centres)")
    source.add_argument("--generate", type=int, metavar="SITES", help="generate SITES centres")
    sim.add_argument("--rooms-per-site", type=int, default=8, metavar="N")
    sim.add_argument("--broker", metavar="HOST:PORT", help="MQTT broker (default 127.0.0.1:1883)")
    sim.add_argument("--speed", type=float, help="simulated seconds per real second (default 60)")
    sim.add_argument("--start", metavar="ISO", help="simulated start time (default: now)")
    sim.add_argument(
        "--anchor", metavar="ISO", help="wall-clock time at which the simulated clock reads --start"
    )
    sim.add_argument("--duration", metavar="DUR", help="simulated time to run (10m, 7d…)")
    sim.add_argument(
        "--scenario",
        action="append",
        default=[],
        metavar="NAME[@OFFSET]",
        help="built-in scenario or scenario YAML file, optionally after OFFSET (repeatable)",
    )
    sim.add_argument("--site", help="site the built-in scenarios act on")
    sim.add_argument("--seed", type=int, help="random seed (default 0)")
    sim.add_argument("--mqtt", choices=["5", "3.1.1"], help="MQTT protocol version (default 5)")
    sim.add_argument("--list-scenarios", action="store_true", help="list built-in scenarios")
    sim.add_argument("--no-progress", action="store_true", help="no progress line")
    sim.set_defaults(handler=_cmd_sim)


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
    _add_sim(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``linli`` console script."""
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    return handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
