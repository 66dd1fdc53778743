"""``python -m ingest_server``: the same as ``linli server``."""

import sys

from linli_cli import main

raise SystemExit(main(["server", *sys.argv[1:]]))
