"""Train an MLP classifier on Fashion-MNIST, MNIST or a synthetic set: the library side of
``anygrad train``.

>>> from anygrad.training import TrainConfig, train
>>> metrics = train(TrainConfig(data="synthetic", limit=2000, epochs=2, out="runs/demo"))  # doctest: +SKIP
>>> metrics["test_accuracy"][-1]                                                          # doctest: +SKIP

The per-epoch loop never reads a device value per step (``float(loss)`` on a GPU waits for
the whole queue): the loss sum and the count of correct predictions stay on the device,
and each epoch ends with one read of a three-number vector. The data set is placed on
the device once; the DataLoader cuts batches there.

With ``distributed=True`` (``anygrad train --distributed``, launched by ``mpiexec -n 4
python -m mpi4py -m anygrad train --distributed ...``) every MPI rank trains a copy of
the model on its shard of the training set and the gradients are averaged over the ranks
with one fused allreduce per step (:mod:`anygrad.distributed`): the ranks take the steps
one process would take with ``world_size`` times the batch size. Only rank 0 prints and
writes files.
"""

from __future__ import annotations

import contextvars
import dataclasses
import importlib
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from anygrad import distributed as dist
from anygrad import ops
from anygrad.backend import BACKEND_NAMES, Backend, get_backend, manual_seed, use
from anygrad.capture import capture
from anygrad.checkpoint import save
from anygrad.data import (
    FASHION_MNIST_CLASSES,
    DataLoader,
    TensorDataset,
    load_fashion_mnist,
    load_mnist,
    normalize_images,
    pixel_mean_std,
    synthetic_classification,
)
from anygrad.engine import no_grad
from anygrad.nn import MLP, Module
from anygrad.optim import SGD, Adam, AdamW, Optimizer
from anygrad.optim.lr_scheduler import CosineAnnealingLR, LRScheduler, StepLR
from anygrad.tensor import Tensor

__all__ = [
    "ACTIVATIONS",
    "DATA_HELP",
    "DEFAULT_LR",
    "OPTIMIZERS",
    "SCHEDULES",
    "Data",
    "Evaluation",
    "TrainConfig",
    "evaluate",
    "load_data",
    "make_model",
    "make_optimizer",
    "make_scheduler",
    "parse_data",
    "parse_hidden",
    "train",
    "train_one_epoch",
    "training_step",
]

ACTIVATIONS = ("relu", "tanh", "sigmoid", "leaky_relu")
OPTIMIZERS = ("sgd", "momentum", "adam", "adamw")
SCHEDULES = ("cosine", "step", "none")
DATA_HELP = ("fashion-mnist (Debian's dataset-fashion-mnist), fashion-mnist:PATH, mnist:PATH (a folder of IDX "
             "files, mnist.pkl.gz or mnist.npz), synthetic (no download), or a folder of MNIST-style files")

# The learning rate each optimizer gets when none is given.
DEFAULT_LR = {"sgd": 0.1, "momentum": 0.01, "adam": 1e-3, "adamw": 1e-3}

# Sizes of the synthetic set: MNIST's, so that it stands in for it in benchmarks.
SYNTHETIC_TRAIN, SYNTHETIC_TEST = 60000, 10000

# The backend library whose version the metrics record, per backend name.
_LIBRARY = {"numpy": "numpy", "torch": "torch", "jax": "jax", "cupy": "cupy", "array_api_strict": "array_api_strict"}


# --- configuration -----------------------------------------------------------------------------
def parse_hidden(text: str | int | Iterable[int]) -> tuple[int, ...]:
    """Hidden layer sizes from ``"256,128"`` (or a sequence of ints); ``""`` means no hidden layer."""
    if isinstance(text, str):
        parts = [part.strip() for part in text.split(",")] if text.strip() else []
        valid = all(part.isdigit() for part in parts)
        sizes = tuple(int(part) for part in parts) if valid else ()
    else:
        sizes = (text,) if isinstance(text, int) else tuple(text)
        valid = all(isinstance(size, int) and not isinstance(size, bool) for size in sizes)
    if not valid or any(size < 1 for size in sizes):
        raise ValueError(f"hidden sizes must be positive integers separated by commas (e.g. 256,128), got {text!r}")
    return sizes


