"""Keeping the garbage collector's long pauses away from keystrokes.

CPython's cyclic collector now and then examines every object it tracks. With 10,000 machines
read into the machines view such a full collection takes 0.1–0.2 s, and it comes whenever
allocations happen to trigger it: soon after a load, in the middle of a keystroke or a scroll.
``settle`` is called once a load is on screen: it collects then, and freezes what is alive
(``gc.freeze``), so that later collections skip those objects and stay short. Nothing is kept
for good: each ``settle`` first unfreezes, so its collection examines everything again.
"""

from __future__ import annotations

import gc


def settle() -> None:
    gc.unfreeze()
    gc.collect()
    gc.freeze()
