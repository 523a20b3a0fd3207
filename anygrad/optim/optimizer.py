"""The optimizer base class: parameter groups, gradient zeroing and PyTorch-layout state dicts.

Subclasses implement :meth:`Optimizer.step` on raw backend arrays (``p.data``, ``p.grad``), so
updates never build a graph. Arrays that are known to be writeable (NumPy, PyTorch, CuPy,
array-api-strict) are updated in place to avoid allocations; immutable ones (JAX) get a new
array assigned. Gradients are never modified in place: anygrad's ``.grad`` arrays may share
memory with other arrays.
"""

from __future__ import annotations

import numbers
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import array_api_compat
import numpy as np

from anygrad.backend import backend_of_array
from anygrad.engine import enable_grad
from anygrad.tensor import Tensor

__all__ = ["Optimizer"]

_SET_ERROR = ("{}: params must be an ordered sequence (a list), not a set; "
              "a set's order changes between runs, which breaks state dicts")


class Optimizer:
    """Base class of all optimizers.

    ``params`` is an iterable of Tensors, or of dicts each holding ``'params'`` (Tensors) and
    hyper-parameters that override ``defaults`` for that group (``[{'params': w, 'lr': 0.1},
    {'params': b}]``). ``param_groups`` is the list of groups, each a dict with every
    hyper-parameter filled in; ``state`` maps each parameter to its state (raw backend arrays
    on the parameter's own backend and device, plus numbers such as Adam's ``'step'``).
    """

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, (Tensor, dict)) or not isinstance(params, Iterable):
            raise TypeError(
                f"{self._name}: params must be an iterable of Tensors or of dicts (param groups), "
                f"not a {type(params).__name__}; pass [tensor] or model.parameters()"
            )
        if isinstance(params, (set, frozenset)):
            raise TypeError(_SET_ERROR.format(self._name))
        groups = list(params)
        if not groups:
            raise ValueError(f"{self._name}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    @property
    def _name(self) -> str:
        return f"anygrad.optim.{type(self).__name__}"

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            settings = ", ".join(f"{key}={value!r}" for key, value in group.items() if key != "params")
            lines.append(f"  group {i}: {len(group['params'])} params, {settings}")
        return "\n".join(lines) + "\n)"

    # --- parameter groups ----------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters (a dict with ``'params'`` and optional hyper-parameters;
        missing ones take the optimizer's defaults). A parameter may belong to one group only."""
        if not isinstance(param_group, dict):
            raise TypeError(f"{self._name}: a param group must be a dict, not a {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{self._name}: a param group needs a 'params' entry, got keys {sorted(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(_SET_ERROR.format(self._name))
        else:
            params = list(params)
        seen: set[int] = set()
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{self._name}: can only optimize Tensors, but param {i} is a {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{self._name}: param {i} is not a leaf tensor (it was computed from other "
                                 "tensors); optimize the leaves, such as a model's parameters")
            if not p.is_floating_point():
                raise TypeError(f"{self._name}: can only optimize floating-point tensors, but param {i} has "
                                f"dtype {p.dtype}")
            if id(p) in seen:
                raise ValueError(f"{self._name}: param {i} (shape {p.shape}) appears twice in one param group")
            seen.add(id(p))
        for group in self.param_groups:
            if any(id(p) in seen for p in group["params"]):
                raise ValueError(f"{self._name}: some parameters appear in more than one parameter group")
        group = {**self.defaults, **param_group, "params": params}
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group: dict[str, Any]) -> None:
        """Raise a clear error for an invalid hyper-parameter (subclasses add their own)."""
        _check_number(self._name, "learning rate (lr)", group["lr"], low=0.0)

    # --- gradients and steps ---------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient: ``None`` (the default, frees memory) or, with
        ``set_to_none=False``, new zero arrays (existing gradients are never written to)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.grad = None if set_to_none else p._backend.xp.zeros_like(p.grad)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()`` when given."""
        raise NotImplementedError(f"{self._name} does not implement step()")

    @staticmethod
    def _evaluate(closure: Callable[[], Any] | None) -> Any:
        if closure is None:
            return None
        with enable_grad():
            return closure()

    # --- state dicts -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state in PyTorch's layout.

        ``{'state': {index: {name: value}}, 'param_groups': [{..., 'params': [index, ...]}]}``
        where parameters are numbered in order across groups. Arrays are returned as Tensors
        holding copies, so the dict is a snapshot that later steps do not change.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {key: value for key, value in group.items() if key != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {
            index[id(p)]: {key: _snapshot(value, p) for key, value in values.items()}
            for p, values in self.state.items()
            if id(p) in index
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state from :meth:`state_dict` (anygrad's or ``torch.optim``'s layout).

        The groups must list the same number of parameters as this optimizer's. Array values
        (Tensors, backend arrays, NumPy or torch tensors) are copied onto each parameter's
        backend and device and cast to its floating dtype; ``'step'`` becomes an int.
        Hyper-parameters are taken from the loaded groups.
        """
        if not (isinstance(state_dict, dict) and "state" in state_dict and "param_groups" in state_dict):
            raise ValueError(f"{self._name}.load_state_dict: expected a dict with 'state' and 'param_groups', "
                             f"got {type(state_dict).__name__}"
                             + (f" with keys {sorted(state_dict)}" if isinstance(state_dict, dict) else ""))
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{self._name}.load_state_dict: the loaded state has {len(saved_groups)} parameter "
                             f"groups, this optimizer has {len(self.param_groups)}")
        param_of_index: dict[int, Tensor] = {}
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups, strict=True)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"{self._name}.load_state_dict: loaded group {i} has {len(saved['params'])} "
                                 f"parameters, this optimizer's group {i} has {len(group['params'])}")
            param_of_index.update(zip((int(k) for k in saved["params"]), group["params"], strict=True))
        state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        for index, values in state_dict["state"].items():
            p = param_of_index.get(int(index))
            if p is None:
                raise ValueError(f"{self._name}.load_state_dict: the state has an entry for parameter "
                                 f"{index}, which no parameter group lists")
            state[p] = {key: self._loaded_value(int(index), key, value, p) for key, value in values.items()}
        groups = []
        for group, saved in zip(self.param_groups, saved_groups, strict=True):
            loaded = {key: value for key, value in saved.items() if key != "params"}
            loaded = {**self.defaults, **loaded, "params": group["params"]}
            self._check_group(loaded)
            groups.append(loaded)
        self.state = state
        self.param_groups = groups

    def _loaded_value(self, index: int, key: str, value: Any, p: Tensor) -> Any:
        """One state value moved onto ``p``'s backend and device (a copy, never an alias)."""
        if key == "step":
            return int(float(value))
        if value is None or isinstance(value, numbers.Number):
            return value
        if isinstance(value, Tensor):
            array = p._backend.move(value.data, value._backend)
        elif isinstance(value, (np.ndarray, np.generic)):
            array = p._backend.from_host(np.asarray(value))
        elif array_api_compat.is_array_api_obj(value):
            array = p._backend.move(value, backend_of_array(value))
        else:
            raise TypeError(f"{self._name}.load_state_dict: state[{index}][{key!r}] is a {type(value).__name__}, "
                            "not an array or a number")
        if tuple(array.shape) != p.shape:
            raise ValueError(f"{self._name}.load_state_dict: state[{index}][{key!r}] has shape "
                             f"{tuple(array.shape)}, but parameter {index} has shape {p.shape}")
        # astype copies, so later in-place updates never write into the caller's arrays.
        return p._backend.xp.astype(array, p.dtype)


def _snapshot(value: Any, p: Tensor) -> Any:
    """A state value for a state dict: numbers as they are, arrays as Tensors of copies."""
    if value is None or isinstance(value, numbers.Number):
        return value
    backend = p._backend
    return Tensor._wrap(backend.xp.asarray(value, copy=True, device=backend.device), backend, None)


def _check_number(owner: str, what: str, value: Any, low: float, high: float | None = None,
                  high_inclusive: bool = True) -> None:
    """Raise ValueError unless ``value`` is a real number in [low, high] (or [low, high))."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {what} must be a real number, got {type(value).__name__} {value!r}")
    if high is None:
        if not value >= low:  # `not >=` also rejects NaN
            raise ValueError(f"{owner}: invalid {what} {value!r}; it must be >= {low}")
    elif not (low <= value < high or (high_inclusive and value == high)):
        closing = "]" if high_inclusive else ")"
        raise ValueError(f"{owner}: invalid {what} {value!r}; it must be in [{low}, {high}{closing}")
