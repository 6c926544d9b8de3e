"""What can be done to machines, from the machines view (marked or current rows) and from one
machine's detail alike: scan, edit, remove, trust the host key, open an ssh session."""

from __future__ import annotations

from dataclasses import dataclass

from textual import work
from textual.message import Message

from backends.inventory.machines import get_machines, remove_machines, update_machine
from backends.inventory.records import Machine, MachineSpec
from tui.format import plural
from tui.modals.confirm import Confirm
from tui.modals.machine_form import MachineForm
from tui.safe import neutralise
from tui.screens.view import View
from tui.ssh_session import NoSession, find_ssh, ssh_command


@dataclass
class MachinesFetched(Message):
    """The records of the machines an action is about, read off the UI loop."""

    purpose: str  # edit | trust | ssh
    machines: list[Machine]


@dataclass
class MachinesRemoved(Message):
    names: list[str]


def listed(names: list[str], most: int = 5) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


class MachineActions(View):
    """Subclasses say which machines an action is about; the actions are the same."""

    def target_ids(self) -> list[int]:
        """The machines a bulk action (scan, remove, trust) is about: marked, else current."""
        raise NotImplementedError

    def target_names(self) -> list[str]:
        raise NotImplementedError

    def current_id(self) -> int | None:
        """The one machine edit and ssh are about."""
        raise NotImplementedError

    def machines_changed(self, removed: list[str]) -> None:
        """After an edit or a removal: show the inventory as it is now."""

    # scan -------------------------------------------------------------------------------

    def action_scan(self) -> None:
        ids, names = self.target_ids(), self.target_names()
        if ids:
            what = names[0] if len(names) == 1 else plural(len(names), "machine")
            self.deck_app.start_scan(ids, what)

    # edit, remove -----------------------------------------------------------------------

    def action_edit(self) -> None:
        current = self.current_id()
        if current is not None:
            self.fetch_machines([current], "edit")

    def _edit(self, machine: Machine) -> None:
        store = self.deck.store

        def save(spec: MachineSpec) -> Machine:
            return update_machine(store, machine.id, spec)

        def saved(result: Machine | None) -> None:
            if result is not None:
                self.notify(neutralise(f"saved {result.name}"), markup=False)
                self.machines_changed([])

        self.app.push_screen(MachineForm(save, machine), saved)

    def action_remove(self) -> None:
        names = self.target_names()
        if not names:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.delete_machines(names)

        self.app.push_screen(
            Confirm(
                f"Remove {plural(len(names), 'machine')} ({listed(names)}) "
                "and everything recorded about them?",
                "Remove",
            ),
            answered,
        )

    @work(thread=True, group="remove", exit_on_error=False, name="removing machines")
    def delete_machines(self, names: list[str]) -> None:
        self.post_message(MachinesRemoved(remove_machines(self.deck.store, names)))

    def on_machines_removed(self, message: MachinesRemoved) -> None:
        self.notify(neutralise(f"removed {listed(message.names)}"), markup=False)
        self.machines_changed(message.names)

    # trust, ssh -------------------------------------------------------------------------

    def action_trust(self) -> None:
        ids = self.target_ids()
        if ids:
            self.fetch_machines(ids, "trust")

    def _trust(self, machines: list[Machine]) -> None:
        from tui.modals.trust_keys import TrustKeys

        reachable = [m for m in machines if m.transport == "ssh"]
        if not reachable:
            self.notify("no SSH machine among these: nothing to trust", severity="warning")
            return

        def done(count: int | None) -> None:
            if count:
                self.notify(f"trusted {plural(count, 'host key')}; scan again to use them")

        self.app.push_screen(TrustKeys(reachable, self.deck.host_keys()), done)

    def action_ssh(self) -> None:
        current = self.current_id()
        if current is not None:
            self.fetch_machines([current], "ssh")

    async def _ssh(self, machine: Machine) -> None:
        from textual.app import SuspendNotSupported

        try:
            command = ssh_command(
                find_ssh(),
                name=machine.name,
                transport=machine.transport,
                address=machine.address,
                port=machine.port,
                user=machine.user,
                identity_file=machine.identity_file,
                known_hosts=self.deck.known_hosts,
            )
        except NoSession as exc:
            self.notify(neutralise(str(exc)), severity="warning", markup=False)
            return
        self.log.info(f"ssh session: {command}")
        try:
            with self.app.suspend():
                status = await self.deck.run_interactive(command)
        except SuspendNotSupported:
            self.notify("this terminal cannot hand itself over to ssh", severity="error")
            return
        except OSError as exc:
            self.notify(neutralise(f"ssh did not start: {exc}"), severity="error", markup=False)
            return
        if status not in (0, 130):
            # 255: ssh's own failure (host key, connection); otherwise the remote shell's status
            self.notify(
                neutralise(f"ssh to {machine.name} ended with status {status}"),
                severity="warning",
                markup=False,
            )

    # reading machines off the loop --------------------------------------------------------

    @work(thread=True, group="fetch", exclusive=True, exit_on_error=False, name="reading machines")
    def fetch_machines(self, ids: list[int], purpose: str) -> None:
        self.post_message(MachinesFetched(purpose, get_machines(self.deck.store, ids)))

    async def on_machines_fetched(self, message: MachinesFetched) -> None:
        if not message.machines:
            self.notify("that machine is no longer in the inventory", severity="warning")
            self.machines_changed([])
            return
        if message.purpose == "edit":
            self._edit(message.machines[0])
        elif message.purpose == "trust":
            self._trust(message.machines)
        elif message.purpose == "ssh":
            await self._ssh(message.machines[0])
