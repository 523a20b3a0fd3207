"""The ``anygrad`` command (also ``python -m anygrad``).

``anygrad train`` trains an MLP classifier and writes a checkpoint, metrics and plots::

    anygrad train                                   # Fashion-MNIST, the tuned defaults
    anygrad train --data mnist:~/data/mnist --hidden 512,256 --epochs 10
    anygrad train --data synthetic --limit 2000 --epochs 2 --backend torch --out runs/quick
    anygrad train --batch-size 1 --optimizer sgd --lr 0.01 --epochs 1   # per-sample SGD, as in the course
    mpiexec -n 4 python -m mpi4py -m anygrad train --distributed --batch-size 32   # data-parallel, 4 ranks

With ``--distributed`` MPI starts before the arguments are checked, and a rank that fails
(a data path missing on one node, a bad argument, an exception) ends the whole job with
``MPI_Abort`` instead of leaving the other ranks waiting in their next collective.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from anygrad import distributed as dist
from anygrad.backend import BACKEND_NAMES, keep_freed_memory
from anygrad.training import (
    ACTIVATIONS,
    DATA_HELP,
    DEFAULT_LR,
    OPTIMIZERS,
    SCHEDULES,
    TrainConfig,
    parse_data,
    parse_hidden,
    train,
)

__all__ = ["main", "make_parser"]


def _checked(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse ``type`` that turns the parser's ValueError into argparse's clear message."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def _data(text: str) -> str:
    parse_data(text)
    return text


def _positive_int(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise ValueError(f"expected a positive integer, got {text!r}")
    return int(text)


def _non_negative_int(text: str) -> int:
    if not text.strip().isdigit():
        raise ValueError(f"expected a non-negative integer, got {text!r}")
    return int(text)


def _probability(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise ValueError(f"expected a probability in [0, 1), got {text!r}")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise ValueError(f"expected a non-negative number, got {text!r}")
    return value


def make_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``anygrad`` command."""
    defaults = TrainConfig.__dataclass_fields__
    parser = argparse.ArgumentParser(prog="anygrad", description="anygrad: autograd over the Python Array API.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    train = commands.add_parser(
        "train", help="train an MLP classifier (Fashion-MNIST, MNIST or synthetic data)",
        description="Train an MLP classifier and write model.safetensors, metrics.json and PNG plots to --out. "
                    "The defaults reach >= 0.89 test accuracy on Fashion-MNIST in 20 epochs.")

    def default(name: str) -> Any:
        return defaults[name].default

    train.add_argument("--data", type=_checked(_data), default=default("data"),
                       help=f"the data set: {DATA_HELP} (default: %(default)s)")
    train.add_argument("--hidden", type=_checked(parse_hidden), default=",".join(map(str, default("hidden"))),
                       help='hidden layer sizes, comma-separated, "" for none (default: %(default)s)')
    train.add_argument("--activation", choices=ACTIVATIONS, default=default("activation"),
                       help="activation after each hidden layer (default: %(default)s)")
    train.add_argument("--dropout", type=_checked(_probability), default=default("dropout"),
                       help="dropout probability after each hidden activation (default: %(default)s)")
    train.add_argument("--epochs", type=_checked(_positive_int), default=default("epochs"),
                       help="passes over the training set (default: %(default)s)")
    train.add_argument("--batch-size", type=_checked(_positive_int), default=default("batch_size"),
                       help="samples per step; 1 is per-sample SGD (default: %(default)s)")
    train.add_argument("--optimizer", choices=OPTIMIZERS, default=default("optimizer"),
                       help="momentum is SGD with --momentum (default: %(default)s)")
    train.add_argument("--lr", type=_checked(_non_negative), default=None,
                       help="learning rate (default: " + ", ".join(f"{k} {v:g}" for k, v in DEFAULT_LR.items()) + ")")
    train.add_argument("--momentum", type=_checked(_non_negative), default=default("momentum"),
                       help="momentum of --optimizer momentum (default: %(default)s)")
    train.add_argument("--weight-decay", type=_checked(_non_negative), default=default("weight_decay"),
                       help="L2 penalty, decoupled for adamw (default: %(default)s)")
    train.add_argument("--schedule", choices=SCHEDULES, default=default("schedule"),
                       help="per-epoch lr schedule: cosine to 0 over the run, step (x0.1 every third of the "
                            "epochs) or none (default: %(default)s)")
    train.add_argument("--backend", choices=(*BACKEND_NAMES, "strict"), default=default("backend"),
                       help="array library to train with (default: %(default)s)")
    train.add_argument("--device", default=None,
                       help="device of the backend: cpu, cuda, cuda:1, device1, ... (default: the backend's)")
    train.add_argument("--seed", type=_checked(_non_negative_int), default=default("seed"),
                       help="seed of the initial weights, the shuffling and dropout (default: %(default)s)")
    train.add_argument("--limit", type=_checked(_positive_int), default=None,
                       help="use only the first N training and N test samples, for quick runs")
    train.add_argument("--standardize", action=argparse.BooleanOptionalAction, default=default("standardize"),
                       help="shift and scale inputs by the training pixels' mean and std (default: on)")
    train.add_argument("--eval-batch-size", type=_checked(_positive_int), default=default("eval_batch_size"),
                       help="samples per evaluation batch (default: %(default)s)")
    train.add_argument("--out", default=None, help="output folder (default: runs/<data name>)")
    train.add_argument("--plots", action=argparse.BooleanOptionalAction, default=True,
                       help="write the PNG plots (default: on)")
    train.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True,
                       help="show a progress bar (default: on)")
    train.add_argument("--quiet", action="store_true", help="print nothing: no progress bar, no epoch lines")
    train.add_argument("--keep-freed-memory", action=argparse.BooleanOptionalAction, default=True,
                       help="let the C allocator keep freed memory for the next step instead of returning it to "
                            "the OS (anygrad.keep_freed_memory: a batch-512 step of the default MLP 7.0 -> 5.1 ms on NumPy; "
                            "holds up to 64 MiB of free memory) (default: on)")
    train.add_argument("--capture", action=argparse.BooleanOptionalAction, default=default("capture"),
                       help="replay the training step's array operations instead of running its Python every step "
                            "(anygrad.capture: the same values, faster for small models and batches) (default: off)")
    train.add_argument("--distributed", action="store_true",
                       help="train data-parallel on the ranks of an MPI job, --batch-size per rank; only rank 0 "
                            "prints and writes files. Launch: mpiexec -n 4 python -m mpi4py -m anygrad train "
                            "--distributed ... (needs mpi4py: pip install 'anygrad[dist]')")
    return parser


