"""The generator's files: formats, permissions, re-runs that keep passwords, rotation, and
clear refusals."""

from __future__ import annotations

import io
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest_server.broker_acl import (
    AclUsageError,
    CredentialsError,
    OutputError,
    RegistrySourceError,
    generate,
    hash_line,
    load_registry,
    read_credentials,
    run_mqtt_acl,
    verify_line,
)
from rules import Registry, parse_registry
from tests.mqtt_security.conftest import GW_A, GW_B, REGISTRY_YAML, SITE_A

GW_NEW = "sec-a-gw2"


def _registry(extra_gateway: bool = False, drop_b: bool = False) -> Registry:
    text = REGISTRY_YAML
    if extra_gateway:
        text = text.replace(
            f"gateways: [{{id: {GW_A},", f"gateways: [{{id: {GW_NEW}}}, {{id: {GW_A},"
        )
    registry = parse_registry(text, "test")
    if drop_b:
        registry = Registry(sites=tuple(s for s in registry.sites if s.id == SITE_A))
    return registry


def _passwd_lines(directory: Path) -> dict[str, str]:
    lines = (directory / "passwd").read_text().splitlines()
    return {line.split(":", 1)[0]: line for line in lines}


def test_files_are_private_and_consistent(tmp_path: Path) -> None:
    result = generate(_registry(), tmp_path / "out", source="test")
    for path in result.paths.values():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    credentials = read_credentials(tmp_path / "out" / "credentials")
    assert set(credentials) == {"linli-server", GW_A, GW_B}
    lines = _passwd_lines(tmp_path / "out")
    for user, password in credentials.items():
        assert len(password) >= 32
        assert verify_line(lines[user], password)
        assert not verify_line(lines[user], password + "x")
    acl = (tmp_path / "out" / "acl").read_text()
    assert f"user {GW_A}\ntopic write linli/v1/{SITE_A}/{GW_A}/up/#\n" in acl
    assert f"topic read linli/v1/{SITE_A}/{GW_A}/down/#\n" in acl
    # Nothing precedes the first user: anonymous clients are granted nothing.
    assert all(line.startswith("#") or not line for line in acl.split("\nuser ")[0].splitlines())
    assert list(tmp_path.joinpath("out").glob(".*")) == []  # no temporary files left behind


def test_rerun_keeps_passwords_adds_new_and_drops_removed_gateways(tmp_path: Path) -> None:
    first = generate(_registry(), tmp_path, source="test")
    before = read_credentials(tmp_path / "credentials")
    second = generate(_registry(extra_gateway=True, drop_b=True), tmp_path, source="test")
    after = read_credentials(tmp_path / "credentials")
    assert first.created == ("linli-server", GW_A, GW_B)
    assert second.created == (GW_NEW,)
    assert second.removed == (GW_B,)
    assert set(second.kept) == {"linli-server", GW_A}
    assert after[GW_A] == before[GW_A]
    assert after["linli-server"] == before["linli-server"]
    assert GW_B not in after
    assert GW_B not in _passwd_lines(tmp_path)
    assert f"user {GW_B}" not in (tmp_path / "acl").read_text()
    assert "removed (1): sec-b-gw1" in second.summary()


def test_rotate_replaces_one_password(tmp_path: Path) -> None:
    generate(_registry(), tmp_path, source="test")
    before = read_credentials(tmp_path / "credentials")
    result = generate(_registry(), tmp_path, source="test", rotate=[GW_A])
    after = read_credentials(tmp_path / "credentials")
    assert result.rotated == (GW_A,)
    assert after[GW_A] != before[GW_A]
    assert after[GW_B] == before[GW_B]
    assert verify_line(_passwd_lines(tmp_path)[GW_A], after[GW_A])
    assert not verify_line(_passwd_lines(tmp_path)[GW_A], before[GW_A])


def test_password_lines_match_mosquitto_passwd(tmp_path: Path) -> None:
    """Both directions: our verifier accepts mosquitto_passwd's line, and mosquitto_passwd's
    format is what we write (same fields, salt and key sizes)."""
    tool = shutil.which("mosquitto_passwd")
    assert tool is not None, "mosquitto_passwd is part of Debian's mosquitto package"
    path = tmp_path / "theirs"
    path.touch()
    subprocess.run([tool, "-b", str(path), "gw", "s3cret"], check=True)
    theirs = path.read_text().strip()
    assert verify_line(theirs, "s3cret")
    assert not verify_line(theirs, "s3cre")
    ours = hash_line("gw", "s3cret")
    assert [len(p) for p in ours.split("$")] == [len(p) for p in theirs.split("$")]
    assert ours.split("$")[:3] == theirs.split("$")[:3]  # "gw:", "7", "101"


def test_missing_registry_is_refused_with_its_name(tmp_path: Path) -> None:
    with pytest.raises(RegistrySourceError, match=r"cannot read registry file .*nope\.yaml"):
        load_registry(tmp_path / "nope.yaml")


def test_invalid_registry_names_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "registry.yaml"
    path.write_text(REGISTRY_YAML.replace(f"id: {GW_B}", "id: 'bad gateway id'"))
    err = io.StringIO()
    status = run_mqtt_acl(tmp_path / "out", registry_path=path, out=io.StringIO(), err=err)
    assert status == 2
    message = err.getvalue()
    assert str(path) in message
    assert "gateways" in message
    assert "id" in message
    assert not (tmp_path / "out").exists()


def test_unwritable_output_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(OutputError, match="a-file"):
        generate(_registry(), blocker, source="test")
    with pytest.raises(OutputError, match="a-file"):
        generate(_registry(), blocker / "below", source="test")


def test_malformed_credentials_name_the_line(tmp_path: Path) -> None:
    (tmp_path / "credentials").write_text("# comment\nlinli-server:abc\nno separator here\n")
    with pytest.raises(CredentialsError, match=r"credentials:3: expected 'user:password'"):
        generate(_registry(), tmp_path, source="test")


def test_name_clashes_and_unknown_rotation_are_refused(tmp_path: Path) -> None:
    with pytest.raises(AclUsageError, match=f"{GW_A!r} is used by the server and the gateway"):
        generate(_registry(), tmp_path, source="test", server_user=GW_A)
    with pytest.raises(AclUsageError, match="--notify-user"):
        generate(_registry(), tmp_path, source="test", notify_user="has space")
    with pytest.raises(AclUsageError, match="--rotate nobody: no such user"):
        generate(_registry(), tmp_path, source="test", rotate=["nobody"])
    assert list(tmp_path.iterdir()) == []


def test_cli_demo_registry(tmp_path: Path) -> None:
    from linli_cli import main

    assert main(["mqtt-acl", "--demo", "--out", str(tmp_path)]) == 0
    credentials = read_credentials(tmp_path / "credentials")
    assert "linli-server" in credentials
    assert len(credentials) > 2


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=200))
def test_reading_arbitrary_credentials_never_crashes(text: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "credentials"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            found = read_credentials(path)
        except CredentialsError:
            return
        for user, password in found.items():
            assert user
            assert password
            assert ":" not in user
