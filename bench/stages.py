"""Where a training step's time goes: ``python -m bench.stages``.

Times the stages of the bench's step, each summed over ``--steps`` consecutive steps,
best of ``--repeats``, in microseconds per step:

- anygrad (``nn.MLP`` + ``F.cross_entropy`` + ``optim.SGD``): zero_grad, forward, loss,
  backward, optimizer step;
- the hand-written NumPy step: forward, loss and its gradient, backward with each layer's
  update applied as soon as its gradients exist (so "backward+update" compares with
  anygrad's backward plus step).

A small ``--inputs`` / ``--hidden`` (e.g. 16 and 16,16) makes the array work negligible and
leaves the per-step Python cost. Timings only; correctness is the main harness's job.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence

from anygrad import keep_freed_memory
from anygrad.nn import functional
from bench.peers import NumpyHandEngine
from bench.workload import AnygradEngine, Workload


def _best(stage_times: Callable[[], dict[str, float]], repeats: int) -> dict[str, float]:
    runs = [stage_times() for _ in range(repeats)]
    return {stage: min(run[stage] for run in runs) for stage in runs[0]}


def anygrad_stages(engine: AnygradEngine, steps: int) -> dict[str, float]:
    """Seconds per step in each stage of ``steps`` anygrad steps (api "nn")."""
    model, optimizer = engine.model, engine.optimizer
    totals = dict.fromkeys(("zero_grad", "forward", "loss", "backward", "step"), 0.0)
    clock, batches = time.perf_counter, engine._batches
    for i in range(steps):
        x, y = batches[i % len(batches)]
        t0 = clock()
        optimizer.zero_grad()
        t1 = clock()
        logits = model(x)
        t2 = clock()
        loss = functional.cross_entropy(logits, y)
        t3 = clock()
        loss.backward()
        t4 = clock()
        optimizer.step()
        t5 = clock()
        for stage, seconds in zip(totals, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
            totals[stage] += seconds
    engine.finish()
    return {stage: seconds / steps for stage, seconds in totals.items()}


def hand_stages(engine: NumpyHandEngine, steps: int) -> dict[str, float]:
    """Seconds per step in each stage of ``steps`` hand-written NumPy steps."""
    totals = dict.fromkeys(("forward", "loss+gradient", "backward+update"), 0.0)
    clock, batches = time.perf_counter, engine._batches
    for i in range(steps):
        x, y = batches[i % len(batches)]
        t0 = clock()
        activations = engine.forward(x)
        t1 = clock()
        _, g = engine.loss_and_gradient(activations.pop(), y)
        t2 = clock()
        engine.backward_and_update(activations, g)
        t3 = clock()
        for stage, seconds in zip(totals, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            totals[stage] += seconds
    return {stage: seconds / steps for stage, seconds in totals.items()}


def _line(name: str, stages: dict[str, float]) -> str:
    parts = "  ".join(f"{stage} {seconds * 1e6:.1f}" for stage, seconds in stages.items())
    return f"{name:15s} {parts}  total {sum(stages.values()) * 1e6:.1f}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stages", description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3000, help="steps per repeat (default 3000)")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many (default 3)")
    parser.add_argument("--inputs", type=int, default=784, help="input features (default 784)")
    parser.add_argument("--hidden", default="128,128", help="hidden widths (default 128,128)")
    parser.add_argument("--backend", default="numpy", help="anygrad's backend (default numpy)")
    args = parser.parse_args(argv)
    allocator = keep_freed_memory()
    workload = Workload(hidden=tuple(int(n) for n in args.hidden.split(",")), n_in=args.inputs)
    weights, batches = workload.initial_weights(), workload.batches(args.batch_size)
    anygrad_engine, hand = AnygradEngine(workload, args.backend, "nn"), NumpyHandEngine(workload)
    for engine in (anygrad_engine, hand):
        engine.load(weights, batches)
        engine.run(max(1, args.steps // 10))  # warm-up
    print(f"batch {args.batch_size}, MLP {'-'.join(map(str, workload.sizes))}, {args.steps} steps, "
          f"best of {args.repeats} (us per step; allocator {allocator['setting']})")
    print(_line(anygrad_engine.name, _best(lambda: anygrad_stages(anygrad_engine, args.steps), args.repeats)))
    print(_line(hand.name, _best(lambda: hand_stages(hand, args.steps), args.repeats)))


if __name__ == "__main__":
    main()
