"""The WS-Management messages of the remote shell protocol (MS-WSMV), read and written.

Enough of MS-WSMV's Windows Remote Shell for a WinRM client to run commands: Create (a shell),
Command, Receive, Signal, Send and Delete, and the faults a client must understand (the
Receive long-poll timeout, an unknown shell, an action not supported). Requests are parsed with
ElementTree; answers are written as the text Windows sends, with ``RelatesTo`` carrying the
request's ``MessageID`` (pywinrm checks it).
"""

from __future__ import annotations

import base64
import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

SOAP = "http://www.w3.org/2003/05/soap-envelope"
ADDRESSING = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
WSMAN = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
FAULT = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"

CREATE = f"{TRANSFER}/Create"
DELETE = f"{TRANSFER}/Delete"
COMMAND = f"{SHELL}/Command"
RECEIVE = f"{SHELL}/Receive"
SIGNAL = f"{SHELL}/Signal"
SEND = f"{SHELL}/Send"
STATE_DONE = f"{SHELL}/CommandState/Done"
STATE_RUNNING = f"{SHELL}/CommandState/Running"

# The WSManFault codes a client acts on (MS-WSMV; pywinrm retries a Receive on the first).
OPERATION_TIMEOUT_CODE = 2150858793  # 0x80338029 ERROR_WSMAN_OPERATION_TIMEDOUT
# 0x8033805B, ERROR_WSMAN_UNEXPECTED_SELECTORS: what Windows says of a ShellId it does not have
# ("… failed because the shell was not found on the server").
SHELL_NOT_FOUND_CODE = 2150858843

_DURATION = re.compile(r"PT(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?\Z")


class BadRequest(ValueError):
    """Not a WS-Management request this endpoint can read."""


@dataclass(slots=True)
class Request:
    action: str
    message_id: str
    shell_id: str | None
    operation_timeout: float | None
    body: ET.Element
    options: dict[str, str] = field(default_factory=dict)

    def find(self, path: str) -> ET.Element | None:
        return self.body.find(path, {"rsp": SHELL})


