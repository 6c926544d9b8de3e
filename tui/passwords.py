"""WinRM passwords the operator types into the console: asked once, kept in memory only.

The transport asks :class:`Passwords` last, after the environment and the keyring (see
:mod:`backends.transports.winrm_password`). The first machine that needs one opens the prompt
(one prompt at a time); the answer is kept for that machine, or for every Windows machine when
the operator says so, until the console exits. A prompt the operator cancels is not shown again
during that scan. A machine whose scan then fails forgets its password (a mistyped one is asked
again next time); the shared one is forgotten when no machine it was given to succeeded.
Nothing here logs, prints or stores a password.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Answer:
    password: str
    every: bool  # for every Windows machine, not only this one


Asker = Callable[[str, str | None], Awaitable[Answer | None]]


class Passwords:
    def __init__(self, asker: Asker | None = None) -> None:
        self.asker = asker  # the console's prompt, set once it runs
        self._own: dict[str, str] = {}
        self._every: str | None = None
        self._given_every: set[str] = set()
        self._declined = False
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:  # never the passwords themselves
        return f"Passwords(machines={len(self._own)}, every={self._every is not None})"

    def start_scan(self) -> None:
        """A new scan: a prompt cancelled during the last one may be shown again."""
        self._declined = False

    async def __call__(self, name: str, user: str | None) -> str | None:
        """A :data:`~backends.transports.winrm_password.PasswordSource`."""
        async with self._lock:  # one prompt at a time; the next machine may use its answer
            known = self._known(name)
            if known is not None or self._declined or self.asker is None:
                return known
            answer = await self.asker(name, user)
            if answer is None or not answer.password:
                self._declined = True
                return None
            if answer.every:
                self._every = answer.password
            else:
                self._own[name] = answer.password
            return self._known(name)

    def _known(self, name: str) -> str | None:
        if name in self._own:
            return self._own[name]
        if self._every is not None:
            self._given_every.add(name)
        return self._every

    def settle(self, succeeded: Iterable[str], failed: Iterable[str]) -> None:
        """After a scan: forget what the failed machines were given, unless it worked
        elsewhere (the shared password)."""
        ok = set(succeeded)
        for name in failed:
            self._own.pop(name, None)
        if self._given_every and not self._given_every & ok:
            self._every = None
        self._given_every.clear()
