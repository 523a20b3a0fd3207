"""The engines anygrad is measured against, and which engines a run uses.

``numpy-hand``: the MLP's forward and backward written by hand in NumPy, no autograd:
the floor for any Python engine on NumPy. ``torch`` / ``torch-cuda``: PyTorch eager
(nn.Sequential, F.cross_entropy, optim.SGD), as a PyTorch user writes the step.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import anygrad
from bench.workload import CAPTURE_SUFFIX, AnygradEngine, Engine, Workload

PEER_NAMES = ("numpy-hand", "torch", "torch-cuda")


class NumpyHandEngine(Engine):
    """The step by hand in NumPy: in-place updates, no graph, and at batch 1 the weight
    gradient as a broadcast outer product (a K=1 GEMM is several times slower in BLAS).
    It goes around NumPy's slow paths as anygrad's NumPy namespace does (the ReLU against a
    row of zeros, not the scalar 0; the logits' row max over their transposed copy; sums as
    products with ones), so it stays the floor and anygrad gains nothing on it from those."""

    name = "numpy-hand"

    def __init__(self, workload: Workload) -> None:
        super().__init__(workload)
        self.backend = anygrad.get_backend("numpy")
        self.params: list[np.ndarray] = []

    def load(self, weights: list[np.ndarray], batches: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self.params = [w.copy() for w in weights]
        self._batches = [(np.ascontiguousarray(x), np.ascontiguousarray(y)) for x, y in batches]
        self.rows = np.arange(len(batches[0][1]))
        self.zero_rows = [np.zeros(len(b), w.dtype) for w, b in zip(self.params[:-2:2], self.params[1:-2:2], strict=True)]
        self._next = 0

    def step(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        activations = self.forward(x)
        loss, g = self.loss_and_gradient(activations.pop(), y)
        self.backward_and_update(activations, g)
        return loss

    # The step's three stages (bench.stages times them one by one).
    def forward(self, x: np.ndarray) -> list[np.ndarray]:
        """The input, each hidden layer's output and, last, the logits."""
        params = self.params
        activations = [x]
        h = x
        for i in range(0, len(params) - 2, 2):
            h = h @ params[i].T
            h += params[i + 1]
            np.maximum(h, self.zero_rows[i // 2], out=h)
            activations.append(h)
        logits = h @ params[-2].T
        logits += params[-1]
        activations.append(logits)
        return activations

    def loss_and_gradient(self, logits: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The mean cross-entropy and its gradient with respect to the logits (overwrites them)."""
        batch = len(y)
        logits -= _row_max(logits)
        probs = np.exp(logits)
        total = _row_sums(probs)
        # Sums over the batch, not .mean(): NumPy's mean costs ~2 us more a call on small arrays.
        loss = (np.log(total[:, 0]).sum() - logits[self.rows, y].sum()) / batch
        probs /= total
        probs[self.rows, y] -= 1.0
        probs *= 1.0 / batch
        return loss, probs

    def backward_and_update(self, activations: list[np.ndarray], g: np.ndarray) -> None:
        """Each layer's gradients from the last layer down, each applied as soon as computed."""
        params, lr = self.params, self.workload.lr
        for layer in range(len(params) // 2 - 1, -1, -1):
            weight, bias, a = params[2 * layer], params[2 * layer + 1], activations[layer]
            grad_weight = g.T * a if len(g) == 1 else g.T @ a  # (out, 1) * (1, in): the outer product
            grad_bias = _column_sums(g)
            if layer:
                g = g @ weight  # before the update: the gradient needs the old weight
                g *= a > 0
            grad_weight *= lr
            weight -= grad_weight
            grad_bias *= lr
            bias -= grad_bias

    def finish(self) -> None:
        pass  # NumPy is synchronous

    def weights(self) -> list[np.ndarray]:
        return [p.copy() for p in self.params]


def _row_max(x: np.ndarray) -> np.ndarray:
    """Each row's max, as (rows, 1): over the transposed copy when there are many short rows
    (one vectorized pass per column instead of NumPy's row-by-row loop)."""
    if len(x) >= 32 and x.shape[1] <= 16:
        return np.maximum.reduce(np.ascontiguousarray(x.T), axis=0)[:, None]
    return x.max(axis=1, keepdims=True)


def _row_sums(x: np.ndarray) -> np.ndarray:
    """Each row's sum, as (rows, 1): from 1024 elements on a matrix-vector product (BLAS)."""
    return (x @ np.ones(x.shape[1], x.dtype))[:, None] if x.size >= 1024 else x.sum(axis=1, keepdims=True)


def _column_sums(x: np.ndarray) -> np.ndarray:
    """Each column's sum: from 1024 elements on a vector-matrix product (BLAS)."""
    return np.ones(len(x), x.dtype) @ x if x.size >= 1024 else x.sum(axis=0)


class TorchEngine(Engine):
    """PyTorch eager on ``device`` ("cpu" or "cuda")."""

    def __init__(self, workload: Workload, device: str = "cpu") -> None:
        super().__init__(workload)
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self.name = "torch" if self.device.type == "cpu" else f"torch-{self.device.type}"
        self.backend = anygrad.get_backend("torch", device)

    def load(self, weights: list[np.ndarray], batches: list[tuple[np.ndarray, np.ndarray]]) -> None:
        torch = self.torch
        sizes = self.workload.sizes
        layers: list[Any] = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU()]
        self.model = torch.nn.Sequential(*layers[:-1]).to(self.device)
        with torch.no_grad():
            for p, w in zip(self.model.parameters(), weights, strict=True):
                p.copy_(torch.from_numpy(w))
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=self.workload.lr)
        self._batches = [(torch.from_numpy(np.ascontiguousarray(x)).to(self.device),
                          torch.from_numpy(np.ascontiguousarray(y)).to(self.device)) for x, y in batches]
        self._next = 0

    def step(self, x: Any, y: Any) -> Any:
        self.optimizer.zero_grad()
        loss = self.torch.nn.functional.cross_entropy(self.model(x), y)
        loss.backward()
        self.optimizer.step()
        return loss

    def finish(self) -> None:
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)

    def weights(self) -> list[np.ndarray]:
        return [p.detach().cpu().numpy().copy() for p in self.model.parameters()]


def make_peer(name: str, workload: Workload) -> Engine:
    """The peer engine called ``name`` (one of PEER_NAMES)."""
    if name == "numpy-hand":
        return NumpyHandEngine(workload)
    if name == "torch":
        return TorchEngine(workload, "cpu")
    if name == "torch-cuda":
        return TorchEngine(workload, "cuda")
    raise ValueError(f"make_peer: unknown peer {name!r}; known peers: {', '.join(PEER_NAMES)}")


# --- which engines run ---------------------------------------------------------------------------
def _torch_cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def default_backends() -> list[str]:
    """Every anygrad backend that runs here except array_api_strict (a conformance checker,
    not a fast library), NumPy also with the step captured (anygrad.capture), plus PyTorch on
    CUDA where there is a GPU."""
    names = [name for name in anygrad.available_backends() if name != "array_api_strict"]
    names.insert(names.index("numpy") + 1, "numpy" + CAPTURE_SUFFIX)
    return names + (["torch:cuda"] if _torch_cuda_available() else [])


def default_peers() -> list[str]:
    """numpy-hand, plus PyTorch where installed, on CUDA too where there is a GPU."""
    peers = ["numpy-hand"]
    if "torch" in anygrad.available_backends():
        peers.append("torch")
    return peers + (["torch-cuda"] if _torch_cuda_available() else [])


def make_engines(workload: Workload, backends: list[str], peers: list[str]) -> list[Engine]:
    """anygrad on each of ``backends`` ("numpy", "torch:cuda", ...) and each peer."""
    engines: list[Engine] = [AnygradEngine(workload, spec) for spec in backends]
    engines += [make_peer(name, workload) for name in peers]
    names = [engine.name for engine in engines]
    if len(set(names)) != len(names):
        raise ValueError(f"make_engines: an engine is named twice in {names}")
    return engines
