"""``python -m bench``: training-step throughput of anygrad against its peers.

See ``python -m bench --help`` and bench/NOTES.md.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from anygrad import get_backend, keep_freed_memory
from bench import measure, report
from bench.peers import PEER_NAMES, TorchEngine, default_backends, default_peers, make_engines
from bench.workload import AnygradEngine, Workload, parse_backend_spec

# What --smoke sets (each still overridable by its own option): seconds of work, not minutes.
SMOKE = {"hidden": (32,), "batch_sizes": [1, 8], "seconds": 0.02, "repeats": 2, "gemm_size": 256,
         "overhead_ops": 100}
DEFAULTS = {"hidden": (128, 128), "batch_sizes": [1, 8, 32, 128, 512, 2048], "seconds": 0.25, "repeats": 5,
            "gemm_size": 2048, "overhead_ops": 1000}


def _ints(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _joined(values: Any) -> str:
    return ",".join(map(str, values))


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def parser() -> argparse.ArgumentParser:
    """The command line (every default is shown by --help)."""
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Samples/s of one MLP training step (forward, cross-entropy, backward, SGD) for anygrad on "
        "each backend, a hand-written NumPy step and PyTorch eager, with each backend's GEMM limit.",
    )
    p.add_argument("--hidden", type=_ints, help=f"hidden layer widths (default {_joined(DEFAULTS['hidden'])})")
    p.add_argument("--batch-sizes", type=_ints,
                   help=f"batch sizes; 1 is per-sample training (default {_joined(DEFAULTS['batch_sizes'])})")
    p.add_argument("--backends", type=_names,
                   help=f"anygrad backends, name or name:device, with +capture for the step wrapped in anygrad.capture "
                   f"(default {_joined(default_backends())})")
    p.add_argument("--peers", type=_names,
                   help=f"peers among {', '.join(PEER_NAMES)} (default {_joined(default_peers())}; '' for none)")
    p.add_argument("--data", choices=("synthetic", "fashion-mnist"), default="synthetic",
                   help="synthetic MNIST-shaped data, or Fashion-MNIST's training images")
    p.add_argument("--seconds", type=float, help=f"time per measurement (default {DEFAULTS['seconds']})")
    p.add_argument("--repeats", type=int,
                   help=f"measurements per engine and batch size (default {DEFAULTS['repeats']})")
    p.add_argument("--gemm-size", type=int,
                   help=f"n of the n^3 GEMM giving the limit (default {DEFAULTS['gemm_size']})")
    p.add_argument("--overhead-ops", type=int,
                   help=f"adds in the per-op overhead chain; 0 skips it (default {DEFAULTS['overhead_ops']})")
    p.add_argument("--json", metavar="FILE", help="write the results and environment as JSON")
    p.add_argument("--plot", metavar="FILE", help="write a PNG plot: samples/s vs batch size, log-log")
    p.add_argument("--smoke", action="store_true", help="tiny sizes and times, for CI (seconds, not minutes)")
    p.add_argument("--dist", action="store_true",
                   help="instead: samples/s and allreduce time of the step data-parallel over MPI (numpy backend; "
                   "batch size = the first of --batch-sizes per rank, default 64; needs anygrad[dist])")
    p.add_argument("--ranks", type=_ints, default=[1, 2, 4], help="with --dist: MPI rank counts (default 1,2,4)")
    return p


def settings_from(args: argparse.Namespace) -> dict[str, Any]:
    """The options with --smoke's or the normal defaults filled in."""
    base = SMOKE if args.smoke else DEFAULTS
    settings = {key: getattr(args, key) if getattr(args, key) is not None else value for key, value in base.items()}
    settings["hidden"] = tuple(settings["hidden"])
    settings["backends"] = default_backends() if args.backends is None else args.backends
    settings["peers"] = default_peers() if args.peers is None else args.peers
    settings["data"] = args.data
    if settings["seconds"] <= 0 or settings["repeats"] < 1 or settings["gemm_size"] < 1 or settings["overhead_ops"] < 0:
        raise ValueError("--seconds must be > 0, --repeats and --gemm-size >= 1, --overhead-ops >= 0")
    for spec in settings["backends"]:
        name, device, _ = parse_backend_spec(spec)
        get_backend(name, device)  # raises ValueError naming the known backends
    if not settings["backends"] and not settings["peers"]:
        raise ValueError("nothing to measure: --backends and --peers are both empty")
    unknown = sorted(set(settings["peers"]) - set(PEER_NAMES))
    if unknown:
        raise ValueError(f"unknown peer(s) {unknown}; known peers: {', '.join(PEER_NAMES)}")
    return settings


