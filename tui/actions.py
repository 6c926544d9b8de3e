"""Every action of the console, in one registry.

The registry feeds the key bindings (``Binding(id=…)``, so keys can be remapped by id), the help
screen (``?``), the command palette and the footer. A view lists the actions whose ``views``
name it; actions with no views are the app's own and work everywhere.

Key overrides (``{"scan": "ctrl+s"}``, from the settings) go through :class:`Registry`, which
checks the ids and hands Textual a keymap.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from textual.binding import Binding, BindingType

DASHBOARD = "dashboard"
MACHINES = "machines"
UPDATES = "updates"
MACHINE = "machine"  # one machine's detail
UPDATE = "update"  # the machines missing one update
GROUPS = "groups"
DEPLOYMENTS = "deployments"
RUNS = "runs"  # history: past and active runs
RUN = "run"  # one run, live
PLAN = "plan"  # one deployment's plan, before a run

# The views `:` jumps to, in the order they are offered.
VIEWS = (DASHBOARD, MACHINES, UPDATES, GROUPS, DEPLOYMENTS, RUNS)
VIEW_TITLES = {
    DASHBOARD: "Dashboard",
    MACHINES: "Machines",
    UPDATES: "Updates",
    MACHINE: "Machine",
    UPDATE: "Update",
    GROUPS: "Groups",
    DEPLOYMENTS: "Deployments",
    RUNS: "Runs",
    RUN: "Run",
    PLAN: "Plan",
}


@dataclass(frozen=True, slots=True)
class Action:
    """One thing the operator can do: ``action`` runs on the view's screen (``app.…`` on the
    app); ``views`` empty means every view."""

    id: str
    key: str
    description: str
    action: str
    views: tuple[str, ...] = ()
    show: bool = False  # in the footer (the help screen and palette list every action)
    key_display: str | None = None
    priority: bool = False
    # changes machines or what the inventory defines: hidden and refused in read-only mode
    changes: bool = False

    def binding(self) -> Binding:
        return Binding(
            self.key,
            self.action,
            self.description,
            show=self.show,
            key_display=self.key_display,
            priority=self.priority,
            id=self.id,
        )


_LISTS = (MACHINES, UPDATES, UPDATE)

ACTIONS: tuple[Action, ...] = (
    # everywhere
    # `?` and `:` are priority keys, so that what is typed right after them reaches the
    # screen they open (the app leaves them to a text box that has the focus).
    Action("help", "question_mark", "Help", "app.help", show=True, key_display="?", priority=True),
    Action("jump", "colon", "Go to view", "app.jump", show=True, key_display=":", priority=True),
    Action("palette", "ctrl+p", "Commands", "app.command_palette", priority=True),
    Action("quit", "q", "Quit", "app.quit", show=True),
    Action("view_dashboard", "1", "Go to dashboard", f"app.view('{DASHBOARD}')"),
    Action("view_machines", "2", "Go to machines", f"app.view('{MACHINES}')"),
    Action("view_updates", "3", "Go to updates", f"app.view('{UPDATES}')"),
    Action("view_groups", "4", "Go to groups", f"app.view('{GROUPS}')"),
    Action("view_deployments", "5", "Go to deployments", f"app.view('{DEPLOYMENTS}')"),
    Action("view_runs", "6", "Go to run history", f"app.view('{RUNS}')"),
    # in views
    Action(
        "back",
        "escape",
        "Back",
        "back",
        (MACHINES, UPDATES, MACHINE, UPDATE, GROUPS, DEPLOYMENTS, PLAN, RUNS, RUN),
    ),
    Action(
        "open",
        "enter",
        "Open",
        "open",
        (DASHBOARD, MACHINES, UPDATES, UPDATE, DEPLOYMENTS, RUNS),
        show=True,
    ),
    Action(
        "filter",
        "slash",
        "Filter",
        "filter",
        (*_LISTS, GROUPS, DEPLOYMENTS, PLAN, RUNS, RUN),
        show=True,
        key_display="/",
    ),
    Action("sort", "o", "Sort by next column", "sort", (*_LISTS, GROUPS, DEPLOYMENTS, PLAN)),
    Action("reverse", "O", "Reverse sort", "reverse", (*_LISTS, GROUPS, DEPLOYMENTS, PLAN)),
    Action("mark", "space", "Mark", "mark", (MACHINES, UPDATES, UPDATE), show=True),
    Action("mark_all", "asterisk", "Mark all shown", "mark_all", (MACHINES, UPDATES, UPDATE)),
    Action("scan", "s", "Scan", "scan", (MACHINES, MACHINE, UPDATE), show=True),
    Action("scan_all", "S", "Scan all machines", "scan_all", (DASHBOARD, MACHINES)),
    Action("add", "a", "Add machine", "add", (MACHINES,), changes=True),
    Action("edit", "e", "Edit machine", "edit", (MACHINES, MACHINE), changes=True),
    Action("remove", "d", "Remove", "remove", (MACHINES, MACHINE), changes=True),
    Action("trust", "t", "Trust host key", "trust", (MACHINES, MACHINE), changes=True),
    Action("ssh", "c", "SSH session", "ssh", (MACHINES, MACHINE)),
    Action(
        "refresh",
        "r",
        "Refresh",
        "refresh",
        (DASHBOARD, MACHINES, UPDATES, MACHINE, UPDATE, GROUPS, DEPLOYMENTS, RUNS, RUN),
    ),
    # groups and deployments
    Action("new_group", "n", "New dynamic group", "new_group", (GROUPS,), show=True, changes=True),
    Action(
        "new_static_group", "m", "New static group", "new_static_group", (GROUPS,), changes=True
    ),
    Action("edit_group", "e", "Edit group", "edit_group", (GROUPS,), show=True, changes=True),
    Action("delete_group", "d", "Delete group", "delete_group", (GROUPS,), changes=True),
    Action(
        "group_from_marks",
        "g",
        "Group the marked machines",
        "group_from_marks",
        (MACHINES,),
        changes=True,
    ),
    Action(
        "new_deployment",
        "n",
        "New deployment",
        "new_deployment",
        (DEPLOYMENTS,),
        show=True,
        changes=True,
    ),
    Action(
        "edit_deployment",
        "e",
        "Edit deployment",
        "edit_deployment",
        (DEPLOYMENTS,),
        show=True,
        changes=True,
    ),
    Action(
        "delete_deployment",
        "d",
        "Delete deployment",
        "delete_deployment",
        (DEPLOYMENTS,),
        changes=True,
    ),
    Action("plan", "p", "Plan afresh", "plan", (DEPLOYMENTS, PLAN), show=True),
    Action("run_plan", "R", "Run this plan", "run_plan", (PLAN,), show=True, changes=True),
    Action(
        "deploy_machines",
        "D",
        "Deploy to the marked machines",
        "deploy_machines",
        (MACHINES,),
        changes=True,
    ),
    Action(
        "deploy_updates",
        "D",
        "Deploy the marked updates",
        "deploy_updates",
        (UPDATES,),
        changes=True,
    ),
    # runs: the live run and the history
    Action("approve", "a", "Approve gate", "approve", (RUN,), show=True, changes=True),
    Action("cancel_run", "x", "Cancel run", "cancel_run", (RUN,), show=True, changes=True),
    Action("export", "e", "Export report", "export", (RUNS, RUN), show=True),
)


def bindings(view: str | None) -> list[BindingType]:
    """The default bindings of ``view`` (``None``: the app's own, which work everywhere)."""
    return [a.binding() for a in ACTIONS if (a.views == () if view is None else view in a.views)]


class UnknownAction(ValueError):
    def __init__(self, ids: Iterable[str]) -> None:
        listed = ", ".join(repr(i) for i in ids)
        known = ", ".join(a.id for a in ACTIONS)
        super().__init__(f"keys: no action named {listed} (actions: {known})")


class Registry:
    """The actions with the keys in force: defaults, replaced by ``overrides`` (id → key)."""

    def __init__(
        self, overrides: Mapping[str, str] | None = None, actions: tuple[Action, ...] = ACTIONS
    ) -> None:
        self.actions = actions
        self.by_id = {a.id: a for a in actions}
        overrides = dict(overrides or {})
        unknown = [i for i in overrides if i not in self.by_id]
        if unknown:
            raise UnknownAction(unknown)
        self.overrides = {i: k.strip() for i, k in overrides.items() if k.strip()}

    def key(self, action: Action | str) -> str:
        """The key (Textual's name, e.g. ``slash``) that runs ``action`` now."""
        found = self.by_id[action] if isinstance(action, str) else action
        return self.overrides.get(found.id, found.key)

    def keys(self, action_id: str) -> tuple[str, ...]:
        return tuple(k.strip() for k in self.key(action_id).split(","))

    def keymap(self) -> dict[str, str]:
        """What ``App.set_keymap`` takes."""
        return dict(self.overrides)

    def changes(self, name: str) -> bool:
        """Whether the action called ``name`` (a binding's action, without arguments) changes
        machines or the inventory's definitions."""
        return any(a.changes and a.action.split("(", 1)[0] == name for a in self.actions)

    def for_view(self, view: str | None) -> list[Action]:
        """The actions of ``view`` first, then those that work everywhere."""
        own = [a for a in self.actions if view is not None and view in a.views]
        return own + [a for a in self.actions if not a.views]