def parse_data(text: str) -> tuple[str, str | None]:
    """``(kind, path)`` for a ``--data`` value: kind is "fashion-mnist", "mnist" or "synthetic";
    path is None for the default Fashion-MNIST location and for synthetic data."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"data must be one of: {DATA_HELP}; got {text!r}")
    name, colon, path = text.partition(":")
    if name in ("fashion-mnist", "mnist", "synthetic") and colon:
        if name == "synthetic":
            raise ValueError(f"synthetic data takes no path, got {text!r}")
        if not path:
            raise ValueError(f"{name}:PATH needs a path after the colon, got {text!r}")
        if not os.path.exists(os.path.expanduser(path)):
            raise ValueError(f"{name}:PATH: no such file or folder: {path!r}")
        return name, path
    if text == "fashion-mnist" or text == "synthetic":
        return text, None
    if text == "mnist":
        raise ValueError("mnist needs the location of its files: mnist:PATH (a folder of IDX files, "
                         "mnist.pkl.gz or mnist.npz)")
    if os.path.isdir(os.path.expanduser(text)):
        return "mnist", text
    raise ValueError(f"unknown data {text!r}: use {DATA_HELP}")


@dataclasses.dataclass
class TrainConfig:
    """Everything a training run depends on. The defaults reach >= 0.89 test accuracy on
    Fashion-MNIST in 20 epochs (see the README for the measured run).

    ``hidden`` may be given as ``"256,128"``; ``lr=None`` picks the optimizer's default
    (:data:`DEFAULT_LR`); ``out=None`` writes no files; ``limit`` keeps only the first
    ``limit`` training and test samples. ``optimizer`` "momentum" is SGD with ``momentum``.

    ``distributed=True`` trains data-parallel on the ranks of an MPI job (it calls
    :func:`anygrad.distributed.init`): ``batch_size`` is then per rank, each step averages
    the gradients of ``world_size * batch_size`` samples, and only rank 0 prints and
    writes to ``out``. Give every rank the same settings.

    ``capture=True`` runs the training step through :func:`anygrad.capture`: its Python once
    per variant, then replays of its array operations (the same values; faster where the
    Python of a step is a large part of it: small models, small batches).
    """

    data: str = "fashion-mnist"
    hidden: tuple[int, ...] = (256, 128)
    activation: str = "relu"
    dropout: float = 0.1
    epochs: int = 20
    batch_size: int = 128
    optimizer: str = "adam"
    lr: float | None = None
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "cosine"
    backend: str = "numpy"
    device: str | None = None
    seed: int = 0
    limit: int | None = None
    standardize: bool = True
    eval_batch_size: int = 1000
    out: str | None = None
    plots: bool = True
    progress: bool = True
    verbose: bool = True
    distributed: bool = False
    capture: bool = False

    def __post_init__(self) -> None:
        parse_data(self.data)
        self.hidden = parse_hidden(self.hidden)
        if self.backend == "strict":
            self.backend = "array_api_strict"
        if self.backend not in BACKEND_NAMES:
            raise ValueError(f"unknown backend {self.backend!r}; use one of {', '.join(BACKEND_NAMES)}")
        for name, choices in (("activation", ACTIVATIONS), ("optimizer", OPTIMIZERS), ("schedule", SCHEDULES)):
            if getattr(self, name) not in choices:
                raise ValueError(f"unknown {name} {getattr(self, name)!r}; use one of {', '.join(choices)}")
        for name in ("epochs", "batch_size", "eval_batch_size"):
            _check_int(name, getattr(self, name), low=1)
        if self.limit is not None:
            _check_int("limit", self.limit, low=1)
        _check_int("seed", self.seed, low=0)
        if not (isinstance(self.dropout, (int, float)) and 0 <= self.dropout < 1):
            raise ValueError(f"dropout must be a probability in [0, 1), got {self.dropout!r}")
        for name in ("lr", "momentum", "weight_decay"):
            value = getattr(self, name)
            if name == "lr" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(f"{name} must be a non-negative number, got {value!r}")
        for name in ("distributed", "capture"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.capture and self.distributed:
            raise ValueError("capture and distributed do not go together: a captured step cannot record the "
                             "allreduce between the ranks")
        if self.out is not None:
            self.out = os.fspath(self.out)

    @property
    def learning_rate(self) -> float:
        """``lr``, or the optimizer's default when ``lr`` is None."""
        return DEFAULT_LR[self.optimizer] if self.lr is None else float(self.lr)

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready values (``lr`` resolved)."""
        settings = dataclasses.asdict(self)
        settings["hidden"] = list(self.hidden)
        settings["lr"] = self.learning_rate
        return settings


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


# --- data ------------------------------------------------------------------------------------------
class Data(NamedTuple):
    """Train and test sets on the host: images float32 (N, features), labels int64 (N,)."""

    name: str
    train: TensorDataset
    test: TensorDataset
    classes: int
    class_names: tuple[str, ...]
    image_shape: tuple[int, ...]
    mean: float | None  # the standardization applied: (x - mean) / std, None when off
    std: float | None


def load_data(config: TrainConfig) -> Data:
    """The data set ``config.data`` names, cut to ``config.limit`` samples and standardized
    with the training images' mean and std when ``config.standardize``. Labels are checked
    here, once, so the loss need not range-check them on the device every step."""
    kind, path = parse_data(config.data)
    if kind == "synthetic":
        n_train = SYNTHETIC_TRAIN if config.limit is None else config.limit
        n_test = SYNTHETIC_TEST if config.limit is None else min(config.limit, SYNTHETIC_TEST)
        train_set, test_set = synthetic_classification(n_train + n_test, seed=config.seed).split(n_train)
        class_names = tuple(f"class {i}" for i in range(10))
    else:
        if kind == "fashion-mnist":
            train_set, test_set = load_fashion_mnist(path)
            class_names = FASHION_MNIST_CLASSES
        else:
            train_set, test_set = load_mnist(path)
            class_names = tuple(str(i) for i in range(10))
        if config.limit is not None:
            train_set = train_set.split(min(config.limit, len(train_set)))[0]
            test_set = test_set.split(min(config.limit, len(test_set)))[0]
    train_x, train_y = train_set.numpy()
    test_x, test_y = test_set.numpy()
    classes = max(len(class_names), int(train_y.max(initial=0)) + 1)
    for split, labels in (("training", train_y), ("test", test_y)):
        if labels.size and (labels.min() < 0 or labels.max() >= classes):
            raise ValueError(f"{config.data}: {split} labels must lie in [0, {classes}), found "
                             f"{labels.min()} .. {labels.max()}")
    if len(class_names) < classes:
        class_names = tuple(str(i) for i in range(classes))
    mean = std = None
    if config.standardize and len(train_x):
        mean, std = pixel_mean_std(train_x)
        if std > 0:
            train_x, test_x = normalize_images(train_x, mean, std), normalize_images(test_x, mean, std)
        else:
            mean = std = None
    features = train_x.shape[1]
    side = math.isqrt(features)
    image_shape = (side, side) if side * side == features else (1, features)
    return Data(config.data, TensorDataset(train_x, train_y), TensorDataset(test_x, test_y), classes, class_names,
                image_shape, mean, std)


# --- model and optimizer ------------------------------------------------------------------------
def make_model(config: TrainConfig, in_features: int, classes: int, backend: Backend | None = None) -> MLP:
    """The MLP of ``config`` (Linear, activation, [Dropout], ..., Linear), float32, on
    ``backend`` (default: the config's), initialised from the current seed."""
    target = backend or get_backend(config.backend, config.device)
    return MLP(in_features, config.hidden, classes, activation=config.activation, dropout=config.dropout,
               backend=target, dtype="float32")


def make_optimizer(config: TrainConfig, parameters: Iterable[Tensor]) -> Optimizer:
    """The optimizer ``config.optimizer`` names, with its lr, momentum and weight decay."""
    params, lr = list(parameters), config.learning_rate
    if config.optimizer == "sgd":
        return SGD(params, lr=lr, weight_decay=config.weight_decay)
    if config.optimizer == "momentum":
        return SGD(params, lr=lr, momentum=config.momentum, weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return Adam(params, lr=lr, weight_decay=config.weight_decay)
    return AdamW(params, lr=lr, weight_decay=config.weight_decay)


def make_scheduler(config: TrainConfig, optimizer: Optimizer) -> LRScheduler | None:
    """Per-epoch lr schedule: cosine annealing to 0 over the run, or x0.1 every third of it."""
    if config.schedule == "cosine":
        return CosineAnnealingLR(optimizer, T_max=config.epochs)
    if config.schedule == "step":
        return StepLR(optimizer, step_size=max(1, config.epochs // 3), gamma=0.1)
    return None


# --- the loops --------------------------------------------------------------------------------------
def training_step(model: Module, optimizer: Optimizer) -> Callable[[Tensor, Tensor], Tensor]:
    """The step :func:`train_one_epoch` takes on each batch: softmax cross-entropy of
    ``model(images)``, backward, the optimizer's update; returns the loss. With a
    :class:`~anygrad.distributed.DistributedDataParallel` model the gradients are averaged
    over the ranks (one fused allreduce) before the update."""
    average_gradients = model.all_reduce_gradients if isinstance(model, dist.DistributedDataParallel) else None

    def step(images: Tensor, labels: Tensor) -> Tensor:
        # load_data has checked every label once: no row is ignored, none needs looking for.
        loss = ops.cross_entropy(model(images), labels, ignore_index=None)
        optimizer.zero_grad()
        loss.backward()
        if average_gradients is not None:
            average_gradients()
        optimizer.step()
        return loss

    return step


def train_one_epoch(model: Module, loader: DataLoader, optimizer: Optimizer, progress: Any = None,
                    step: Callable[[Tensor, Tensor], Tensor] | None = None) -> Tensor:
    """One pass over ``loader`` with softmax cross-entropy; returns the sum of the per-sample
    losses as a 0-d float64 Tensor on the device, unread (read it once: ``float(total)``).
    ``step`` is :func:`training_step` of ``model`` and ``optimizer`` unless given (the run
    passes it wrapped in :func:`anygrad.capture` with ``capture=True``).

    The labels must already be valid class indices (:func:`load_data` checks them once):
    the fused loss op is called directly, without the per-call range check that
    ``nn.functional.cross_entropy`` makes on host arrays (a value read every step). ``progress``
    is an optional callable told after each step (a tqdm bar's ``update``).

    ``model`` may be a :class:`~anygrad.distributed.DistributedDataParallel`: each step
    then averages the gradients over the ranks (one fused allreduce) before the optimizer
    step. The returned sum stays this rank's own.
    """
    model.train()
    backend = loader.backend
    xp = backend.xp
    step = training_step(model, optimizer) if step is None else step
    total = xp.zeros((), dtype=xp.float64, device=backend.device)
    for images, labels in loader:
        loss = step(images, labels)
        # Raw arrays: outside the graph, nothing to detach; the batch size is host metadata.
        total = total + xp.astype(loss.data, xp.float64) * labels.shape[0]
        if progress is not None:
            progress(1)
    return Tensor._wrap(total, backend, None)


class Evaluation(NamedTuple):
    """What :func:`evaluate` leaves on the device: the summed loss (0-d float64), the number
    of correct predictions (0-d int64) and the predicted classes (N,) int64."""

    loss_sum: Tensor
    correct: Tensor
    predictions: Tensor


def evaluate(model: Module, loader: DataLoader) -> Evaluation:
    """Loss and predictions of ``model`` in eval mode (no dropout) over ``loader``, under
    ``no_grad``; argmax and the count of correct predictions happen on the device."""
    model.eval()
    backend = loader.backend
    xp = backend.xp
    loss_sum = xp.zeros((), dtype=xp.float64, device=backend.device)
    correct = xp.zeros((), dtype=xp.int64, device=backend.device)
    predictions = []
    with no_grad():
        for images, labels in loader:
            logits = model(images)
            batch_loss = ops.cross_entropy(logits, labels, reduction="sum").data
            loss_sum = loss_sum + xp.astype(batch_loss, xp.float64)
            predicted = xp.argmax(logits.data, axis=1)
            correct = correct + xp.astype(xp.count_nonzero(predicted == labels.data), xp.int64)
            predictions.append(predicted)
    if predictions:
        predicted_all = xp.concat(predictions) if len(predictions) > 1 else predictions[0]
    else:
        predicted_all = xp.zeros((0,), dtype=xp.int64, device=backend.device)
    wrap = Tensor._wrap
    return Evaluation(wrap(loss_sum, backend, None), wrap(correct, backend, None), wrap(predicted_all, backend, None))


# --- the run -------------------------------------------------------------------------------------------
def train(config: TrainConfig | Mapping[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    """Train the MLP ``config`` describes and return its metrics (a JSON-ready dict).

    ``config`` is a :class:`TrainConfig`, a dict of its fields, or None (the defaults);
    keyword arguments override fields: ``train(data="synthetic", epochs=2)``. With
    ``config.out`` set, writes there ``model.safetensors`` (state_dict names of the
    equivalent ``torch.nn.Sequential``), ``metrics.json`` and, with ``plots``, the PNGs
    ``loss.png``, ``accuracy.png``, ``confusion_matrix.png`` and ``misclassified.png``.

    The run happens in a copy of the caller's context: the seed and default backend it
    sets do not leak out.
    """
    if config is None:
        config = TrainConfig(**overrides)
    elif isinstance(config, TrainConfig):
        config = dataclasses.replace(config, **overrides)
    elif isinstance(config, Mapping):
        config = TrainConfig(**{**config, **overrides})
    else:
        raise TypeError(f"train: config must be a TrainConfig, a dict or None, got {type(config).__name__}")
    return contextvars.copy_context().run(_run, config)


def _run(config: TrainConfig) -> dict[str, Any]:
    if config.distributed:
        # First, so that from here on an error on any rank ends every rank (MPI_Abort).
        dist.init()
    world_size = dist.get_world_size() if config.distributed else 1
    main_process = not config.distributed or dist.is_main_process()
    if config.out is not None and config.plots and main_process:
        from anygrad import plots

        plots.require_matplotlib()
    from tqdm.auto import tqdm

    backend = use(config.backend, config.device)
    manual_seed(config.seed)
    data = load_data(config)
    model = make_model(config, data.train.arrays[0].shape[1], data.classes, backend)
    train_set = data.train
    trainee: Module = model
    if config.distributed:
        trainee = dist.DistributedDataParallel(model)  # rank 0's weights on every rank
        train_set = dist.shard_dataset(train_set)  # on the host: only this rank's share goes to the device
        if dist.get_rank() > 0:
            # Its own dropout masks (rank 0 keeps the one-process stream): ranks drawing the
            # same masks for different samples would drop the same units everywhere.
            manual_seed(config.seed + dist.get_rank() * 2**32)
    optimizer = make_optimizer(config, model.parameters())
    scheduler = make_scheduler(config, optimizer)
    step = training_step(trainee, optimizer)
    if config.capture:  # captured again when the scheduler changes the learning rate, and for a short last batch
        step = capture(step, model, optimizer)
    # The data set goes to the device once; batches are then cut there. In a distributed
    # run every rank shuffles its shard with the same seed, so all take the same number of steps.
    train_loader = DataLoader(train_set.to(backend), batch_size=config.batch_size, shuffle=True, seed=config.seed,
                              backend=backend)
    # Every rank evaluates the whole test set (the weights are the same everywhere): no collective.
    test_loader = DataLoader(data.test.to(backend), batch_size=config.eval_batch_size, backend=backend)
    xp = backend.xp
    say = _printer(config.verbose and main_process, tqdm)
    parallel = ""
    if config.distributed:
        ranks = f"{world_size} rank" + ("s" if world_size > 1 else "")
        parallel = (f", data-parallel on {ranks} ({len(train_set)} samples and batches of "
                    f"{config.batch_size} each, transport {dist.select_transport(backend)})")
    say(f"anygrad train: {data.name} ({len(data.train)} train / {len(data.test)} test samples), "
        f"{backend.label}{parallel}, {_parameter_count(model)} parameters\n{model!r}")

    # Shards are padded to equal lengths, so the ranks' loss sums cover this many samples.
    trained_samples = len(train_set) * world_size
    history: list[dict[str, Any]] = []
    started = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        lr = float(optimizer.param_groups[0]["lr"])
        epoch_started = time.perf_counter()
        with tqdm(total=len(train_loader), desc=f"epoch {epoch}/{config.epochs}", unit="batch", leave=False,
                  disable=not (config.progress and main_process), file=sys.stderr) as bar:
            train_sum = train_one_epoch(trainee, train_loader, optimizer, progress=bar.update, step=step)
        if config.distributed:
            train_sum = dist.all_reduce(train_sum)  # one collective per epoch, not per step
        evaluation = evaluate(model, test_loader)
        # The one device read of the epoch (it also waits for the queued work, so the time is honest).
        totals = backend.to_host(xp.stack([train_sum.data, evaluation.loss_sum.data,
                                           xp.astype(evaluation.correct.data, xp.float64)]))
        seconds = time.perf_counter() - epoch_started
        if scheduler is not None:
            scheduler.step()
        record = {
            "epoch": epoch,
            "lr": lr,
            "train_loss": float(totals[0]) / max(trained_samples, 1),
            "test_loss": float(totals[1]) / max(len(data.test), 1),
            "test_accuracy": float(totals[2]) / max(len(data.test), 1),
            "seconds": seconds,
        }
        history.append(record)
        say(f"epoch {epoch:>3}/{config.epochs}  train loss {record['train_loss']:.4f}  test loss "
            f"{record['test_loss']:.4f}  test accuracy {record['test_accuracy']:.4f}  {seconds:.1f} s")
    total_seconds = time.perf_counter() - started

    predictions = evaluation.predictions.numpy()
    test_labels = data.test.arrays[1]
    confusion = np.bincount(test_labels * data.classes + predictions,
                            minlength=data.classes * data.classes).reshape(data.classes, data.classes)
    parallel_metrics = None
    if isinstance(trainee, dist.DistributedDataParallel):
        parallel_metrics = {
            "world_size": world_size,
            "transport": dist.select_transport(backend),
            "train_samples_per_rank": len(train_set),
            "allreduce_steps": trainee.allreduce_steps,
            "mean_allreduce_seconds": trainee.mean_allreduce_seconds,
        }
    metrics = _metrics(config, data, model, backend, len(train_loader), history, total_seconds, confusion,
                       parallel_metrics)
    if config.out is not None and main_process:
        _write_outputs(config, data, model, metrics, predictions, say)
    return metrics


def _printer(verbose: bool, tqdm: Any) -> Any:
    # tqdm.write keeps an active bar intact.
    return (lambda text: tqdm.write(text, file=sys.stdout)) if verbose else (lambda text: None)


def _parameter_count(model: Module) -> int:
    return sum(p.size for p in model.parameters())


def _versions(backend: Backend) -> dict[str, str]:
    import array_api_compat

    import anygrad

    versions = {
        "anygrad": anygrad.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "array_api_compat": array_api_compat.__version__,
    }
    library = _LIBRARY[backend.name]
    versions[library] = str(getattr(importlib.import_module(library), "__version__", "unknown"))
    return versions


def _metrics(config: TrainConfig, data: Data, model: Module, backend: Backend, steps_per_epoch: int,
             history: list[dict[str, Any]], total_seconds: float, confusion: np.ndarray,
             parallel: dict[str, Any] | None) -> dict[str, Any]:
    def column(key: str) -> list[Any]:
        return [record[key] for record in history]

    return {
        "config": config.to_dict(),
        "backend": backend.name,
        "device": backend.label.partition(":")[2],
        "versions": _versions(backend),
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count()},
        "data": {
            "name": data.name,
            "train_samples": len(data.train),
            "test_samples": len(data.test),
            "features": int(data.train.arrays[0].shape[1]),
            "classes": data.classes,
            "class_names": list(data.class_names),
            "standardize_mean": data.mean,
            "standardize_std": data.std,
        },
        "model": repr(model),
        "parameters": _parameter_count(model),
        "world_size": 1 if parallel is None else parallel["world_size"],
        "distributed": parallel,  # None for one process
        "steps_per_epoch": steps_per_epoch,
        "epochs": history,
        "train_loss": column("train_loss"),
        "test_loss": column("test_loss"),
        "test_accuracy": column("test_accuracy"),
        "seconds_per_epoch": column("seconds"),
        "total_seconds": total_seconds,
        "final_test_accuracy": history[-1]["test_accuracy"] if history else None,
        "confusion_matrix": confusion.tolist(),
    }


def _write_outputs(config: TrainConfig, data: Data, model: Module, metrics: dict[str, Any],
                   predictions: np.ndarray, say: Any) -> None:
    out = Path(config.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    files = {"checkpoint": "model.safetensors", "metrics": "metrics.json"}
    # The header says how to rebuild the model and its inputs without the JSON.
    header = {"format": "anygrad MLP state_dict (torch.nn.Sequential names)", "model": metrics["model"],
              "config": json.dumps(metrics["config"]), "standardize_mean": json.dumps(data.mean),
              "standardize_std": json.dumps(data.std)}
    save(model.state_dict(), out / files["checkpoint"], metadata=header)
    if config.plots:
        from anygrad import plots

        test_images, test_labels = data.test.arrays
        files["loss_plot"] = plots.plot_loss(metrics, out / "loss.png").name
        files["accuracy_plot"] = plots.plot_accuracy(metrics, out / "accuracy.png").name
        files["confusion_plot"] = plots.plot_confusion_matrix(
            np.asarray(metrics["confusion_matrix"]), data.class_names, out / "confusion_matrix.png").name
        files["misclassified_plot"] = plots.plot_misclassified(
            test_images, test_labels, predictions, data.class_names, out / "misclassified.png",
            image_shape=data.image_shape).name
    metrics["files"] = files
    (out / files["metrics"]).write_text(json.dumps(metrics, indent=2) + "\n")
    say(f"wrote {', '.join(files.values())} to {out}")
