"""A throwaway copy of this Debian machine to install into, behind Debian's real sshd.

How it is built (root only):

1. ``unshare --mount --pid --fork --propagation private`` gives the target mount and process
   namespaces of its own (``--kill-child``: it ends with the process that started it);
   nothing it mounts is seen outside, and when its first process ends
   the kernel ends every other process in it and drops every mount.
2. Inside, an overlayfs whose lower layer is ``/`` (read only: nothing here ever changes the
   real system) and whose upper layer is a fresh directory under the test's ``tmp_path`` is
   mounted, with ``/proc``, ``/sys``, ``/dev`` and a tmpfs on ``/run``.
3. ``chroot`` into it runs Debian's ``sshd`` (config, host key and authorized key as in
   :mod:`tests.sshd`, on a free loopback port), so patchdeck reaches the copy as it reaches any
   machine. The network namespace is the host's: apt inside the copy fetches from the same
   archives this machine uses.

Removing it: stopping sshd (the namespace's first process) ends the namespace; the upper and
work directories are then deleted with the test's ``tmp_path``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.conftest import require_tool
from tests.sshd import Sshd, write_sshd_files

_INNER = """set -e
root=$1; config=$2
mount -t overlay overlay -o "lowerdir=/,upperdir=$root/upper,workdir=$root/work" "$root/merged"
mount -t proc proc "$root/merged/proc"
mount -t sysfs sysfs "$root/merged/sys"
mount --rbind /dev "$root/merged/dev"
mount -t tmpfs tmpfs "$root/merged/run"
mkdir -p "$root/merged/run/sshd"
exec chroot "$root/merged" /usr/sbin/sshd -D -e -f "$config"
"""


def overlay_supported() -> str | None:
    """Why a throwaway copy cannot be made here, or ``None`` when it can."""
    if os.geteuid() != 0:
        return "a throwaway copy of this machine needs root (mount and chroot)"
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    if "overlay" not in Path("/proc/filesystems").read_text():
        return "the kernel has no overlayfs"
    return None


def start_overlay_sshd(folder: Path) -> Sshd:
    """The copy, reachable over SSH as root on a loopback port. Its files live in ``folder``
    (which must be outside any path the copy's apt writes to)."""
    require_tool("sshd", "openssh-server")
    unshare = require_tool("unshare", "util-linux")
    root = folder / "copy"
    for part in ("upper", "work", "merged"):
        (root / part).mkdir(parents=True, exist_ok=True)
    port, config = write_sshd_files(folder)
    script = folder / "overlay.sh"
    script.write_text(_INNER)
    process = subprocess.Popen(
        [unshare, "--mount", "--pid", "--fork", "--kill-child", "--propagation", "private",
         "sh", str(script), str(root), str(config)],
        stdout=subprocess.DEVNULL,
        stderr=open(folder / "sshd.log", "wb"),  # noqa: SIM115 - lives as long as sshd
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the copy's sshd exited: {(folder / 'sshd.log').read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError("the copy's sshd did not listen within 30 s")
    return Sshd(folder, port, "root", folder / "client_ed25519", folder / "host_ed25519", process)
