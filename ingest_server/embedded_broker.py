"""The broker of the embedded deployment: a local Mosquitto when one is installed, else amqtt.

The demo needs an MQTT broker with nothing installed but the Python package. Mosquitto is
preferred (MQTT 5, persistence, Linli's shipped tuning from ``deploy/mosquitto/conf.d``); amqtt
runs in-process on its own thread and event loop otherwise. amqtt speaks MQTT 3.1.1 only,
delivers retained messages to clients that never subscribed to them and upgrades QoS 0 to 1;
Linli's consumer ignores topics it did not ask for, so it copes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Literal

__all__ = ["BrokerStartError", "EmbeddedBroker", "free_port", "mosquitto_config"]

log = logging.getLogger(__name__)

_CONF_D = Path(__file__).resolve().parent.parent / "deploy" / "mosquitto" / "conf.d"
# Mosquitto answers within ~10 ms and amqtt within ~15 ms here; 10 s covers a slow machine.
_START_TIMEOUT_S = 10.0


class BrokerStartError(RuntimeError):
    """The embedded broker could not be started."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def mosquitto_config(host: str, port: int, data_dir: Path) -> str:
    """A local Mosquitto config: one loopback listener, persistence under ``data_dir``, and
    Linli's shipped tuning (deploy/mosquitto/conf.d) included, so what runs is what ships."""
    lines = [
        f"listener {port} {host}",
        "allow_anonymous true",
        "persistence true",
        f"persistence_location {data_dir}/",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        # Started as root, Mosquitto would drop to the 'mosquitto' user, who cannot write here.
        *(["user root"] if os.geteuid() == 0 else []),
        *([f"include_dir {_CONF_D}"] if _CONF_D.is_dir() else []),
    ]
    return "\n".join(lines) + "\n"


def _answers(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def _amqtt_connection_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """amqtt 0.12 lets some errors of one client connection escape its handler (e.g. its
    subscription table changing while a new session is set up, when many clients connect at
    once). The broker goes on and the client reconnects (edge agents lose nothing: their outbox
    keeps every reading until acked), so say what happened in one line instead of a traceback."""
    exc = context.get("exception")
    log.warning(
        "embedded amqtt broker: a client connection failed (%s: %s); the client will reconnect",
        type(exc).__name__ if exc else "error",
        exc if exc else context.get("message"),
    )


class EmbeddedBroker:
    """Start and stop a local broker on ``host:port`` with its data under ``data_dir``."""

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        prefer: Literal["auto", "mosquitto", "amqtt"] = "auto",
    ) -> None:
        self.data_dir = data_dir
        self.host = host
        self.port = port or free_port(host)
        self.prefer = prefer
        self.kind: Literal["mosquitto", "amqtt"] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broker: Any = None

    def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        if _answers(self.host, self.port):
            raise BrokerStartError(f"port {self.host}:{self.port} is already in use")
        mosquitto = shutil.which("mosquitto", path=f"{os.environ.get('PATH', '')}:/usr/sbin")
        if self.prefer == "mosquitto" or (self.prefer == "auto" and mosquitto):
            if mosquitto is None:
                raise BrokerStartError("mosquitto is not installed (apt-get install mosquitto)")
            self._start_mosquitto(mosquitto)
        else:
            # amqtt is listening once its start() returned; a raw TCP probe would only make it
            # log a bogus client error and leak that connection's socket.
            self._start_amqtt()
            log.info("embedded broker (amqtt) listening on %s:%d", self.host, self.port)
            return
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not _answers(self.host, self.port):
            if self._proc is not None and self._proc.poll() is not None:
                raise BrokerStartError(f"mosquitto exited with {self._proc.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerStartError(f"{self.kind} did not answer in {_START_TIMEOUT_S} s")
            time.sleep(0.01)
        log.info("embedded broker (%s) listening on %s:%d", self.kind, self.host, self.port)

    def _start_mosquitto(self, binary: str) -> None:
        self.kind = "mosquitto"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "mosquitto.conf"
        config.write_text(mosquitto_config(self.host, self.port, self.data_dir))
        log_file = (self.data_dir / "mosquitto.log").open("ab")
        self._proc = subprocess.Popen(  # noqa: S603 - fixed argument list
            [binary, "-c", str(config)], stdout=log_file, stderr=subprocess.STDOUT
        )
        log_file.close()

    def _start_amqtt(self) -> None:
        self.kind = "amqtt"
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            loop.set_exception_handler(_amqtt_connection_error)
            self._loop = loop
            try:
                loop.run_until_complete(self._amqtt_start())
            except Exception as exc:  # reported to the starting thread below
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._amqtt_stop())
            loop.close()

        self._thread = threading.Thread(target=run, name="amqtt-broker", daemon=True)
        self._thread.start()
        ready.wait(_START_TIMEOUT_S)
        if failure:
            raise BrokerStartError(f"amqtt failed to start: {failure[0]}") from failure[0]

    async def _amqtt_start(self) -> None:
        from amqtt.broker import Broker

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
            },
        }
        self._broker = Broker(config)
        await self._broker.start()

    async def _amqtt_stop(self) -> None:
        await self._broker.shutdown()
        # amqtt leaves its client handlers running after shutdown; end them so their sockets close.
        current = asyncio.current_task()
        pending = [t for t in asyncio.all_tasks() if t is not current]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        # Connections of clients that were still attached are not closed by amqtt either; the
        # selector loop's transport table is the only place that still knows them.
        transports = getattr(asyncio.get_running_loop(), "_transports", {})
        for transport in list(transports.values()):
            if transport is not None and not transport.is_closing():
                transport.close()
        await asyncio.sleep(0)

    def stop(self) -> None:
        """Stop the broker; Mosquitto writes its persistent state on the way out."""
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        if self._loop is not None and self._thread is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop = None
            self._thread = None

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
