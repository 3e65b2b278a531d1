"""The guardian: ``python -m gopitfalls.guardian PID`` waits for the engine process PID to
die, even by SIGKILL, and then reaps what it left (see :mod:`gopitfalls.registry`).

A module of its own, so running it never re-executes a module the package has already
imported (runpy's RuntimeWarning), and it loads only the registry, not the whole engine.
"""

import sys
import time

from .registry import process_start, reap, same_process_running


def watch(owner: int) -> None:
    owner_start = process_start(owner)
    while same_process_running(owner, owner_start):
        time.sleep(0.3)
    reap(only_dead_owners=True)


if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit("usage: python -m gopitfalls.guardian OWNER_PID")
    watch(int(sys.argv[1]))
