"""The interpreter set for a long-lived loop: what it holds at start-up left out of
garbage collection, and other threads made to yield the GIL quickly.

Both are about the latency tail (docs/PERFORMANCE.md, "The tail"):

- The cyclic collector's full passes walk every tracked object the process holds.
  Everything built before the loop starts (modules, the store's caches, the
  roster after a restart's rebuild) lives as long as the broker does, so
  `gc.freeze` moves it to the permanent generation, where no pass walks it.
- The broker's helper threads (the search index's writer, the WAL checkpointer)
  run Python between their SQLite calls. A frame that arrives then waits for
  the GIL until the thread lets go of it, by default up to 5 ms
  (`sys.getswitchinterval`). A shorter interval bounds that wait.
"""

import gc
import sys

#: Seconds another thread may keep the GIL once the loop wants it (default 0.005).
SWITCH_INTERVAL = 0.0005


def settle() -> None:
    """Call once, after start-up and before the loop: see the module's docstring."""
    gc.collect()
    gc.freeze()
    sys.setswitchinterval(SWITCH_INTERVAL)
