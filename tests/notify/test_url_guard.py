"""Webhook-style channels never reach internal addresses unless the allow-list names them:
refused at configuration for literal addresses, and at send time after resolution."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from ingest_server.notify import (
    ChannelWorker,
    DeliveryFailed,
    DingTalkNotifier,
    FeishuNotifier,
    Notification,
    NotificationKind,
    NotifySettings,
    RetryPolicy,
    UrlGuard,
    UrlRefused,
    WebhookNotifier,
    WeComNotifier,
    build_channels,
    internal_reason,
    render,
)
from tests.notify.conftest import make_alert
from tests.notify.receivers import HttpReceiver, Request
from tests.rules.live.factories import T0

INTERNAL = {
    "127.0.0.1": "loopback",
    "127.8.9.10": "loopback",
    "::1": "loopback",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "192.168.1.1": "private",
    "fc00::1": "private",
    "169.254.169.254": "link-local",  # cloud metadata service
    "fe80::1": "link-local",
    "224.0.0.1": "multicast",
    "ff02::1": "multicast",
    "0.0.0.0": "unspecified",
    "::": "unspecified",
    "240.0.0.1": "reserved",
    "100.64.0.1": "non-global",  # carrier-grade NAT shared space
    "::ffff:127.0.0.1": "loopback",  # IPv4-mapped
    "::ffff:10.0.0.1": "private",
    "64:ff9b::a00:1": "private",  # NAT64 of 10.0.0.1
    "2002:7f00:1::": "loopback",  # 6to4 of 127.0.0.1
}
PUBLIC = ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "203.119.0.1"]


def _notification() -> Notification:
    alert = make_alert()
    title, text = render(NotificationKind.FIRED, alert, "zh-CN")
    return Notification(
        kind=NotificationKind.FIRED,
        route="duty",
        language="zh-CN",
        title=title,
        text=text,
        at=T0,
        alert=alert,
    )


@pytest.mark.parametrize(("address", "reason"), INTERNAL.items())
def test_internal_addresses_are_classified(address: str, reason: str) -> None:
    assert internal_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert internal_reason(ipaddress.ip_address(address)) is None


LITERAL_URLS = [
    "http://127.0.0.1:8080/hook",
    "http://[::1]/hook",
    "http://[::ffff:10.0.0.1]/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://2130706433/hook",  # 127.0.0.1 as one decimal number
    "http://0x7f.1/hook",  # and in hex shorthand
    "http://localhost:8080/hook",
    "http://alerts.localhost/hook",
    "https://192.168.0.10/cgi-bin/webhook/send?key=k",
]


@pytest.mark.parametrize("url", LITERAL_URLS)
@pytest.mark.parametrize("kind", ["webhook", "wecom", "dingtalk", "feishu"])
def test_internal_literal_urls_are_refused_at_configuration(url: str, kind: str) -> None:
    with pytest.raises(ValidationError, match=r"channel 'duty': refused to send to .*address"):
        NotifySettings.model_validate({"channels": [{"type": kind, "name": "duty", "url": url}]})


def test_the_allow_list_permits_named_internal_targets() -> None:
    settings = NotifySettings.model_validate(
        {
            "channels": [
                {"type": "webhook", "name": "a", "url": "http://127.0.0.1:9000/hook"},
                {"type": "webhook", "name": "b", "url": "http://10.20.0.5/hook"},
                {"type": "wecom", "name": "c", "url": "http://Hooks.Intranet./send?key=k"},
                {"type": "feishu", "name": "d", "url": "http://[::ffff:10.20.0.6]/hook"},
            ],
            "url_allow_list": ["127.0.0.1", "10.20.0.0/16", "hooks.intranet"],
        }
    )
    assert len(build_channels(settings)) == 4
    public = NotifySettings.model_validate(
        {
            "channels": [
                {
                    "type": "dingtalk",
                    "name": "ding",
                    "url": "https://oapi.dingtalk.com/robot/send?access_token=t",
                }
            ]
        }
    )
    assert public.url_allow_list == ()


@pytest.mark.parametrize("entry", ["http://x.example/", "", "a b", "host:80", "user@host"])
def test_malformed_allow_list_entries_are_refused(entry: str) -> None:
    with pytest.raises(ValidationError, match="url_allow_list entry"):
        NotifySettings.model_validate({"url_allow_list": [entry]})


def test_direct_construction_is_guarded_too() -> None:
    with pytest.raises(UrlRefused, match="loopback"):
        WebhookNotifier("hook", "http://127.0.0.1/hook")
    with pytest.raises(UrlRefused, match="private"):
        DingTalkNotifier("ding", "http://10.0.0.1/robot/send")


def _resolving_to(*addresses: str) -> Callable[[str, int], object]:
    async def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


async def test_a_name_resolving_to_an_internal_address_is_refused_at_send_time(
    http_receiver: Callable[..., HttpReceiver], caplog: pytest.LogCaptureFixture
) -> None:
    receiver = http_receiver("ok")
    port = receiver.url.split(":")[2].split("/")[0]
    # A public-looking name whose DNS answer is internal (or changed to it: rebinding).
    guard = UrlGuard(resolver=_resolving_to("127.0.0.1"))  # type: ignore[arg-type]
    notifier = WebhookNotifier("hook", f"http://hooks.example.com:{port}/hook", url_guard=guard)
    with (
        caplog.at_level(logging.WARNING, logger="ingest_server.notify._http"),
        pytest.raises(
            DeliveryFailed, match=re.escape("hooks.example.com resolves to 127.0.0.1")
        ) as err,
    ):
        await notifier.send(_notification())
    await notifier.aclose()
    assert not err.value.retryable
    assert "loopback address" in err.value.reason
    assert receiver.requests == []
    assert "notify channel hook: refused to send to hooks.example.com" in caplog.text


async def test_one_internal_address_among_public_ones_is_refused(
    http_receiver: Callable[..., HttpReceiver],
) -> None:
    receiver = http_receiver("ok")
    port = receiver.url.split(":")[2].split("/")[0]
    guard = UrlGuard(resolver=_resolving_to("8.8.8.8", "10.0.0.7"))  # type: ignore[arg-type]
    notifier = WeComNotifier("wecom", f"http://hooks.example.com:{port}/x", url_guard=guard)
    with pytest.raises(DeliveryFailed, match=re.escape("resolves to 10.0.0.7: private address")):
        await notifier.send(_notification())
    await notifier.aclose()


async def test_the_connection_goes_to_the_checked_address(
    http_receiver: Callable[..., HttpReceiver],
) -> None:
    """hooks.example.com does not resolve to this receiver in real DNS: the request arriving
    proves the client connected to the address the guard checked, not to a second lookup."""
    receiver = http_receiver("robot", robot_answer=lambda _r: {"code": 0})
    port = receiver.url.split(":")[2].split("/")[0]
    for entry in ("hooks.example.com", "127.0.0.0/8"):
        guard = UrlGuard([entry], resolver=_resolving_to("127.0.0.1"))  # type: ignore[arg-type]
        notifier = FeishuNotifier("feishu", f"http://hooks.example.com:{port}/x", url_guard=guard)
        await notifier.send(_notification())
        await notifier.aclose()
    assert len(receiver.requests) == 2
    assert all(r.headers["host"] == f"hooks.example.com:{port}" for r in receiver.requests)


class RedirectReceiver(HttpReceiver):
    """Answers every POST with a redirect to the cloud metadata address."""

    def _answer(self, handler: BaseHTTPRequestHandler, request: Request) -> None:
        handler.send_response(307)
        handler.send_header("Location", "http://169.254.169.254/latest/meta-data/")
        handler.send_header("Content-Length", "0")
        handler.end_headers()


async def test_redirects_are_not_followed() -> None:
    receiver = RedirectReceiver("redirect")
    receiver.start()
    try:
        notifier = WebhookNotifier("hook", receiver.url, url_guard=UrlGuard(["127.0.0.1"]))
        with pytest.raises(DeliveryFailed, match=r"HTTP 307: redirect to .*169\.254\.169\.254"):
            await notifier.send(_notification())
        await notifier.aclose()
        assert len(receiver.requests) == 1
    finally:
        receiver.stop()


@pytest.mark.allow_error_logs
async def test_a_refusal_counts_as_a_failed_delivery(
    http_receiver: Callable[..., HttpReceiver], caplog: pytest.LogCaptureFixture
) -> None:
    receiver = http_receiver("ok")
    port = receiver.url.split(":")[2].split("/")[0]
    guard = UrlGuard(resolver=_resolving_to("169.254.169.254"))  # type: ignore[arg-type]
    notifier = WebhookNotifier("hook", f"http://hooks.example.com:{port}/h", url_guard=guard)
    worker = ChannelWorker(notifier, RetryPolicy(max_attempts=5, backoff_base_s=0))
    task = asyncio.create_task(worker.run())
    worker.offer(_notification())
    await asyncio.wait_for(worker.join(), 10)
    task.cancel()
    await notifier.aclose()
    stats = worker.stats()
    # Not retried: the address will not become public by trying again.
    assert (stats.sent, stats.failed_attempts, stats.given_up) == (0, 1, 1)
    assert stats.last_error is not None
    assert "link-local address" in stats.last_error
    assert "gave up" in caplog.text
    assert receiver.requests == []


@given(st.ip_addresses())
def test_every_address_is_either_public_or_refused_unless_allowed(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    reason = internal_reason(ip)
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    url = f"http://{host}/hook"
    if reason is None:
        UrlGuard().check_url(url)
    else:
        with pytest.raises(UrlRefused, match=reason):
            UrlGuard().check_url(url)
        UrlGuard([f"{ip}/{ip.max_prefixlen}"]).check_url(url)
