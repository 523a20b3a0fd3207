"""The benchmark workload, defined once for the CLI (``python -m bench``) and the pytest suite.

One training step of an MLP (784-128-128-10 by default, ReLU, softmax cross-entropy,
plain SGD, float32): forward, loss, backward, update. Every engine gets the same initial
weights (drawn once on the host from a seeded NumPy generator) and the same batches.

An :class:`Engine` is one way of running that step. This module holds the base class,
the float64 reference step every engine is checked against, and the anygrad engine;
the peers (hand-written NumPy, PyTorch eager) are in :mod:`bench.peers`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

import anygrad

#: How many samples each engine holds on its device and cycles through while timed.
POOL_SIZE = 4096


@dataclass(frozen=True)
class Workload:
    """What one training step computes: the MLP's layer sizes, the learning rate, the data."""

    hidden: tuple[int, ...] = (128, 128)
    n_in: int = 784
    n_classes: int = 10
    lr: float = 0.01
    seed: int = 0
    data: str = "synthetic"  # or "fashion-mnist" (anygrad.data.load_fashion_mnist)

    def __post_init__(self) -> None:
        if self.data not in ("synthetic", "fashion-mnist"):
            raise ValueError(f"Workload: data must be 'synthetic' or 'fashion-mnist', not {self.data!r}")
        if not all(isinstance(n, int) and n > 0 for n in self.hidden):
            raise ValueError(f"Workload: hidden sizes must be positive integers, got {self.hidden}")

    @property
    def sizes(self) -> tuple[int, ...]:
        """Layer widths from input to output, e.g. (784, 128, 128, 10)."""
        return (self.n_in, *self.hidden, self.n_classes)

    @property
    def n_weights(self) -> int:
        """Matrix entries (biases excluded) over all layers."""
        return sum(a * b for a, b in zip(self.sizes[:-1], self.sizes[1:], strict=True))

    @property
    def flops_per_sample(self) -> int:
        """GEMM flops of one step per sample: 2 per weight forward, 2 for the weight
        gradient, 2 for the input gradient of every layer but the first (no engine
        computes the gradient of the data). About 6 per weight; elementwise work is
        left out, so the limit it gives is an upper bound."""
        first = self.sizes[0] * self.sizes[1]
        return 6 * self.n_weights - 2 * first

    def initial_weights(self) -> list[np.ndarray]:
        """[W1, b1, W2, b2, ...] in float32, PyTorch's layout (out, in) and its default
        nn.Linear init U(-1/sqrt(fan_in), 1/sqrt(fan_in)), from a generator seeded with ``seed``."""
        rng = np.random.default_rng(self.seed)
        weights = []
        for fan_in, fan_out in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            bound = 1.0 / math.sqrt(fan_in)
            weights.append(rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32))
            weights.append(rng.uniform(-bound, bound, fan_out).astype(np.float32))
        return weights

    @functools.lru_cache(maxsize=2)  # noqa: B019  (a few small workloads; read the files once)
    def pool(self) -> tuple[np.ndarray, np.ndarray]:
        """``POOL_SIZE`` samples: float32 images (n, n_in) in [0, 1] and int64 labels (shared: read-only)."""
        if self.data == "fashion-mnist":
            from anygrad.data import load_fashion_mnist

            images, labels = load_fashion_mnist()[0].numpy()  # the training set, from FASHION_MNIST_DIR
            if images.shape[1] != self.n_in:
                raise ValueError(f"Workload: Fashion-MNIST has {images.shape[1]} inputs, the workload {self.n_in}")
            return images[:POOL_SIZE], labels[:POOL_SIZE]
        rng = np.random.default_rng(self.seed + 1)
        images = rng.random((POOL_SIZE, self.n_in), dtype=np.float32)
        labels = rng.integers(0, self.n_classes, POOL_SIZE, dtype=np.int64)
        return images, labels

    def batches(self, batch_size: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """The batches of ``batch_size`` an engine cycles through (at least two, so no step
        reuses the previous step's data; at most 64, so every engine holds little)."""
        if batch_size < 1:
            raise ValueError(f"Workload.batches: batch_size must be >= 1, got {batch_size}")
        return cut_batches(*self.pool(), batch_size)


def cut_batches(images: np.ndarray, labels: np.ndarray, batch_size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``images``/``labels`` cut into 2 to 64 batches of ``batch_size`` (tiled when there are
    fewer than two batches' worth)."""
    if batch_size * 2 > len(images):
        repeat = math.ceil(batch_size * 2 / len(images))
        images, labels = np.tile(images, (repeat, 1)), np.tile(labels, repeat)
    count = max(2, min(64, len(images) // batch_size))
    return [(images[i * batch_size:(i + 1) * batch_size], labels[i * batch_size:(i + 1) * batch_size])
            for i in range(count)]


def reference_step(weights: list[np.ndarray], x: np.ndarray, y: np.ndarray, lr: float
                   ) -> tuple[float, list[np.ndarray]]:
    """The step every engine must compute, in float64: (loss before the update, updated weights)."""
    params = [w.astype(np.float64) for w in weights]
    activations = [x.astype(np.float64)]
    for i in range(0, len(params) - 2, 2):
        activations.append(np.maximum(activations[-1] @ params[i].T + params[i + 1], 0.0))
    logits = activations[-1] @ params[-2].T + params[-1]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(len(y))
    loss = -log_probs[rows, y].mean()
    g = np.exp(log_probs)
    g[rows, y] -= 1.0
    g /= len(y)
    grads = [None] * len(params)
    for layer in range(len(params) // 2 - 1, -1, -1):
        grads[2 * layer] = g.T @ activations[layer]
        grads[2 * layer + 1] = g.sum(axis=0)
        g = (g @ params[2 * layer]) * (activations[layer] > 0)
    return float(loss), [p - lr * grad for p, grad in zip(params, grads, strict=True)]


class Engine:
    """One way to run the workload's step. Subclasses set ``name`` and ``backend`` (the
    anygrad Backend whose GEMM rate gives this engine's limit) and implement
    :meth:`load`, :meth:`step`, :meth:`finish` and :meth:`weights`."""

    name: str
    backend: anygrad.Backend

    def __init__(self, workload: Workload) -> None:
        self.workload = workload
        self._batches: list[tuple[Any, Any]] = []
        self._next = 0
        self.last_loss: Any = None

    def load(self, weights: list[np.ndarray], batches: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """Copy the weights and batches onto this engine's device (outside any timing)."""
        raise NotImplementedError

    def step(self, x: Any, y: Any) -> Any:
        """One training step on a batch already on the device; returns the loss without
        reading it (a host read would synchronize the device every step)."""
        raise NotImplementedError

    def finish(self) -> None:
        """Wait until every queued step has finished (the clock is read after this)."""
        raise NotImplementedError

    def weights(self) -> list[np.ndarray]:
        """The current weights as NumPy arrays, in the order of ``initial_weights``."""
        raise NotImplementedError

    def loss(self) -> float:
        """The loss of the last step (reads the device; never call it inside timing)."""
        return float(anygrad.to_numpy(self.last_loss))

    def run(self, steps: int) -> None:
        """``steps`` training steps, cycling through the loaded batches, then :meth:`finish`."""
        batches = self._batches
        count = len(batches)
        step = self.step
        loss = None
        for i in range(self._next, self._next + steps):
            loss = step(*batches[i % count])
        self._next = (self._next + steps) % count
        self.last_loss = loss
        self.finish()


def anygrad_api() -> str:
    """How the anygrad engine writes the step: "nn" (nn.MLP, nn.functional.cross_entropy,
    optim.SGD: what users write) where anygrad has them, else "ops" (the op-level API)."""
    try:
        from anygrad import nn, optim

        nn.MLP, nn.functional.cross_entropy, optim.SGD  # noqa: B018  (present, or AttributeError)
    except (ImportError, AttributeError):
        return "ops"
    return "nn"


#: The suffix of a backend spec ("numpy+capture") that runs the step through anygrad.capture.
CAPTURE_SUFFIX = "+capture"


def parse_backend_spec(spec: str) -> tuple[str, str | None, bool]:
    """``name[:device][+capture]`` as (name, device or None, captured)."""
    captured = spec.endswith(CAPTURE_SUFFIX)
    name, _, device = spec.removesuffix(CAPTURE_SUFFIX).partition(":")
    return name, device or None, captured


class AnygradEngine(Engine):
    """anygrad on one backend, written as a user would write the training step; with a
    ``+capture`` spec the step is wrapped in :func:`anygrad.capture` (replayed array calls)."""

    def __init__(self, workload: Workload, backend: str, api: str | None = None) -> None:
        super().__init__(workload)
        name, device, self.captured = parse_backend_spec(backend)
        self.backend = anygrad.get_backend(name, device)
        self.name = f"anygrad-{backend}"
        self.api = anygrad_api() if api is None else api
        if self.api not in ("nn", "ops"):
            raise ValueError(f"AnygradEngine: api must be 'nn' or 'ops', not {self.api!r}")
        if self.captured and self.api != "nn":
            raise ValueError("AnygradEngine: a captured step needs the nn api (a model and an optimizer)")
        self.params: list[anygrad.Tensor] = []

    def load(self, weights: list[np.ndarray], batches: list[tuple[np.ndarray, np.ndarray]]) -> None:
        b = self.backend
        self._batches = [(anygrad.tensor(x, backend=b), anygrad.tensor(y, backend=b)) for x, y in batches]
        self._next = 0
        if self.api == "nn":
            from anygrad import nn, optim

            self.model = nn.MLP(self.workload.n_in, list(self.workload.hidden), self.workload.n_classes, backend=b)
            self.params = list(self.model.parameters())
            self._set_weights(weights)
            self.optimizer = optim.SGD(self.params, lr=self.workload.lr)
            self.step = self._step_nn  # chosen once, not per step
            if self.captured:
                self.step = anygrad.capture(self._step_nn, self.model, self.optimizer)
                # Capture both variants (without gradients, then with them) before any step
                # counts, so that every later step, the reference check's included, is a replay.
                for _ in range(2):
                    self.step(*self._batches[0])
                self._set_weights(weights)
        else:
            # Copies: on NumPy from_host keeps the caller's array, which an in-place optimizer would change.
            self.params = [anygrad.tensor(w.copy(), backend=b, requires_grad=True) for w in weights]
            # The row index of the label pick, made once per batch size as a model would keep it.
            self.rows = anygrad.arange(len(batches[0][1]), backend=b)
            self.step = self._step_ops

    def _set_weights(self, weights: list[np.ndarray]) -> None:
        # Copies: on NumPy from_host keeps the caller's array, which an in-place optimizer would change.
        for p, w in zip(self.params, weights, strict=True):
            p.data = self.backend.from_host(w.copy())

    def _step_nn(self, x: anygrad.Tensor, y: anygrad.Tensor) -> anygrad.Tensor:
        self.optimizer.zero_grad()
        loss = anygrad.nn.functional.cross_entropy(self.model(x), y)
        loss.backward()
        self.optimizer.step()
        return loss

    def _step_ops(self, x: anygrad.Tensor, y: anygrad.Tensor) -> anygrad.Tensor:
        params = self.params
        h = x
        for i in range(0, len(params) - 2, 2):
            h = anygrad.linear(h, params[i], params[i + 1]).relu()
        logits = anygrad.linear(h, params[-2], params[-1])
        loss = -logits.log_softmax(axis=-1)[self.rows, y].mean()
        loss.backward()
        lr = self.workload.lr
        with anygrad.no_grad():
            for p in params:
                p.data = p.data - lr * p.grad
                p.grad = None
        return loss

    def finish(self) -> None:
        self.backend.synchronize()
        # Reading the updated weights also waits for libraries that queue work without a
        # device (JAX dispatches asynchronously on the CPU too).
        for p in self.params:
            self.backend.to_host(p.data)

    def weights(self) -> list[np.ndarray]:
        return [np.array(self.backend.to_host(p.data)) for p in self.params]


class CorrectnessError(AssertionError):
    """An engine's step does not compute the workload's step."""


def check_against_reference(engine: Engine, weights: list[np.ndarray],
                            batch: tuple[np.ndarray, np.ndarray]) -> None:
    """Run one step of ``engine`` from ``weights`` on ``batch`` and compare the loss and
    the weight updates with :func:`reference_step` (float64). Raises CorrectnessError.

    The updates (new - old) are compared, not the weights: an update is ~1e-4 of a
    weight, so comparing weights would let a wrong gradient pass."""
    x, y = batch
    engine.load(weights, [batch])
    engine.run(1)
    loss = engine.loss()
    expected_loss, expected = reference_step(weights, x, y, engine.workload.lr)
    problems = []
    if not math.isclose(loss, expected_loss, rel_tol=1e-4, abs_tol=1e-5):
        problems.append(f"loss {loss!r}, expected {expected_loss!r}")
    for i, (old, new, want) in enumerate(zip(weights, engine.weights(), expected, strict=True)):
        update, want_update = new.astype(np.float64) - old, want - old
        tolerance = 1e-3 * float(np.abs(want_update).max()) + 1e-9
        error = float(np.abs(update - want_update).max())
        if new.shape != old.shape or new.dtype != np.float32 or not error <= tolerance:
            problems.append(f"parameter {i} {new.shape} {new.dtype}: update off by {error:.3g} "
                            f"(allowed {tolerance:.3g})")
    if problems:
        raise CorrectnessError(
            f"{engine.name} at batch size {len(y)} does not compute the reference step: " + "; ".join(problems)
        )
