"""Which addresses MRRX may send webhooks to (SPEC section 6).

A merchant chooses the URL, so a URL is untrusted input that could point the worker at
the cloud metadata service or an internal database. Every send resolves the host, refuses
it when any address is not a public unicast one, and then connects to the address that
was checked (``webhooks.transport``), so a second DNS answer cannot differ from the first.
Numeric host forms (``2130706433``, ``0x7f.1``, ``017700000001``) are caught because the
resolver turns them into the dotted address that is then checked.
"""

from __future__ import annotations

import ipaddress
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_ULA = ipaddress.IPv6Network("fc00::/7")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class AddressRefused(Exception):
    """The URL's host is, or resolves to, an address MRRX does not send to."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, NAT64), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def refusal_reason(ip: IPAddress, *, allow_loopback: bool) -> str | None:
    """Why MRRX must not connect to ``ip``, or None when it may."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            reason = refusal_reason(embedded, allow_loopback=allow_loopback)
            return f"{reason} (embedded in {ip})" if reason else None
    if ip.is_loopback:
        return None if allow_loopback else "loopback address"
    if ip.is_unspecified:
        return "unspecified address"
    if ip.is_link_local:
        return "link-local address"
    if ip.is_multicast:
        return "multicast address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "shared address space (100.64.0.0/10)"
    if isinstance(ip, ipaddress.IPv6Address) and ip in _ULA:
        return "IPv6 unique local address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "IPv6 site-local address"
    if ip.is_private:
        return "private address"
    if ip.is_reserved:
        return "reserved address"
    if not ip.is_global:
        return "address that is not globally routable"
    return None


def literal_address(host: str) -> IPAddress | None:
    """``host`` as an IP address when it is written as one (brackets allowed)."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def resolve(host: str, port: int, *, allow_loopback: bool) -> str:
    """Resolve ``host`` and return the address to connect to, or raise ``AddressRefused``.

    Every address the name resolves to must be allowed: a name that answers with a
    public and a private address is refused rather than raced.
    """
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise AddressRefused(f"cannot resolve {host}: {exc}") from None
    addresses: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        address = str(sockaddr[0])
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        reason = refusal_reason(ip, allow_loopback=allow_loopback)
        if reason:
            shown = host if host == address else f"{host} ({address})"
            raise AddressRefused(f"refused to connect to {shown}: {reason}")
        addresses.append(address)
    if not addresses:
        raise AddressRefused(f"cannot resolve {host}: no addresses")
    return addresses[0]