def _default_out(data: str) -> str:
    """runs/fashion-mnist, runs/mnist, runs/synthetic, or runs/<folder name> for a folder."""
    name = data.partition(":")[0] if ":" in data else os.path.basename(os.path.normpath(data))
    return os.path.join("runs", name or "data")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``anygrad`` command with ``argv`` (default: ``sys.argv[1:]``); returns the exit code.

    In an MPI job of more than one rank (``--distributed``), a failure on any rank (a
    non-zero exit code, a usage error) ends every rank with ``MPI_Abort`` instead.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--distributed" in argv:
        try:
            # Before the arguments are checked: they may fail on one rank only (a path one node lacks).
            dist.init()
        except ImportError as exc:
            print(f"anygrad train: error: {exc}", file=sys.stderr)
            return 1
    try:
        code = _main(argv)
    except SystemExit as exit_:  # argparse's usage errors and --help
        if exit_.code and _in_mpi_job():
            dist._abort_job(exit_.code if isinstance(exit_.code, int) else 1)
        raise
    if code and _in_mpi_job():
        dist._abort_job(code)
    return code


def _in_mpi_job() -> bool:
    return dist.is_initialized() and dist.get_world_size() > 1


def _main(argv: list[str]) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    if args.command != "train":
        parser.print_help(sys.stderr)
        return 2
    if args.keep_freed_memory:
        keep_freed_memory()
    config = TrainConfig(
        data=args.data, hidden=args.hidden, activation=args.activation, dropout=args.dropout, epochs=args.epochs,
        batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr, momentum=args.momentum,
        weight_decay=args.weight_decay, schedule=args.schedule, backend=args.backend, device=args.device,
        seed=args.seed, limit=args.limit, standardize=args.standardize, eval_batch_size=args.eval_batch_size,
        out=args.out or _default_out(args.data), plots=args.plots, progress=args.progress and not args.quiet,
        verbose=not args.quiet, distributed=args.distributed, capture=args.capture)
    try:
        train(config)
    except (FileNotFoundError, ImportError) as exc:  # a missing data set or an optional library
        print(f"anygrad train: error: {exc}", file=sys.stderr)
        return 1
    return 0
