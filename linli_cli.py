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


def _norms_compliance(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rules import PackError, RegistryError, evaluate_compliance, parse_registry

    try:
        registry = parse_registry(Path(args.registry).read_text(encoding="utf-8"), args.registry)
        sites = [s for s in registry.sites if args.site is None or s.id == args.site]
        if not sites:
            print(f"{args.registry}: no site {args.site!r}", file=sys.stderr)
            return 2
        reports = [evaluate_compliance(site) for site in sites]
    except (OSError, RegistryError, PackError) as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.json:
        json.dump([r.model_dump(mode="json") for r in reports], sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    for report in reports:
        print(report.as_text())
    return 0


def _cmd_edge(args: argparse.Namespace) -> int:
    from edge_agent import EdgeSettings, run_edge

    overrides = {"config": args.config, **({"log_level": args.log_level} if args.log_level else {})}
    return run_edge(EdgeSettings(**overrides))


def _cmd_server(args: argparse.Namespace) -> int:
    from ingest_server import serve

    return serve(host=args.host, port=args.port, registry=args.registry, log_level=args.log_level)


def _cmd_verify_log(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ingest_server.inspection_log import InspectionSettings
    from ingest_server.inspection_log._cli import run_verify_log

    return run_verify_log(
        settings=InspectionSettings(),
        db=args.db,
        site=args.site,
        file=Path(args.file) if args.file else None,
        head=Path(args.head) if args.head else None,
        emit_head=Path(args.emit_head) if args.emit_head else None,
        public_key=Path(args.public_key) if args.public_key else None,
    )


def _cmd_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ingest_server.inspection_log import InspectionSettings
    from ingest_server.inspection_log._cli import run_export

    names = dict(pair.split("=", 1) for pair in args.site_name)
    return run_export(
        settings=InspectionSettings(),
        db=args.db,
        site=None if args.all_sites else args.site,
        start=args.start,
        end=args.end,
        categories=args.category,
        fmt=args.format,
        lang=args.lang,
        out_path=Path(args.out),
        site_names=names,
    )


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


def _cmd_demo(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from linli_demo import DemoOptions, run_demo

    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    options = DemoOptions(
        data_dir=args.data_dir,
        http_host=args.host,
        http_port=args.port,
        broker=args.broker,
        speed=args.speed,
        seed=args.seed,
        run_for_s=args.run_for,
    )
    return asyncio.run(run_demo(options))


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

    demo = commands.add_parser(
        "demo", help="broker, server, simulated centres and dashboard on this machine"
    )
    demo.add_argument("--host", default="127.0.0.1", help="HTTP address (default 127.0.0.1)")
    demo.add_argument("--port", type=int, default=8080, help="HTTP port (default 8080)")
    demo.add_argument(
        "--broker",
        choices=["auto", "mosquitto", "amqtt"],
        default="auto",
        help="embedded broker: a local mosquitto if installed (auto), or amqtt in-process",
    )
    demo.add_argument("--speed", type=float, default=3.0, help="clock speed (default 3×)")
    demo.add_argument("--seed", type=int, default=1, help="simulation seed")
    demo.add_argument("--data-dir", type=Path, help="keep the demo's data here (default: temp)")
    demo.add_argument("--run-for", type=float, metavar="S", help="stop after S seconds")
    demo.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING"])
    demo.set_defaults(handler=_cmd_demo)

    proto = commands.add_parser("protocol", help="the MQTT wire protocol")
    proto_cmds = proto.add_subparsers(metavar="ACTION", required=True)
    schema = proto_cmds.add_parser("schema", help="print the JSON Schema of every message")
    schema.set_defaults(handler=_protocol_schema)

    norms = commands.add_parser("norms", help="facility norms of the jurisdiction packs")
    norms_cmds = norms.add_subparsers(metavar="ACTION", required=True)
    check = norms_cmds.add_parser("check", help="check registry sites against their packs")
    check.add_argument("registry", help="registry YAML file")
    check.add_argument("--site", help="only this site id")
    check.add_argument("--json", action="store_true", help="print the reports as JSON")
    check.set_defaults(handler=_norms_compliance)

    edge = commands.add_parser("edge", help="run the edge agent of one gateway")
    edge.add_argument("--config", required=True, metavar="FILE", help="gateway config (TOML)")
    edge.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    edge.set_defaults(handler=_cmd_edge)

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

    verify = commands.add_parser(
        "verify-log",
        help="verify an inspection log's hash chain (database or JSON export)",
        description="Exit status 0 when the chain verifies, 1 naming the first bad entry.",
    )
    source = verify.add_mutually_exclusive_group(required=True)
    source.add_argument("--db", help="records database URL, e.g. sqlite:///var/linli.db")
    source.add_argument("--file", help="a JSON export to verify offline")
    verify.add_argument("--site", help="site id (with --db)")
    verify.add_argument("--head", help="an earlier signed head the chain must extend")
    verify.add_argument("--emit-head", help="write the signed head here after verifying (--db)")
    verify.add_argument("--public-key", help="Ed25519 public key (PEM) to check --head with")
    verify.set_defaults(handler=_cmd_verify_log)

    export = commands.add_parser("export", help="export an inspection log as CSV, JSON or PDF")
    export.add_argument("--db", required=True, help="records database URL")
    which = export.add_mutually_exclusive_group(required=True)
    which.add_argument("--site", help="site id")
    which.add_argument("--all-sites", action="store_true", help="every site")
    export.add_argument("--from", dest="start", help="YYYY-MM-DD (local) or ISO datetime")
    export.add_argument("--to", dest="end", help="YYYY-MM-DD inclusive, or ISO datetime")
    export.add_argument("--category", action="append", default=[], help="repeatable filter")
    export.add_argument("--format", choices=("csv", "json", "pdf"), default="csv")
    export.add_argument("--lang", choices=("zh", "en"), default="zh")
    export.add_argument("--site-name", action="append", default=[], metavar="ID=NAME")
    export.add_argument("--out", required=True, help="output file")
    export.set_defaults(handler=_cmd_export)

    _add_sim(commands)

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
