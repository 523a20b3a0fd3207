"""Module, Parameter and the containers Sequential and ModuleList, with PyTorch's names.

A Module finds its parameters, buffers and submodules from attribute assignment, in
assignment order, so ``state_dict()`` keys (``0.weight``, ``layers.1.bias``) are the ones
PyTorch gives the same model. Registered values also live in the instance ``__dict__``:
reading ``self.weight`` in ``forward`` is a plain attribute lookup, not a ``__getattr__`` call.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import array_api_compat
import numpy as np

from anygrad.backend import BACKEND_NAMES, Backend, backend_of_array, get_backend
from anygrad.tensor import Tensor

__all__ = ["Module", "ModuleList", "Parameter", "Sequential"]


class Parameter(Tensor):
    """A Tensor that is a learnable weight of a Module: a leaf with ``requires_grad=True``.

    ``Parameter(anygrad.zeros(3, 4))`` shares the tensor's array (and its backend/device).
    """

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True) -> None:
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class _IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(..., strict=False)`` did not match (PyTorch's return value)."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class of layers and models: subclass it, assign Parameters and Modules as
    attributes in ``__init__`` (after ``super().__init__()``), and define ``forward``."""

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    # --- registration ---------------------------------------------------------------------
    def _registries(self, name: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        try:
            return self.__dict__["_parameters"], self.__dict__["_buffers"], self.__dict__["_modules"]
        except KeyError:
            raise AttributeError(
                f"cannot assign {name!r} before Module.__init__() is called; call super().__init__() first "
                f"in {type(self).__name__}.__init__"
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        parameters, buffers, modules = self._registries(name)
        if isinstance(value, Parameter):
            buffers.pop(name, None)
            modules.pop(name, None)
            parameters[name] = value
        elif isinstance(value, Module):
            parameters.pop(name, None)
            buffers.pop(name, None)
            modules[name] = value
        elif name in parameters:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as parameter {name!r} of {type(self).__name__} "
                    "(an anygrad.nn.Parameter or None is expected; wrap tensors in nn.Parameter)"
                )
            parameters[name] = None
        elif name in modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as child module {name!r} of {type(self).__name__} "
                    "(an anygrad.nn.Module or None is expected)"
                )
            modules[name] = None
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign {type(value).__name__} as buffer {name!r} of {type(self).__name__} "
                    "(an anygrad Tensor or None is expected)"
                )
            buffers[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        for registry in self._registries(name):
            registry.pop(name, None)
        self.__dict__["_non_persistent_buffers"].discard(name)
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or an empty slot, ``None``, as Linear's ``bias=False`` does)."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter({name!r}): expected a Parameter or None, got {type(param).__name__}")
        parameters, buffers, modules = self._registries(name)
        buffers.pop(name, None)
        modules.pop(name, None)
        parameters[name] = param
        object.__setattr__(self, name, param)

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add a tensor that is state but not a parameter: it moves with ``to()`` and, when
        ``persistent``, is saved in the ``state_dict`` (as PyTorch's loss weights are)."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"register_buffer({name!r}): expected an anygrad Tensor or None, got {type(tensor).__name__}"
            )
        parameters, buffers, modules = self._registries(name)
        parameters.pop(name, None)
        modules.pop(name, None)
        buffers[name] = tensor
        non_persistent = self.__dict__["_non_persistent_buffers"]
        if persistent:
            non_persistent.discard(name)
        else:
            non_persistent.add(name)
        object.__setattr__(self, name, tensor)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a child module under ``name`` (what attribute assignment does)."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module({name!r}): expected a Module or None, got {type(module).__name__}")
        parameters, buffers, modules = self._registries(name)
        parameters.pop(name, None)
        buffers.pop(name, None)
        modules[name] = module
        object.__setattr__(self, name, module)

    register_module = add_module

    # --- calling ---------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """What the module computes; subclasses define it."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # --- traversal ---------------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, module) of the direct submodules, in assignment order, each once."""
        seen: set[int] = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        """The direct submodules."""
        for _, module in self.named_children():
            yield module

    def named_modules(self, memo: set[int] | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """(dotted name, module) of this module ('') and all submodules, depth first."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is not None:
                yield from module.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        """This module and all its submodules."""
        for _, module in self.named_modules():
            yield module

    def _named_members(self, registry: str, prefix: str, recurse: bool,
                       remove_duplicate: bool) -> Iterator[tuple[str, Tensor]]:
        seen: set[int] = set()
        owners = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for owner_name, owner in owners:
            for name, value in getattr(owner, registry).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield (f"{owner_name}.{name}" if owner_name else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) pairs; a parameter shared by two modules comes once."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)  # type: ignore[misc]

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """The parameters, in the order PyTorch gives them (what optimizers take)."""
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        """(dotted name, buffer) pairs."""
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """The buffers (non-learnable state tensors)."""
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every submodule, then on this module (e.g. a custom init); returns self."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # --- modes and gradients ---------------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode (Dropout active) on this module and all submodules; returns self."""
        if not isinstance(mode, bool):
            raise TypeError(f"train(mode): mode must be a bool, got {type(mode).__name__}")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> Module:
        """Set evaluation mode (Dropout off): ``train(False)``; returns self."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters to None (PyTorch's default)."""
        for param in self.parameters():
            if set_to_none or param.grad is None:
                param.grad = None
            else:
                param.grad = param.xp.zeros_like(param.grad)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Freeze (False) or unfreeze (True) all parameters; returns self."""
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    # --- moving ----------------------------------------------------------------------------------
    def to(self, backend: Any = None, device: Any = None, dtype: Any = None) -> Module:
        """Move every parameter and buffer to another backend and/or device, in place, and
        cast floating ones to ``dtype`` if given; returns self.

        The Parameter objects stay the same (an optimizer built earlier still holds them);
        their arrays and gradients are replaced. ``model.to("torch")``, ``model.to(device="cuda:0")``,
        ``model.to("cuda:0")``, ``model.to(dtype="float64")``.
        """
        if isinstance(backend, str) and backend not in BACKEND_NAMES and device is None:
            backend, device = None, backend  # model.to("cuda:0") names a device
        for module in self.modules():
            for tensor in list(module._parameters.values()) + list(module._buffers.values()):
                if tensor is not None:
                    _move_in_place(tensor, backend, device, dtype)
        return self

    def double(self) -> Module:
        """Cast floating parameters and buffers to float64; returns self."""
        return self.to(dtype="float64")

    def float(self) -> Module:
        """Cast floating parameters and buffers to float32; returns self."""
        return self.to(dtype="float32")

    # --- state --------------------------------------------------------------------------------------
    def _state_items(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """(key, tensor) of the state_dict: own parameters, persistent buffers, then children
        (PyTorch's order; shared submodules appear under every name)."""
        for name, param in self._parameters.items():
            if param is not None:
                yield prefix + name, param
        for name, buffer in self._buffers.items():
            if buffer is not None and name not in self._non_persistent_buffers:
                yield prefix + name, buffer
        for name, module in self._modules.items():
            if module is not None:
                yield from module._state_items(f"{prefix}{name}.")

    def state_dict(self) -> collections.OrderedDict[str, Tensor]:
        """Parameters and persistent buffers by dotted name (``0.weight``, ``layers.1.bias``), as
        detached Tensors sharing memory with the model."""
        return collections.OrderedDict((key, tensor.detach()) for key, tensor in self._state_items())

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> _IncompatibleKeys:
        """Copy values into the parameters and buffers with the same names.

        Values may be anygrad Tensors, arrays of any supported library, or NumPy arrays; each is
        copied onto its parameter's backend and device and cast to its dtype. Nothing is
        loaded if any shape differs, or, with ``strict=True``, if keys are missing or
        unexpected: the RuntimeError lists them all. Returns (missing_keys, unexpected_keys).
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict: expected a mapping of names to arrays, got {type(state_dict).__name__}")
        targets = dict(self._state_items())
        missing = [key for key in targets if key not in state_dict]
        unexpected = [key for key in state_dict if key not in targets]
        mismatched = []
        for key, tensor in targets.items():
            if key in state_dict:
                got = _shape_of(state_dict[key])
                if got != tensor.shape:
                    mismatched.append(f"{key}: expected shape {tensor.shape}, got {got}")
        problems = []
        if strict and missing:
            problems.append("missing key(s): " + ", ".join(map(repr, missing)))
        if strict and unexpected:
            problems.append("unexpected key(s): " + ", ".join(map(repr, unexpected)))
        if mismatched:
            problems.append("shape mismatch: " + "; ".join(mismatched))
        if problems:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n  " + "\n  ".join(problems))
        # Convert everything first, so that a failing conversion loads nothing.
        arrays = {key: _array_on(tensor, state_dict[key]) for key, tensor in targets.items() if key in state_dict}
        for key, array in arrays.items():
            targets[key].data = array
        return _IncompatibleKeys(missing, unexpected)

    # --- display -----------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The settings shown inside this module's repr (subclasses override it)."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): {_indent(repr(module), 2)}" for name, module in self._modules.items()]
        lines = extra_lines + child_lines
        if not lines:
            return f"{type(self).__name__}()"
        if len(extra_lines) == 1 and not child_lines:
            return f"{type(self).__name__}({extra_lines[0]})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


def _indent(text: str, spaces: int) -> str:
    """Indent every line but the first (a child's repr inside its parent's)."""
    return text.replace("\n", "\n" + " " * spaces)


def _move_in_place(tensor: Tensor, backend: Any, device: Any, dtype: Any) -> None:
    source = tensor._backend
    target = source if backend is None and device is None else get_backend(
        source.name if backend is None else backend, device
    )
    tensor.data = _converted(tensor.data, source, target, dtype)
    if tensor.grad is not None:
        tensor.grad = _converted(tensor.grad, source, target, dtype)
    tensor._backend = target


def _converted(array: Any, source: Backend, target: Backend, dtype: Any) -> Any:
    array = target.move(array, source)
    if dtype is not None and target.xp.isdtype(array.dtype, "real floating"):
        array = target.xp.astype(array, target.dtype(dtype))
    return array


def _shape_of(value: Any) -> tuple[int, ...]:
    return tuple(value.shape) if hasattr(value, "shape") else tuple(np.shape(value))


def _array_on(tensor: Tensor, value: Any) -> Any:
    """A copy of ``value`` on ``tensor``'s backend and device, in its dtype."""
    target = tensor._backend
    if isinstance(value, Tensor):
        array = target.move(value.data, value._backend)
    elif isinstance(value, np.ndarray) or not array_api_compat.is_array_api_obj(value):
        array = target.from_host(np.asarray(value))
    else:
        array = target.move(value, backend_of_array(value))
    # astype copies (the Array API default), so the model never shares memory with the source.
    return target.xp.astype(array, tensor.dtype)


# --- containers ------------------------------------------------------------------------------------------
class Sequential(Module):
    """Modules applied one after another: ``Sequential(Linear(784, 128), ReLU(), Linear(128, 10))``.

    Children are named "0", "1", ... (or by the keys of one ordered mapping passed instead),
    so state_dict keys match ``torch.nn.Sequential``'s.

    A layer followed by an activation it can absorb (``Linear`` then ``ReLU``, ``Sigmoid`` or
    ``Tanh``, those exact classes) runs as one fused op: the same values and gradients with
    one graph node fewer. A layer offers this with a ``_forward_activated(x, activation)``
    method, an activation with a ``_fused_activation`` name, each in its own class body, so
    subclasses that may change what the layer computes are called one by one.
    """

    def __init__(self, *modules: Module | Mapping[str, Module]) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], Mapping):
            for name, module in modules[0].items():
                self.add_module(str(name), _checked_module(module, "Sequential"))
        else:
            for index, module in enumerate(modules):
                self.add_module(str(index), _checked_module(module, "Sequential"))

    def forward(self, x: Any) -> Any:
        modules = tuple(self._modules.values())
        last = len(modules) - 1
        i = 0
        while i <= last:
            module = modules[i]
            if i < last:
                activation = type(modules[i + 1]).__dict__.get("_fused_activation")
                fused_forward = type(module).__dict__.get("_forward_activated") if activation else None
                if fused_forward is not None:
                    x = fused_forward(module, x, activation)
                    i += 2
                    continue
            x = module(x)
            i += 1
        return x

    def __getitem__(self, index: int | slice) -> Any:
        items = list(self._modules.items())
        if isinstance(index, slice):  # keeps the names, as PyTorch does
            return Sequential(collections.OrderedDict(items[index]))
        return items[_checked_index(index, len(items), "Sequential")][1]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> Sequential:
        """Add a module at the end (named by its position); returns self."""
        self.add_module(str(len(self)), _checked_module(module, "Sequential.append"))
        return self


class ModuleList(Module):
    """A list of modules whose parameters the parent module finds (names "0", "1", ...)."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, index: int | slice) -> Any:
        items = list(self._modules.values())
        if isinstance(index, slice):
            return ModuleList(items[index])
        return items[_checked_index(index, len(items), "ModuleList")]

    def __setitem__(self, index: int, module: Module) -> None:
        index = _checked_index(index, len(self), "ModuleList")
        self.add_module(str(index), _checked_module(module, "ModuleList"))

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> ModuleList:
        """Add a module at the end; returns self."""
        self.add_module(str(len(self)), _checked_module(module, "ModuleList.append"))
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """Add modules at the end; returns self."""
        for module in modules:
            self.append(module)
        return self


def _checked_module(module: Any, where: str) -> Module:
    if not isinstance(module, Module):
        raise TypeError(f"{where}: expected anygrad.nn.Module instances, got {type(module).__name__}")
    return module


def _checked_index(index: int, length: int, where: str) -> int:
    if not -length <= index < length:
        raise IndexError(f"{where} index {index} is out of range for {length} modules")
    return index % length
