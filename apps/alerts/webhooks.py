"""Webhook delivery that cannot be turned against the inside of the network, and signatures that cannot be replayed.

- A webhook URL may not point at a loopback, private, link-local, multicast, reserved or unspecified address: checked
  when the endpoint is saved (IP literals and names that resolve) and again at every send, after DNS resolution;
  the request then goes to that checked address (so a name cannot resolve to a public address at the check and to
  127.0.0.1 at the connect). Hosts named in RATEDESK["WEBHOOK_ALLOWED_PRIVATE_HOSTS"] (on-premises receivers) are
  exempt; the list is empty by default.
- Redirects are never followed (a 3xx fails the delivery).
- What is recorded about a failure is a fixed category ("connection failed", "timed out", "HTTP 503", ...), never
  the remote's own error text, so the deliveries list cannot be used as a port scanner.
- Signature: `X-Ratedesk-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" under the secret>`;
  a receiver recomputes it and refuses a timestamp older than a few minutes (see README).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import logging
import socket
import ssl
import time
from urllib.parse import urlsplit

from django.conf import settings

from apps.core.errors import ValidationFailed

log = logging.getLogger(__name__)
SIGNATURE_TOLERANCE_SECONDS = 300


class UnsafeDestination(Exception):
    """The URL points (or resolves) somewhere a webhook may not go."""


def allowed_private_hosts() -> set[str]:
    hosts = getattr(settings, "RATEDESK", {}).get("WEBHOOK_ALLOWED_PRIVATE_HOSTS", ()) or ()
    return {h.strip().lower().strip("[]") for h in hosts if h.strip()}


def forbidden_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved
        or not ip.is_global
    )


def _split(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeDestination("only http(s) URLs with a host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeDestination("bad port") from None
    return parts.scheme, parts.hostname.lower(), port


def resolve_checked(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, address to connect to) after DNS, or UnsafeDestination."""
    scheme, host, port = _split(url)
    exempt = host in allowed_private_hosts()
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        raise UnsafeDestination("the host name does not resolve") from None
    addresses = [info[4][0] for info in infos]
    if not addresses:
        raise UnsafeDestination("the host name does not resolve")
    if not exempt and any(forbidden_address(a) for a in addresses):
        raise UnsafeDestination(
            "the host resolves to a private, loopback, link-local, multicast or unspecified address"
        )
    return scheme, host, port, addresses[0]


def validate_webhook_url(url: str) -> None:
    """Save-time check (raises ValidationFailed on field "url"). An IP literal is checked as is; a name is checked
    when it resolves (a name that does not resolve yet is checked again at every send)."""
    try:
        scheme, host, port = _split(url)
    except UnsafeDestination:
        raise ValidationFailed("Enter an http(s) URL.", field="url") from None
    if host in allowed_private_hosts():
        return
    message = (
        "Webhooks may not point at loopback, private, link-local, multicast or unspecified addresses "
        "(set WEBHOOK_ALLOWED_PRIVATE_HOSTS for an on-premises receiver)."
    )
    try:
        if forbidden_address(host.strip("[]")):
            raise ValidationFailed(message, field="url", code="webhook_address_not_allowed")
        return
    except ValueError:
        pass  # a name, not an address
    try:
        resolve_checked(url)
    except UnsafeDestination as exc:
        if "does not resolve" not in str(exc):
            raise ValidationFailed(message, field="url", code="webhook_address_not_allowed") from None


def signature_header(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else int(timestamp)
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def verify_signature_header(
    secret: str, body: bytes, header: str, *, now: float | None = None, tolerance: int = SIGNATURE_TOLERANCE_SECONDS
) -> bool:
    """What a receiver does: parse t and v1, recompute, compare in constant time, refuse an old timestamp."""
    fields = dict(part.split("=", 1) for part in (header or "").split(",") if "=" in part)
    try:
        t = int(fields.get("t", ""))
    except ValueError:
        return False
    now = time.time() if now is None else now
    if abs(now - t) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields.get("v1", ""))


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host, port, address, timeout):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host, port, address, timeout):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class DeliveryFailure(Exception):
    def __init__(self, category: str, *, transient: bool, status: int | None = None):
        super().__init__(category)
        self.transient = transient
        self.status = status


def post(url: str, body: bytes, headers: dict, *, timeout: float) -> int:
    """POST to the checked, resolved address; no redirects. Returns the 2xx status or raises DeliveryFailure with a
    fixed category (the remote's own error text is only logged on the server)."""
    try:
        scheme, host, port, address = resolve_checked(url)
    except UnsafeDestination as exc:
        raise DeliveryFailure(f"refused: {exc}", transient=False) from None
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    cls = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    connection = cls(host, port, address, timeout)
    try:
        connection.request("POST", path, body=body, headers=headers)
        status = connection.getresponse().status
    except TimeoutError:
        raise DeliveryFailure("timed out", transient=True) from None
    except ssl.SSLError as exc:
        log.info("webhook TLS error for %s: %s", url, exc)
        raise DeliveryFailure("TLS error", transient=True) from None
    except (OSError, http.client.HTTPException) as exc:
        log.info("webhook connection error for %s: %s", url, exc)
        raise DeliveryFailure("connection failed", transient=True) from None
    finally:
        connection.close()
    if 200 <= status < 300:
        return status
    if 300 <= status < 400:
        raise DeliveryFailure(f"HTTP {status} (redirects are not followed)", transient=False, status=status)
    raise DeliveryFailure(f"HTTP {status}", transient=status >= 500 or status == 429, status=status)
