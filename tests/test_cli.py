from __future__ import annotations

import json
import subprocess
import sys

import jsonschema

from tests.protocol.factories import batch


def test_protocol_schema_prints_a_valid_json_schema_that_accepts_real_payloads() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "linli_cli", "protocol", "schema"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    schema = json.loads(out)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert {"ReadingBatch", "AlarmEvent", "GatewayStatus", "SmokeReading"} <= set(schema["$defs"])
    batch_schema = {"$defs": schema["$defs"], **schema["$defs"]["ReadingBatch"]}
    jsonschema.validate(json.loads(json.dumps(batch())), batch_schema)


def test_help_lists_only_working_commands() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "linli_cli", "--help"], check=True, capture_output=True, text=True
    ).stdout
    assert "protocol" in out
