"""The InfluxDB adapter against an influxd with authentication on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest_server import StoreError
from ingest_server.store import InfluxStore
from tests.ingest_server.factories import T0, smoke, stored
from tests.services import InfluxDB, ServiceUnavailable


class AuthInfluxDB(InfluxDB):
    """The harness's influxd with HTTP authentication enabled."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        text = self.config_path.read_text()
        self.config_path.write_text(text.replace("[http]\n", "[http]\n  auth-enabled = true\n"))


@pytest.fixture
def auth_influxdb(tmp_path: Path) -> Iterator[AuthInfluxDB]:
    server = AuthInfluxDB(tmp_path / "influxd-auth")
    try:
        server.start()
    except ServiceUnavailable as exc:
        pytest.fail(f"real service unavailable: {exc}", pytrace=False)
    # With no user yet, influxd accepts creating the first admin without credentials.
    server.query("CREATE USER admin WITH PASSWORD 's3cret' WITH ALL PRIVILEGES", method="POST")
    yield server
    server.stop()


def test_user_and_password_authenticate_writes_and_queries(
    auth_influxdb: AuthInfluxDB, tmp_path: Path
) -> None:
    store = InfluxStore(
        auth_influxdb.url,
        "linli",
        spool_path=tmp_path / "spool.db",
        username="admin",
        password="s3cret",
    )
    try:
        store.create_database()
        store.write([stored(smoke("s-1", "smk-1", T0))])
        assert store.wait_flushed(20)
        assert [s.id for s in store.latest()] == ["s-1"]
    finally:
        store.close()


def test_wrong_password_keeps_points_spooled_and_queries_fail_clearly(
    auth_influxdb: AuthInfluxDB, tmp_path: Path
) -> None:
    store = InfluxStore(
        auth_influxdb.url,
        "linli",
        spool_path=tmp_path / "spool.db",
        username="admin",
        password="wrong",
    )
    try:
        store.write([stored(smoke("s-1", "smk-1", T0))])
        assert not store.wait_flushed(1.5)
        assert store.spool_depth() == 1
        with pytest.raises(StoreError, match="authorization failed"):
            store.latest()
    finally:
        store.close()
