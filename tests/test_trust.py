"""`patchdeck machine trust`: the fingerprint first, then the key in patchdeck's own file."""

from __future__ import annotations

from pathlib import Path

from backends.inventory.machines import add_machine
from backends.inventory.store import Store
from backends.inventory.validation import build_spec
from tests.conftest import run_cli
from tests.sshd import Sshd


def test_trust_shows_the_fingerprint_and_records_the_key(
    sshd: Sshd, store: Store, db_path: Path
) -> None:
    add_machine(store, build_spec(name="box", address="127.0.0.1", port=sshd.port))
    own = db_path.parent / "known_hosts"

    refused = run_cli("machine", "trust", "box", db=db_path)  # no terminal, no --yes
    assert refused.returncode == 3
    assert "presents ssh-ed25519 key SHA256:" in refused.stdout
    assert not own.exists()

    trusted = run_cli("machine", "trust", "box", "--yes", db=db_path)
    assert trusted.returncode == 0, trusted.stderr
    assert own.read_text() == sshd.known_hosts_line()

    again = run_cli("machine", "trust", "box", "--yes", db=db_path)
    assert "already trusted" in again.stdout
    assert own.read_text() == sshd.known_hosts_line()


def test_trust_warns_when_the_key_changed(sshd: Sshd, store: Store, db_path: Path) -> None:
    add_machine(store, build_spec(name="box", address="127.0.0.1", port=sshd.port))
    own = db_path.parent / "known_hosts"
    own.write_text(
        f"[127.0.0.1]:{sshd.port} ssh-ed25519 "
        "AAAAC3NzaC1lZDI1NTE5AAAAIBxtTbKYNbyZtTkxR5XRmsSLNNqhe4CUEQMt3fOOJr3U\n"
    )
    result = run_cli("machine", "trust", "box", "--yes", db=db_path)
    assert "WARNING: this is NOT the key recorded" in result.stdout
    assert own.read_text() == sshd.known_hosts_line()  # replaced, not duplicated
