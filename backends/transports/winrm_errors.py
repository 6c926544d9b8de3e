"""What pywinrm, requests and the authentication libraries raise, in words an operator reads.

Messages are built here from the machine's name, address and the kind of failure; the text of
a foreign exception is used only where it is known to carry no secret (a WS-Management fault's
reason, which the server wrote), and every message goes through :func:`scrub` before it leaves.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

import requests
from winrm.exceptions import (
    InvalidCredentialsError,
    WinRMError,
    WinRMTransportError,
    WSManFaultError,
)

from backends.transports.base import Endpoint, TransportError

REASON_LIMIT = 200


@dataclass(frozen=True, slots=True)
class Where:
    """What a message names: the machine, where it listens, how we log in."""

    endpoint: Endpoint
    url: str
    auth: str
    secret: str | None = None  # scrubbed from every message, never shown

    @property
    def name(self) -> str:
        return self.endpoint.name

    @property
    def address(self) -> str:
        return f"{self.endpoint.address}:{self.endpoint.port}"


def scrub(text: str, secret: str | None) -> str:
    """``text`` without ``secret`` in it (a last line of defence: no message is built with it)."""
    if secret and len(secret) >= 4 and secret in text:
        return text.replace(secret, "********")
    return text


def _clip(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= REASON_LIMIT else flat[: REASON_LIMIT - 1] + "…"


def _causes(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
        # urllib3 keeps the socket error in .reason of its MaxRetryError
        reason = getattr(seen[-1], "reason", None)
        if current is None and isinstance(reason, BaseException):
            current = reason
    return seen


def _connection_error(exc: BaseException, where: Where) -> TransportError:
    causes = _causes(exc)
    texts = " ".join(str(c) for c in causes)
    if any(isinstance(c, socket.gaierror) for c in causes) or "Name or service not known" in texts:
        return TransportError("unreachable", f"cannot resolve {where.endpoint.address}")
    if any(isinstance(c, ConnectionRefusedError) for c in causes) or "refused" in texts:
        return TransportError(
            "unreachable",
            f"{where.address} refused the connection (is WinRM listening there? "
            f"`winrm quickconfig` sets up the {where.url.split(':')[0].upper()} listener)",
        )
    if any(isinstance(c, ConnectionResetError | BrokenPipeError) for c in causes) or (
        "RemoteDisconnected" in texts or "Connection aborted" in texts
    ):
        return TransportError(
            "connection-lost", f"{where.name} closed the connection in the middle of a request"
        )
    if any(isinstance(c, OSError) and c.errno is not None for c in causes):
        error = next(c for c in causes if isinstance(c, OSError) and c.errno is not None)
        detail = error.strerror if isinstance(error, OSError) and error.strerror else "error"
        return TransportError("unreachable", f"cannot reach {where.address}: {detail}")
    return TransportError("unreachable", f"cannot reach {where.address}")


def _certificate_error(exc: BaseException, where: Where) -> TransportError:
    texts = " ".join(str(c) for c in _causes(exc))
    if "CERTIFICATE_VERIFY_FAILED" in texts or "certificate verify failed" in texts:
        why = "it is not signed by a trusted CA"
        if "Hostname mismatch" in texts or "doesn't match" in texts:
            why = f"it is not issued to {where.endpoint.address}"
        elif "expired" in texts:
            why = "it has expired"
        elif "self-signed" in texts or "self signed" in texts:
            why = "it is self-signed and not trusted"
        return TransportError(
            "certificate-refused",
            f"the HTTPS certificate of {where.name} ({where.address}) was refused: {why}. Give "
            f"its CA with `--winrm-ca-file`, or (knowing that anyone on the path could then pose "
            f"as it) turn the check off for this machine with `--winrm-no-verify`",
        )
    return TransportError(
        "connection-lost",
        f"the TLS handshake with {where.name} ({where.address}) failed: is it an HTTPS "
        "listener? (5986 is HTTPS, 5985 plain HTTP)",
    )


def _auth_refused(where: Where) -> TransportError:
    user = where.endpoint.user or "the current Kerberos ticket"
    return TransportError(
        "auth-refused",
        f"{where.name} refused the credentials of {user} ({where.auth}): check the user and "
        f"the password given for {where.name}, and that the account may use WinRM",
    )


def describe(exc: BaseException, where: Where, timeout: float | None = None) -> TransportError:
    """``exc`` (raised while talking to ``where``) as a :class:`TransportError`."""
    error = _describe(exc, where, timeout)
    return TransportError(error.kind, scrub(str(error), where.secret))


def _describe(exc: BaseException, where: Where, timeout: float | None) -> TransportError:
    name = where.name
    if isinstance(exc, TransportError):
        return exc
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        after = f" within {timeout:g} s" if timeout else ""
        return TransportError("timeout", f"{where.address} did not accept a connection{after}")
    if isinstance(exc, requests.exceptions.ReadTimeout):
        after = f" within {timeout:g} s" if timeout else ""
        return TransportError("timeout", f"{name} did not answer a WinRM request{after}")
    if isinstance(exc, requests.exceptions.SSLError):
        return _certificate_error(exc, where)
    if isinstance(exc, requests.exceptions.ConnectionError):
        return _connection_error(exc, where)
    if isinstance(exc, InvalidCredentialsError | PermissionError):
        # requests_ntlm raises PermissionError when the server offers no NTLM challenge
        return _auth_refused(where)
    if isinstance(exc, WSManFaultError):
        reason = _clip(exc.reason or "no reason given")
        code = f" (WS-Management fault {exc.wsman_fault_code})" if exc.wsman_fault_code else ""
        if exc.code == 401:
            return _auth_refused(where)
        return TransportError("remote-error", f"{name}'s WinRM service refused: {reason}{code}")
    if isinstance(exc, WinRMTransportError):
        if exc.code == 401:
            return _auth_refused(where)
        return TransportError(
            "remote-error", f"{name}'s WinRM service answered HTTP {exc.code} to a request"
        )
    if isinstance(exc, WinRMError):
        return TransportError(
            "remote-error",
            f"{name}: WinRM failed ({type(exc).__name__}); the answer could not be used",
        )
    if type(exc).__module__.startswith("spnego"):
        return _auth_refused(where)
    if isinstance(
        exc, StopIteration | ValueError | KeyError | AttributeError | SyntaxError | AssertionError
    ):
        # pywinrm reading an answer that is not the WS-Management message it expects
        return TransportError(
            "remote-error", f"{name} answered with a WS-Management message that cannot be read"
        )
    if isinstance(exc, OSError):
        return _connection_error(exc, where)
    return TransportError("connection-lost", f"{name}: {type(exc).__name__} during a request")