def _text(element: ET.Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def duration_seconds(text: str) -> float | None:
    """``PT20S``, ``PT1M30.5S`` → seconds; ``None`` if not such a duration."""
    match = _DURATION.match(text.strip())
    if not match or not any(match.groups()):
        return None
    hours, minutes, seconds = (float(part) if part else 0.0 for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def parse(data: bytes) -> Request:
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise BadRequest(f"not XML: {exc}") from None
    header = root.find(f"{{{SOAP}}}Header")
    body = root.find(f"{{{SOAP}}}Body")
    if root.tag != f"{{{SOAP}}}Envelope" or header is None or body is None:
        raise BadRequest("not a SOAP 1.2 envelope")
    action = _text(header.find(f"{{{ADDRESSING}}}Action"))
    message_id = _text(header.find(f"{{{ADDRESSING}}}MessageID"))
    if not action or not message_id:
        raise BadRequest("no Action or MessageID header")
    shell_id = None
    for selector in header.iterfind(f"{{{WSMAN}}}SelectorSet/{{{WSMAN}}}Selector"):
        if selector.get("Name") == "ShellId":
            shell_id = _text(selector)
    options = {
        option.get("Name", ""): _text(option)
        for option in header.iterfind(f"{{{WSMAN}}}OptionSet/{{{WSMAN}}}Option")
    }
    timeout = duration_seconds(_text(header.find(f"{{{WSMAN}}}OperationTimeout")))
    return Request(action, message_id, shell_id, timeout, body, options)


def _envelope(action: str, relates_to: str, body: str) -> bytes:
    message_id = f"uuid:{str(uuid.uuid4()).upper()}"
    return (
        f'<s:Envelope xml:lang="en-US" xmlns:s="{SOAP}" xmlns:a="{ADDRESSING}" '
        f'xmlns:x="{TRANSFER}" xmlns:w="{WSMAN}" xmlns:rsp="{SHELL}" '
        f'xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd">'
        f"<s:Header><a:Action>{escape(action)}</a:Action>"
        f"<a:MessageID>{message_id}</a:MessageID>"
        f"<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>"
        f"<a:RelatesTo>{escape(relates_to)}</a:RelatesTo></s:Header>"
        f"<s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def created(request: Request, shell_id: str, address: str) -> bytes:
    body = (
        f"<x:ResourceCreated><a:Address>{escape(address)}</a:Address>"
        "<a:ReferenceParameters>"
        "<w:ResourceURI>http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd</w:ResourceURI>"
        f'<w:SelectorSet><w:Selector Name="ShellId">{escape(shell_id)}</w:Selector>'
        "</w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>"
    )
    return _envelope(f"{TRANSFER}/CreateResponse", request.message_id, body)


def command_started(request: Request, command_id: str) -> bytes:
    body = f"<rsp:CommandResponse><rsp:CommandId>{escape(command_id)}</rsp:CommandId>"
    return _envelope(f"{COMMAND}Response", request.message_id, body + "</rsp:CommandResponse>")


def received(
    request: Request,
    command_id: str,
    stdout: bytes,
    stderr: bytes,
    exit_code: int | None,
) -> bytes:
    """Output so far; ``exit_code`` ``None`` while the command runs."""
    cid = quoteattr(command_id)
    parts = []
    for name, data in (("stdout", stdout), ("stderr", stderr)):
        if data:
            encoded = base64.b64encode(data).decode("ascii")
            parts.append(f'<rsp:Stream Name="{name}" CommandId={cid}>{encoded}</rsp:Stream>')
    if exit_code is None:
        parts.append(f'<rsp:CommandState CommandId={cid} State="{STATE_RUNNING}"/>')
    else:
        parts += [
            f'<rsp:Stream Name="stdout" CommandId={cid} End="true"/>',
            f'<rsp:Stream Name="stderr" CommandId={cid} End="true"/>',
            f'<rsp:CommandState CommandId={cid} State="{STATE_DONE}">'
            f"<rsp:ExitCode>{exit_code}</rsp:ExitCode></rsp:CommandState>",
        ]
    body = f"<rsp:ReceiveResponse>{''.join(parts)}</rsp:ReceiveResponse>"
    return _envelope(f"{RECEIVE}Response", request.message_id, body)


def signalled(request: Request) -> bytes:
    return _envelope(f"{SIGNAL}Response", request.message_id, "<rsp:SignalResponse/>")


def sent(request: Request) -> bytes:
    return _envelope(f"{SEND}Response", request.message_id, "<rsp:SendResponse/>")


def deleted(request: Request) -> bytes:
    return _envelope(f"{TRANSFER}/DeleteResponse", request.message_id, "")


def fault(request: Request | None, subcode: str, reason: str, code: int) -> bytes:
    """A SOAP fault with a WSManFault detail (sent with HTTP 500)."""
    body = (
        "<s:Fault><s:Code><s:Value>s:Receiver</s:Value>"
        f"<s:Subcode><s:Value>w:{escape(subcode)}</s:Value></s:Subcode></s:Code>"
        f'<s:Reason><s:Text xml:lang="en-US">{escape(reason)}</s:Text></s:Reason>'
        f'<s:Detail><f:WSManFault xmlns:f="{FAULT}" Code="{code}" Machine="localhost">'
        f"<f:Message>{escape(reason)}</f:Message></f:WSManFault></s:Detail></s:Fault>"
    )
    relates_to = request.message_id if request is not None else "uuid:unknown"
    return _envelope("http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", relates_to, body)


def operation_timeout(request: Request) -> bytes:
    return fault(
        request,
        "TimedOut",
        "The WS-Management service cannot complete the operation within the time specified "
        "in OperationTimeout.",
        OPERATION_TIMEOUT_CODE,
    )
