"""Eager against captured steps: ``python -m bench.captured``.

Times anygrad's bench step eagerly and wrapped in ``anygrad.capture`` (every timed step a
replay), next to the hand-written NumPy step, in one process: ``--repeats`` rounds, each
running every engine for ``--steps`` steps one after the other, so that the ratios of a
round compare measurements made under one load of the machine. Prints microseconds per
step (best and median over the rounds) and each anygrad engine's ratio to the hand step.

A small ``--inputs`` / ``--hidden`` (e.g. 16 and 16,16) makes the array work negligible and
leaves the per-step Python cost. Timings only; correctness is the main harness's job.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence

from anygrad import keep_freed_memory
from bench.peers import NumpyHandEngine
from bench.workload import AnygradEngine, Engine, Workload


def rounds(engines: dict[str, Engine], steps: int, repeats: int) -> dict[str, list[float]]:
    """Seconds per step of each engine in each round."""
    times: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(repeats):
        for name, engine in engines.items():
            start = time.perf_counter()
            engine.run(steps)
            times[name].append((time.perf_counter() - start) / steps)
    return times


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.captured", description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--steps", type=int, help="steps per engine and round (default: ~20k samples' worth)")
    parser.add_argument("--repeats", type=int, default=7, help="rounds (default 7)")
    parser.add_argument("--inputs", type=int, default=784, help="input features (default 784)")
    parser.add_argument("--hidden", default="128,128", help="hidden widths (default 128,128)")
    args = parser.parse_args(argv)
    allocator = keep_freed_memory()
    workload = Workload(hidden=tuple(int(n) for n in args.hidden.split(",")), n_in=args.inputs)
    engines: dict[str, Engine] = {"eager": AnygradEngine(workload, "numpy"),
                                  "captured": AnygradEngine(workload, "numpy+capture"),
                                  "hand": NumpyHandEngine(workload)}
    steps = args.steps or max(50, 20000 // args.batch_size)
    for engine in engines.values():
        engine.load(workload.initial_weights(), workload.batches(args.batch_size))
        engine.run(max(1, steps // 10))  # warm-up
    times = rounds(engines, steps, args.repeats)
    print(f"batch {args.batch_size}, MLP {'-'.join(map(str, workload.sizes))}, {args.repeats} rounds of {steps} "
          f"steps (us per step; allocator {allocator['setting']})")
    for name, seconds in times.items():
        print(f"{name:9s} best {min(seconds) * 1e6:8.1f}  median {statistics.median(seconds) * 1e6:8.1f}")
    for name in ("eager", "captured"):
        ratios = [hand / mine for hand, mine in zip(times["hand"], times[name], strict=True)]
        print(f"{name} / hand within rounds: median {statistics.median(ratios):.3f} "
              f"[{min(ratios):.3f}-{max(ratios):.3f}]")


if __name__ == "__main__":
    main()
