"""An interactive ``ssh`` session to a machine, with the system's OpenSSH client.

It logs in as the inventory says (user, port, identity file) and checks the host key against
the same files patchdeck trusts: ``~/.ssh/known_hosts``, patchdeck's own known_hosts and any
extra file. ``StrictHostKeyChecking=yes``: an unknown key is refused, never written anywhere
(trust it with ``t`` first, which records it in patchdeck's own file).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Sequence
from pathlib import Path


class NoSession(Exception):
    """Why there is no ssh session to offer, in words."""


def _option_path(path: Path) -> str:
    text = str(path)
    return f'"{text}"' if any(c.isspace() for c in text) else text


def ssh_command(
    ssh: str,
    *,
    name: str,
    transport: str,
    address: str,
    port: int,
    user: str | None,
    identity_file: str | None,
    known_hosts: Sequence[Path],
) -> list[str]:
    """The argv that opens an interactive session on the machine."""
    if transport != "ssh":
        raise NoSession(f"{name} is reached over {transport}, not ssh")
    files = [Path("~/.ssh/known_hosts").expanduser(), *known_hosts]
    command = [
        ssh,
        "-p",
        str(port),
        "-o",
        "UserKnownHostsFile=" + " ".join(_option_path(f) for f in files),
        "-o",
        "StrictHostKeyChecking=yes",
    ]
    if user:
        command += ["-l", user]
    if identity_file:
        command += ["-i", str(Path(identity_file).expanduser())]
    return [*command, "--", address]  # `--`: an address is never read as an option


def find_ssh() -> str:
    found = shutil.which("ssh")
    if found is None:
        raise NoSession(
            "the `ssh` command was not found: install OpenSSH's client "
            "(Debian: openssh-client) to open sessions from the console"
        )
    return found


async def run_interactive(command: Sequence[str]) -> int:
    """Run ``command`` on the terminal and wait for it (the console is suspended meanwhile;
    its loop goes on, so a scan that runs goes on too)."""
    process = await asyncio.create_subprocess_exec(*command)
    return await process.wait()
