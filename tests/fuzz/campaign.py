"""The long fuzz campaign: every target of ``tests/fuzz/targets.py`` in turn, for a share of
a time budget, in Hypothesis batches with fresh seeds; prints the inputs tried, the
crashes (distinct failures) and the hangs (an input running past ``--hang-seconds``) of
each. A failure's shrunk input, and a hang's input, are kept in ``corpus/<target>/``.

    python -m tests.fuzz.campaign --minutes 30 [--targets frontend,backend] [--json out]

``scripts/fuzz-campaign.sh`` runs it at low priority with an outer time limit (a hang in
native code that no signal interrupts is then the campaign's own timeout).
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from types import FrameType
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings

from tests.fuzz.case import Case, corpus_files, load, replays, save
from tests.fuzz.targets import TARGETS, Target


class Hang(BaseException):
    """Raised by the watchdog in an input that runs too long. A BaseException, so that
    neither the code under test nor Hypothesis takes it for an ordinary failure."""


@dataclass
class Figures:
    target: str
    seconds: float = 0.0
    inputs: int = 0  # generated, shrunk and corpus inputs run
    corpus: int = 0  # of which corpus replays
    batches: int = 0
    crashes: int = 0  # distinct failures
    hangs: int = 0
    slowest: float = 0.0  # seconds, the slowest input that finished
    failures: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # corpus files written


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise Hang()


def _timed(figures: Figures, target: Target, value: Any, hang_seconds: float) -> None:
    figures.inputs += 1
    start = time.perf_counter()
    signal.setitimer(signal.ITIMER_REAL, hang_seconds)
    try:
        target.check(value)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    figures.slowest = max(figures.slowest, time.perf_counter() - start)


def _is_hang(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):  # raised inside an event loop's task group
        return any(_is_hang(e) for e in exc.exceptions)
    return isinstance(exc, Hang)


def _failure_key(exc: BaseException) -> str:
    first = (str(exc).splitlines() or [""])[0][:120]
    return f"{type(exc).__name__}: {first}"


def _keep(figures: Figures, target: Target, value: Any, prefix: str) -> None:
    if target.corpus and isinstance(value, Case):
        figures.kept.append(str(save(target.name, value, prefix)))
    else:
        figures.kept.append(f"{prefix}: {value!r}"[:500])


def _batch(
    target: Target, figures: Figures, size: int, hang_seconds: float, last: dict[str, Any]
) -> Callable[[], None]:
    """One Hypothesis run of ``size`` examples with a fresh seed; ``last`` gets the last
    input run and the last that failed (after shrinking: the smallest)."""

    @seed(random.getrandbits(64))
    @settings(
        max_examples=size,
        deadline=None,
        database=None,
        phases=(Phase.generate, Phase.target, Phase.shrink),
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(target.inputs)
    def search(value: Any) -> None:
        last["value"] = value
        try:
            _timed(figures, target, value, hang_seconds)
        except Exception:
            last["failed"] = value
            raise

    return search


def run_target(target: Target, seconds: float, hang_seconds: float) -> Figures:
    figures = Figures(target.name)
    started = time.monotonic()
    end = started + seconds
    if target.corpus:
        for path in corpus_files(target.name):
            for case in replays(load(path)):
                figures.corpus += 1
                try:
                    _timed(figures, target, case, hang_seconds)
                except Hang:
                    figures.hangs += 1
                    figures.failures.append(f"hang on corpus {path.name}")
                except Exception as exc:
                    figures.crashes += 1
                    figures.failures.append(f"corpus {path.name}: {_failure_key(exc)}")
    batch = 200
    seen: set[str] = set()
    while time.monotonic() < end:
        last: dict[str, Any] = {}
        search = _batch(target, figures, batch, hang_seconds, last)
        t0, n0 = time.monotonic(), figures.inputs
        figures.batches += 1
        try:
            search()
        except Exception as exc:
            key = _failure_key(exc)
            if key not in seen:
                seen.add(key)
                figures.crashes += 1
                figures.failures.append(key)
                if "failed" in last:
                    _keep(figures, target, last["failed"], "crash")
        except BaseException as exc:  # the watchdog's Hang, maybe in a group
            if not _is_hang(exc):
                raise
            figures.hangs += 1
            figures.failures.append(f"hang: {last['value']!r}"[:300])
            _keep(figures, target, last["value"], "hang")
        # batches of about 30 s: a failure costs one batch's remaining examples
        took = max(time.monotonic() - t0, 1e-3)
        rate = (figures.inputs - n0) / took
        left = end - time.monotonic()
        batch = int(max(50, min(rate * min(30.0, left), 200_000)))
    figures.seconds = round(time.monotonic() - started, 1)
    figures.slowest = round(figures.slowest, 3)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="in all, shared evenly")
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated")
    parser.add_argument("--hang-seconds", type=float, default=5.0)
    parser.add_argument("--json", help="write the figures here as well")
    args = parser.parse_args(argv)
    names = [n for n in args.targets.split(",") if n]
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        parser.error(f"unknown targets {unknown}; known: {sorted(TARGETS)}")
    signal.signal(signal.SIGALRM, _alarm)
    share = args.minutes * 60 / len(names)
    results = []
    for name in names:
        figures = run_target(TARGETS[name], share, args.hang_seconds)
        results.append(figures)
        print(
            f"{name:20} {figures.seconds:8.0f} s {figures.inputs:10d} inputs "
            f"{figures.crashes:3d} crashes {figures.hangs:3d} hangs "
            f"(slowest input {figures.slowest:.3f} s)",
            flush=True,
        )
        for failure in figures.failures:
            print(f"    {failure}", flush=True)
        for kept in figures.kept:
            print(f"    kept {kept}", flush=True)
    total = sum(f.inputs for f in results)
    crashes = sum(f.crashes for f in results)
    hangs = sum(f.hangs for f in results)
    wall = sum(f.seconds for f in results)
    print(f"{'all':20} {wall:8.0f} s {total:10d} inputs {crashes:3d} crashes {hangs:3d} hangs")
    if args.json:
        with open(args.json, "w") as out:
            json.dump([asdict(f) for f in results], out, indent=2)
    return 1 if crashes or hangs else 0


if __name__ == "__main__":
    sys.exit(main())
