"""How reliably a lesson's claims hold: N rounds of every named run of its claims.py, each
round judged in full (broken and fixed claims), on a noisy machine as it is.

    python benchmarks/claims_repeat.py 14-cache-stampede --rounds 20 [--backend local]

Prints one line per round (passed, or the claims that failed and why) and the count at the
end; exits 1 if any round failed. An author runs it before trusting a threshold ("held in 20
consecutive runs"); it is a measurement, not a test, so CI does not run it.
"""

from __future__ import annotations

import argparse
import sys
import time

from gopitfalls.claims import judge
from gopitfalls.course import lesson


def one_round(slug: str, backend: str | None) -> list[str]:
    """Every named run of the lesson, made once and judged; the failures, if any."""
    lsn = lesson(slug)
    runs = {name: lsn.run(name, backend=backend, progress=None) for name in lsn.runs}
    return [f"{v.claim}: {v.failure}" for stage in ("broken", "fixed")
            for v in judge(lsn.claims, stage, runs).failed]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lesson", help="slug or number, e.g. 14")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--backend", default=None, help="local or docker (default: the engine's)")
    args = parser.parse_args(argv)
    passed = 0
    for i in range(1, args.rounds + 1):
        t0 = time.monotonic()
        failures = one_round(args.lesson, args.backend)
        passed += not failures
        verdict = "passed" if not failures else "FAILED: " + " | ".join(failures)
        print(f"round {i:2d} ({time.monotonic() - t0:4.1f} s): {verdict}", flush=True)
    print(f"{lesson(args.lesson).slug}: {passed} of {args.rounds} rounds passed every claim")
    return 0 if passed == args.rounds else 1


if __name__ == "__main__":
    sys.exit(main())