def run(settings: dict[str, Any], log: Any = print) -> dict[str, Any]:
    """Measure everything ``settings`` asks for; returns the result report.py formats."""
    measure.match_torch_threads()
    # First, before anything is allocated: no engine's speed then depends on what the
    # process freed before it (the 16 MiB GEMM operands would raise glibc's thresholds).
    allocator = keep_freed_memory()
    workload = Workload(hidden=settings["hidden"], data=settings["data"])
    engines = make_engines(workload, settings["backends"], settings["peers"])
    weights = workload.initial_weights()
    env = {**measure.environment(), "allocator": allocator}
    start = measure.cpu_snapshot()
    apis = sorted({engine.api for engine in engines if isinstance(engine, AnygradEngine)})
    log(f"anygrad step written with: {', '.join(apis) or '-'} (nn: nn.MLP + F.cross_entropy + optim.SGD; "
        "ops: op-level API)")
    kernels = env["threads"]["env"].get("OPENBLAS_CORETYPE")
    log(f"{env['cpu']}, {env['cpus_usable']} CPUs usable, BLAS threads {env['threads']['blas']}"
        f"{f' (OPENBLAS_CORETYPE={kernels})' if kernels else ''}, torch threads {env['threads'].get('torch', '-')}; "
        f"python {env['python']}; C allocator: {allocator['setting']}")

    log("measuring each backend's float32 GEMM rate and the engine overhead per op")
    backends = {engine.backend.label: engine.backend for engine in engines}
    gemm = {label: measure.gemm_flops(b, settings["gemm_size"], seconds=min(0.5, 4 * settings["seconds"]))
            for label, b in backends.items()}
    overhead = {}
    if settings["overhead_ops"]:
        for engine in engines:
            if isinstance(engine, AnygradEngine):
                if engine.captured:
                    continue  # the chain measures eager ops; a captured step has no per-op Python
                seconds = measure.anygrad_op_overhead(engine.backend, settings["overhead_ops"])
            elif isinstance(engine, TorchEngine):
                seconds = measure.torch_op_overhead(str(engine.backend.device), settings["overhead_ops"])
            else:
                continue
            overhead[engine.name] = seconds * 1e6

    results: dict[str, dict[str, Any]] = {engine.name: {} for engine in engines}
    for batch_size in settings["batch_sizes"]:
        log(f"batch size {batch_size}: checking each engine against the float64 reference step, then timing")
        rates, faults = measure.measure_batch_size(engines, weights, batch_size, repeats=settings["repeats"],
                                                   seconds=settings["seconds"])
        for name, values in rates.items():
            results[name][str(batch_size)] = {**measure.summary(values), "samples_per_s": values,
                                              "page_faults_per_step": faults[name]}

    # Other processes on the machine skew every figure, multi-threaded ones most.
    env["other_processes_cpus"] = measure.other_processes_cpus(start, measure.cpu_snapshot())
    names = {engine.name for engine in engines}
    info = {}
    for engine in engines:
        anygrad_engine = isinstance(engine, AnygradEngine)
        torch_peer = "torch" if engine.backend.is_host else "torch-cuda"
        info[engine.name] = {
            "kind": "anygrad" if anygrad_engine else "peer",
            "backend": engine.backend.label,
            "torch": torch_peer if anygrad_engine and torch_peer in names else None,
            "hand": "numpy-hand" if anygrad_engine and "numpy-hand" in names else None,
            "api": getattr(engine, "api", None),  # anygrad: nn (modules, optimizer) or ops (op level)
            "captured": getattr(engine, "captured", None),  # anygrad: the step wrapped in anygrad.capture
        }
    return {
        "settings": {**settings, "hidden": list(settings["hidden"])},
        "workload": {"sizes": list(workload.sizes), "lr": workload.lr, "data": workload.data, "dtype": "float32",
                     "loss": "softmax cross-entropy (mean)", "optimizer": "SGD",
                     "flops_per_sample": workload.flops_per_sample},
        "environment": env,
        "engines": info,
        "gemm_gflops": {label: flops / 1e9 for label, flops in gemm.items()},
        "limits": {label: measure.limit_samples_per_s(workload, flops) for label, flops in gemm.items()},
        "overhead_us_per_op": overhead,
        "results": results,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark from the command line; prints the tables last."""
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv)
    if args.dist:
        return _main_dist(args, argv)
    try:
        settings = settings_from(args)
    except ValueError as exc:
        parser().error(str(exc))
    result = run(settings)
    result["command"] = "python -m bench " + shlex.join(argv)
    if args.json:
        report.write_json(result, args.json)
    if args.plot:
        report.plot(result, args.plot)
    print()
    print(report.preamble(result))
    print()
    print(report.tables(result))
    return 0


def _main_dist(args: argparse.Namespace, argv: list[str]) -> int:
    """``--dist``: launch bench.dist_worker with each of --ranks; prints the table last."""
    from bench import dist_worker

    base = SMOKE if args.smoke else DEFAULTS
    batch_size = args.batch_sizes[0] if args.batch_sizes else (8 if args.smoke else 64)
    seconds = args.seconds if args.seconds is not None else (0.05 if args.smoke else 2.0)
    if seconds <= 0:
        parser().error("--seconds must be > 0")
    result = dist_worker.launch(args.ranks, batch_size, seconds, tuple(args.hidden or base["hidden"]))
    result["command"] = "python -m bench " + shlex.join(argv)
    if args.json:
        report.write_json(result, args.json)
    print()
    print(dist_worker.table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
