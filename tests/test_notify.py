"""Notify commands: the event as JSON on stdin; a failing, hanging or missing command is logged
and never raised; the default command comes from the settings."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from backends.engine.notify import (
    EVENTS,
    OCCURRENCE_MISSED,
    RUN_ENDED,
    make_event,
    notify,
    notify_async,
    notify_command,
)
from tui.settings import SettingsError, load_settings


def test_the_command_reads_the_event_as_json(tmp_path: Path) -> None:
    out = tmp_path / "event.json"
    event = make_event(
        RUN_ENDED,
        "nightly",
        at=datetime(2026, 3, 10, 22, 5, tzinfo=UTC),
        run_id=4,
        state="failed",
        totals={"succeeded": 9, "failed": 1},
    )
    assert notify(f"cat > {out}; echo sent", event)
    assert json.loads(out.read_text()) == {
        "event": "run-ended",
        "deployment": "nightly",
        "at": "2026-03-10T22:05:00Z",
        "run_id": 4,
        "state": "failed",
        "totals": {"succeeded": 9, "failed": 1},
    }
    missed = make_event(
        OCCURRENCE_MISSED, "nightly", occurrence=datetime(2026, 3, 10, 21, tzinfo=UTC)
    )
    assert missed["occurrence"] == "2026-03-10T21:00:00Z"
    assert set(EVENTS) == {"run-ended", "failure-threshold", "manual-gate", "occurrence-missed"}
    with pytest.raises(ValueError, match="unknown event"):
        make_event("run-started", "nightly")


def test_output_goes_to_the_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="patchdeck.notify")
    assert notify("read line; echo got it", make_event(RUN_ENDED, "d"))
    assert "got it" in caplog.text


def test_a_failing_command_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="patchdeck.notify")
    assert not notify("echo mail server down >&2; exit 3", make_event(RUN_ENDED, "d"))
    assert "exited with 3: mail server down" in caplog.text
    assert not notify("/no/such/notifier", make_event(RUN_ENDED, "d"))
    assert "exited with 127" in caplog.text
    assert not notify("exit 0 #", {"event": "run-ended", "bad": object()})  # not JSON
    assert "cannot run" in caplog.text
    assert not notify(None, make_event(RUN_ENDED, "d"))
    assert not notify("", make_event(RUN_ENDED, "d"))


def test_a_hanging_command_is_stopped_with_what_it_started(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.INFO, logger="patchdeck.notify")
    marker = tmp_path / "child.pid"
    started = time.monotonic()
    # the command's child keeps stdout open: it must be stopped too, or the wait would hang
    command = f"sleep 60 & echo $! > {marker}; wait"
    assert not notify(command, make_event(RUN_ENDED, "d"), timeout=1)
    assert time.monotonic() - started < 10
    assert "did not finish within 1 s and was stopped" in caplog.text
    child = int(marker.read_text())
    assert not Path(f"/proc/{child}").exists() or "Z" in _state(child)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return "Z"


async def test_from_async_code(tmp_path: Path) -> None:
    out = tmp_path / "e.json"
    assert await notify_async(f"cat > {out}", make_event(RUN_ENDED, "d"))
    assert json.loads(out.read_text())["event"] == "run-ended"


def test_the_default_command_comes_from_the_settings(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('notify = "mail -s patchdeck ops@example.com"\n')
    settings = load_settings({"PATCHDECK_CONFIG": str(config)})
    assert settings.notify == "mail -s patchdeck ops@example.com"
    assert notify_command(None, settings.notify) == settings.notify
    assert notify_command("curl -d @- https://hooks.example", settings.notify).startswith("curl")
    assert load_settings({"PATCHDECK_CONFIG": str(config), "PATCHDECK_NOTIFY": ""}).notify is None
    config.write_text("notify = 3\n")
    with pytest.raises(SettingsError, match=r"config.toml:1: notify: expected a one-line command"):
        load_settings({"PATCHDECK_CONFIG": str(config)})
    with pytest.raises(SettingsError, match=r"^PATCHDECK_NOTIFY: notify: expected a one-line"):
        config.write_text("")
        load_settings({"PATCHDECK_CONFIG": str(config), "PATCHDECK_NOTIFY": "a\nb"})
