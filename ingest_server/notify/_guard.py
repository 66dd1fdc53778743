"""Keep webhook-style channels away from internal addresses (server-side request forgery).

A notification URL is configured by an administrator, but the server then posts to it from
inside the network: a URL naming ``127.0.0.1``, ``10.0.0.5`` or ``169.254.169.254`` (a cloud
metadata service) would turn the alert channel into a way to reach internal services. So, unless
an entry of the allow-list names the host or the address:

- at configuration time, a URL whose host is a literal internal address (any IPv4 spelling,
  IPv6, IPv4-mapped IPv6) or a ``localhost`` name is refused;
- at send time, the host is resolved here, every address is checked, and the connection goes to
  the checked address itself, so a DNS answer that changes between check and connect (DNS
  rebinding) cannot slip through;
- redirects are never followed (a public URL answering 30x to an internal one).

Internal means loopback, private, link-local, multicast, unspecified, reserved, or otherwise not
globally routable (shared address space, documentation ranges…); IPv4 embedded in IPv6 (mapped,
NAT64 ``64:ff9b::/96``, 6to4) is judged as the IPv4 address it carries.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import httpcore
import httpx

from ingest_server.notify._base import NotifyError

__all__ = ["UrlGuard", "UrlRefused", "check_urls", "guarded_client", "internal_reason"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SIXTOFOUR = ipaddress.IPv6Network("2002::/16")


class UrlRefused(NotifyError):
    """A URL (or the address its host resolves to) is internal and not on the allow-list.
    ``reason`` is the kind of address ("loopback", "private", …) or what else is wrong."""

    def __init__(self, host: str, reason: str, address: str | None = None) -> None:
        self.host = host
        self.address = address
        self.reason = reason
        where = f"{host} resolves to {address}" if address and address != host else host
        super().__init__(
            f"refused to send to {where}: {reason} address; internal targets must be listed "
            "in the notify settings' url_allow_list"
        )


def _embedded_ipv4(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if ip in _SIXTOFOUR and ip.sixtofour is not None:
            return ip.sixtofour
    return ip


def internal_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` is internal ("loopback", "private", …), or None for a public address."""
    ip = _embedded_ipv4(ip)
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("non-global", not ip.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def _literal_ip(host: str) -> IPAddress | None:
    """``host`` as an address if it is one in any spelling the resolver accepts (``127.1``,
    ``2130706433``, ``0x7f.0.0.1`` are all loopback to ``getaddrinfo``)."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _normal_host(host: str) -> str:
    return host.strip().rstrip(".").lower()


Resolver = Callable[[str, int], Awaitable[list[str]]]


async def _getaddrinfo(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
    addresses: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in addresses:
            addresses.append(address)
    return addresses


class UrlGuard:
    """The allow-list and the checks; ``entries`` are host names or addresses / CIDRs.
    ``resolver`` (host, port) -> addresses is the system's unless a test replaces it."""

    def __init__(self, entries: Iterable[str] = (), *, resolver: Resolver | None = None) -> None:
        self._resolver = resolver or _getaddrinfo
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = _normal_host(raw)
            if _is_network(entry):
                networks.append(ipaddress.ip_network(entry, strict=False))
            elif entry and not any(c in entry for c in "/:@?# "):
                hosts.add(entry)
            else:
                raise ValueError(
                    f"url_allow_list entry {raw!r}: give a host name, an address or a CIDR"
                )
        self.hosts = frozenset(hosts)
        self.networks = tuple(networks)

    def _allowed_ip(self, ip: IPAddress) -> bool:
        return any(ip in net for net in self.networks if ip.version == net.version) or any(
            _embedded_ipv4(ip) in net for net in self.networks if net.version == 4
        )

    def check_url(self, url: str) -> None:
        """Raise UrlRefused if the URL's host is literally internal, ValueError if the URL is
        not an http(s) URL with a host."""
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise ValueError(f"invalid URL {url[:200]!r}: {exc}") from None
        if parsed.scheme not in {"http", "https"} or not parsed.host:
            raise ValueError(f"{url[:200]!r} is not an http(s) URL with a host")
        self.check_host(parsed.host)

    def check_host(self, host: str) -> None:
        """Refuse ``host`` if it is a literal internal address or a localhost name."""
        name = _normal_host(host)
        if name in self.hosts:
            return
        if name == "localhost" or name.endswith(".localhost"):
            raise UrlRefused(host, "loopback")
        ip = _literal_ip(name)
        if ip is None or self._allowed_ip(ip):
            return
        reason = internal_reason(ip)
        if reason is not None:
            raise UrlRefused(host, reason)

    async def resolve(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for ``host``, all checked; raises UrlRefused if any is
        internal and not allowed, httpcore.ConnectError if the name does not resolve."""
        self.check_host(host)
        addresses = await self._resolver(host, port)
        if not addresses:
            raise httpcore.ConnectError(f"{host} resolves to no address")
        named = _normal_host(host) in self.hosts
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
            if named or self._allowed_ip(ip):
                continue
            reason = internal_reason(ip)
            if reason is not None:
                raise UrlRefused(host, reason, address)
        return addresses


def _is_network(entry: str) -> bool:
    try:
        ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False
    return True


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves and checks the host itself, then connects to the checked address."""

    def __init__(self, guard: UrlGuard) -> None:
        self._guard = guard
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._guard.resolve(host, port)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # resolve() never returns an empty list
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise UrlRefused(path, "unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def guarded_client(guard: UrlGuard, timeout_s: float) -> httpx.AsyncClient:
    """An AsyncClient that connects only where ``guard`` allows and never follows redirects.

    Proxies from the environment are ignored (``trust_env=False``): through a proxy the server
    could not see, let alone pin, the address it finally reaches.
    """
    transport = httpx.AsyncHTTPTransport()
    # httpx offers no public way to give its transport a network backend; its pool is
    # httpcore's, which does. The ssl context is httpx's default (certifi CAs).
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(), network_backend=_GuardedBackend(guard)
    )
    return httpx.AsyncClient(
        timeout=timeout_s, follow_redirects=False, trust_env=False, transport=transport
    )


def check_urls(guard: UrlGuard, urls: Sequence[tuple[str, str]]) -> None:
    """Check each (channel name, URL); raise ValueError naming the channel (settings)."""
    for name, url in urls:
        try:
            guard.check_url(url)
        except (UrlRefused, ValueError) as exc:
            raise ValueError(f"channel {name!r}: {exc}") from None
