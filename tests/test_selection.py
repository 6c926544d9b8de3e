"""Which updates a deployment installs: classification × include × exclude, exclude winning,
globs on id, name and advisories, and what each reboot option expects."""

from __future__ import annotations

import pytest

from backends.engine.selection import REBOOT_ONLY_REASON, matches, reboot_expected, select
from backends.inventory.deployment_options import DeploymentOptions, build_options
from backends.inventory.records import Update


def _update(
    name: str,
    classification: str,
    advisories: tuple[str, ...] = (),
    platform_id: str | None = None,
    reboot_likely: bool = False,
) -> Update:
    return Update(
        platform_id=platform_id or name,
        name=name,
        installed="1.0",
        available="1.1",
        classification=classification,
        advisories=advisories,
        reboot_likely=reboot_likely,
    )


UPDATES = (
    _update("openssl", "security", ("DSA-5532-1",)),
    _update("libssl3", "security", ("DSA-5532-1",)),
    _update("tzdata", "other"),
    _update("linux-image-amd64", "security", reboot_likely=True),
    _update("vim", "other", ("DLA-3600-1",)),
    _update("openssh-server", "other", platform_id="openssh-server.x86_64"),
)


def _picked(**options: object) -> tuple[list[str], dict[str, str]]:
    selection = select(UPDATES, build_options(**options))  # type: ignore[arg-type]
    return (
        [u.name for u in selection.selected],
        {e.update.name: e.reason for e in selection.excluded},
    )


def test_defaults_select_security_and_critical_only() -> None:
    selected, excluded = _picked()
    assert selected == ["libssl3", "linux-image-amd64", "openssl"]  # by platform id
    assert excluded == {
        "openssh-server": "classification other is not selected",
        "tzdata": "classification other is not selected",
        "vim": "classification other is not selected",
    }


@pytest.mark.parametrize(
    ("options", "selected"),
    [
        ({"classifications": ["other"]}, ["openssh-server", "tzdata", "vim"]),
        ({"classifications": ["security", "other"]},
         ["libssl3", "linux-image-amd64", "openssh-server", "openssl", "tzdata", "vim"]),
        # include adds to what the classifications select
        ({"include": ["tzdata"]}, ["libssl3", "linux-image-amd64", "openssl", "tzdata"]),
        # with no classification, only what include names
        ({"classifications": ["none"], "include": ["open*"]},
         ["openssh-server", "openssl"]),
        # exclude takes away from the classifications
        ({"exclude": ["linux-image-*"]}, ["libssl3", "openssl"]),
        # exclude wins over include
        ({"classifications": ["none"], "include": ["open*"], "exclude": ["openssl"]},
         ["openssh-server"]),
        ({"include": ["tzdata"], "exclude": ["tz*"]}, ["libssl3", "linux-image-amd64", "openssl"]),
        # advisories and platform ids match too; case does not matter
        ({"classifications": ["none"], "include": ["dla-3600-?"]}, ["vim"]),
        ({"classifications": ["none"], "include": ["*.X86_64"]}, ["openssh-server"]),
        ({"exclude": ["DSA-5532-1"]}, ["linux-image-amd64"]),
    ],
)  # fmt: skip
def test_classification_include_exclude_precedence(
    options: dict[str, object], selected: list[str]
) -> None:
    assert _picked(**options)[0] == selected


def test_every_excluded_update_says_why() -> None:
    _, excluded = _picked(include=["tzdata"], exclude=["tz*", "libssl3"])
    assert excluded["tzdata"] == "matches --exclude tz*"  # exclude wins, the pattern named
    assert excluded["libssl3"] == "matches --exclude libssl3"
    assert excluded["vim"] == "classification other is not selected and no --include matches"


def test_reboot_only_installs_nothing() -> None:
    selected, excluded = _picked(reboot="reboot-only", include=["tzdata"])
    assert selected == []
    assert set(excluded.values()) == {REBOOT_ONLY_REASON} and len(excluded) == len(UPDATES)


def test_a_glob_is_the_whole_value_with_only_star_and_question_mark() -> None:
    assert matches("lib*", "libssl3") and not matches("lib", "libssl3")
    assert matches("libssl?", "LIBSSL3")
    assert not matches("libssl[0-9]", "libssl3")  # brackets are literal
    assert matches("a.b", "a.b") and not matches("a.b", "axb")  # a dot is a dot


@pytest.mark.parametrize(
    ("reboot", "likely", "pending", "expected"),
    [
        ("if-required", False, False, False),
        ("if-required", True, False, True),
        ("if-required", False, True, True),  # the machine already waits for one
        ("if-required", False, None, False),
        ("never", True, True, False),
        ("always", False, False, True),
        ("reboot-only", False, False, True),
    ],
)
def test_reboot_expected(reboot: str, likely: bool, pending: bool | None, expected: bool) -> None:
    selected = [_update("pkg", "security", reboot_likely=likely)]
    assert reboot_expected(reboot, selected, pending) is expected


def test_the_same_updates_in_any_order_give_the_same_selection() -> None:
    options = DeploymentOptions(classifications=("security", "other"), exclude=("vim",))
    assert select(UPDATES, options) == select(tuple(reversed(UPDATES)), options)
