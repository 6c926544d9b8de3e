"""Notifications: a command of the operator's, run on this machine, told about an event.

``notify(command, event)`` runs ``sh -c COMMAND`` with the event as one JSON document on its
standard input, within a time limit, its output going to the log (``patchdeck.notify``). A
command that fails, cannot start or hangs is logged (a hanging one is killed with everything it
started) and never raised: a notification must never fail a run or ``run-due``.

Events (``event`` is one of :data:`EVENTS`), every one with ``deployment`` and ``at`` (ISO 8601
UTC with ``Z``), and:

* ``run-ended``: ``run_id``, ``state``, ``totals`` (machines by final state), ``error`` (why the
  run itself failed, else ``None``);
* ``failure-threshold``: ``run_id``, ``failed``, ``allowed``;
* ``manual-gate``: ``run_id``, ``stage`` (1-based, the stage waiting to start);
* ``occurrence-missed``: ``occurrence`` (when it was due), ``window_end``, ``reason``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("patchdeck.notify")

RUN_ENDED = "run-ended"
FAILURE_THRESHOLD = "failure-threshold"
MANUAL_GATE = "manual-gate"
OCCURRENCE_MISSED = "occurrence-missed"
EVENTS = (RUN_ENDED, FAILURE_THRESHOLD, MANUAL_GATE, OCCURRENCE_MISSED)
NOTIFY_TIMEOUT = 30.0  # seconds a notify command may take
OUTPUT_LIMIT = 4000  # characters of its output kept in the log


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value


def make_event(
    kind: str, deployment: str, at: datetime | None = None, **fields: Any
) -> dict[str, Any]:
    """An event as a notify command reads it (datetimes as ISO 8601 UTC with ``Z``)."""
    if kind not in EVENTS:
        raise ValueError(f"unknown event {kind!r}")
    event: dict[str, Any] = {
        "event": kind,
        "deployment": deployment,
        "at": _iso(at or datetime.now(UTC)),
    }
    event.update({key: _iso(value) for key, value in fields.items()})
    return event


def notify_command(deployment_notify: str | None, default: str | None) -> str | None:
    """The command to run: the deployment's own, else the settings' default."""
    return deployment_notify or default or None


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End a hanging command and whatever it started (it leads a process group of its own)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def notify(command: str | None, event: Mapping[str, Any], timeout: float = NOTIFY_TIMEOUT) -> bool:
    """Run ``command`` with ``event`` as JSON on stdin; ``True`` when it exited 0. Never
    raises: a failure, a hang (killed after ``timeout`` seconds) or a command that cannot
    start is logged as a warning."""
    if not command:
        return False
    kind = event.get("event", "?")
    try:
        data = (json.dumps(dict(event)) + "\n").encode()
        process = subprocess.Popen(
            ["/bin/sh", "-c", command],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    except (OSError, TypeError, ValueError) as exc:
        log.warning("notify %s: cannot run %r: %s", kind, command, exc)
        return False
    try:
        output, _ = process.communicate(data, timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(process)
        with contextlib.suppress(subprocess.TimeoutExpired, OSError):
            process.communicate(timeout=5)
        log.warning(
            "notify %s: %r did not finish within %g s and was stopped", kind, command, timeout
        )
        return False
    except OSError as exc:  # it closed its stdin early and the event could not be written
        _stop(process)
        process.wait()
        log.warning("notify %s: %r: %s", kind, command, exc)
        return False
    text = output.decode(errors="replace").strip()[-OUTPUT_LIMIT:]
    if process.returncode != 0:
        log.warning(
            "notify %s: %r exited with %s%s",
            kind,
            command,
            process.returncode,
            f": {text}" if text else "",
        )
        return False
    log.info("notify %s: %r done%s", kind, command, f": {text}" if text else "")
    return True


async def notify_async(
    command: str | None, event: Mapping[str, Any], timeout: float = NOTIFY_TIMEOUT
) -> bool:
    """:func:`notify` from async code (a runner), in a thread: the loop is never held up."""
    return await asyncio.to_thread(notify, command, event, timeout)
