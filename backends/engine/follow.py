"""Following a run through the database: what its runner records, turned back into the
engine's events, so the CLI, the console and ``--json`` read one vocabulary whether the run
executes in this process or in a runner of its own.

Each :meth:`RunFollower.poll` reads only the machines changed since the last one (by the
run's ``seq``) and returns the events they amount to: a new state, new progress, the output
lines appended meanwhile (the last 200 at most), and ``RunDone`` once when the run ends.
"""

from __future__ import annotations

from dataclasses import replace

from backends.engine.events import Event, MachineState, OutputLine, Progress, RunDone
from backends.inventory.runs import (
    FINAL_RUN_STATES,
    WORKING_STATES,
    Run,
    RunMachine,
    get_run,
    run_changes,
)
from backends.inventory.store import Store


class RunFollower:
    def __init__(self, store: Store, run_id: int) -> None:
        self.store = store
        self.run_id = run_id
        self.seq = -1
        self.head: Run | None = None
        self.machines: dict[int, RunMachine] = {}
        self.done = False
        # None: every machine's output; else only these machines' (a view showing one)
        self.output_of: set[int] | None = None

    def poll(self) -> list[Event]:
        head, changed = run_changes(self.store, self.run_id, self.seq, self.output_of)
        events: list[Event] = []
        for machine in changed:
            events += self._events(self.machines.get(machine.machine_id), machine)
            self.machines[machine.machine_id] = machine
        self.seq = max(self.seq, head.seq, *(m.seq for m in changed))
        self.head = head
        if head.state in FINAL_RUN_STATES and not self.done:
            self.done = True
            events.append(RunDone(self.run_id, {k: v for k, v in self.run().totals().items() if v}))
        return events

    def _events(self, old: RunMachine | None, new: RunMachine) -> list[Event]:
        events: list[Event] = []
        name = new.machine
        fresh = new.output_count - (old.output_count if old is not None else 0)
        if fresh > 0 and new.output:
            for line in new.output[-min(fresh, len(new.output)) :]:
                events.append(OutputLine(self.run_id, name, line))
        if new.state in WORKING_STATES and (
            old is None or (old.percent, old.current_item) != (new.percent, new.current_item)
        ):
            events.append(Progress(self.run_id, name, float(new.percent), new.current_item or ""))
        if old is None or old.state != new.state:
            events.append(MachineState(self.run_id, name, new.state, new.error or ""))
        return events

    def run(self) -> Run:
        """The run as last polled, with every machine."""
        if self.head is None:
            return get_run(self.store, self.run_id)
        machines = sorted(self.machines.values(), key=lambda m: (m.stage, m.machine))
        return replace(self.head, machines=tuple(machines))
