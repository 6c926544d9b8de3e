"""This machine, with the same interface as SSH (``--transport local``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

from backends.transports.base import (
    Collector,
    Endpoint,
    LineSink,
    Output,
    TransportError,
    check_sudo,
    sudo_wrap,
)


class LocalConnection:
    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    @property
    def is_root(self) -> bool:
        return os.geteuid() == 0

    def is_open(self) -> bool:
        return True

    async def run(
        self,
        script: str,
        *,
        privileged: bool = False,
        timeout: float | None = None,
        on_line: LineSink | None = None,
    ) -> Output:
        command = sudo_wrap(script) if privileged and not self.is_root else script
        process = await asyncio.create_subprocess_exec(
            "sh",
            "-c",
            command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        out = Collector(self.endpoint, on_line)
        err = Collector(self.endpoint)
        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(
                    out.drain(process.stdout, binary=True), err.drain(process.stderr, binary=True)
                )
                status = await process.wait()
        except (TimeoutError, TransportError) as exc:
            # the whole session: children (`sleep` under `sh`) would keep the pipes open
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
            if isinstance(exc, TransportError):
                raise
            raise TransportError(
                "timeout", f"the command did not finish within {timeout:g} s"
            ) from None
        output = Output(status if status >= 0 else None, out.text(), err.text())
        return check_sudo(output, self.endpoint) if privileged and not self.is_root else output

    async def close(self) -> None:
        return None
