"""Run a training step's Python once and replay its array operations: :func:`capture`.

An eager step runs Python for every op every time: module calls, argument checks, graph
records, the backward walk, the optimizer loop. For small arrays that Python costs more
than the arithmetic (bench/NOTES.md). ``capture`` runs the step once with every array
replaced by a stand-in that records what is done to it, writes the recorded operations out
as one straight-line Python function, and from then on calls that function: the same
backend calls on the same arrays in the same order, nothing else.

What a replay assumes, and how it is checked (the way ``torch.cuda.graphs`` and
``torch.jit.trace`` replay, with the checks made explicit):

- The step reads and writes arrays only through its arguments (Tensors) and the state it
  was given: modules (their parameters and buffers) and optimizers (their parameters and
  state arrays). An array from anywhere else (a tensor made inside the step, a mask drawn
  on the host) would be frozen into the replay, so capturing it raises CaptureError. Random
  draws through the backend (``nn.Dropout``'s masks) are recorded as draws: a replay takes
  fresh numbers from the same generator, in the same order, as the eager step.
- The work depends on shapes, dtypes and settings, not on array values. Every call checks,
  before any work, the arguments' shapes, dtypes and backends, grad mode, each module's
  training flag and members, each optimizer's parameters and hyper-parameters (an LR
  scheduler's change is seen), and each state tensor's shape, dtype, ``requires_grad`` and
  whether it has a gradient; a mismatch captures the step again for the new case. Python
  values the step reads besides these (a counter, a flag, the learning rate of an optimizer
  not passed in) are frozen at what they were during the capture.
- A truth value read in Python (the class-range check of a loss: ``bool(min(t) >= 0)``) is
  checked again on every replay; when it comes out differently the call runs the step
  eagerly instead, which raises the eager error or takes the other branch. Such a read
  after the step has changed state in place cannot be replayed safely: CaptureError.
  Reading a value as a Python number (``float(loss)``, ``.item()``) inside the step raises
  CaptureError: the replay would freeze it. Return the tensor and read it outside.
- Python numbers in optimizer state (``optim.Adam``'s step count) are inputs too: the
  arithmetic done on them (Adam's bias corrections) is recorded as Python arithmetic and
  redone on every replay, with the same floats as the eager step. A call that creates
  optimizer state (the first step of SGD with momentum, or of Adam) runs as captured but
  is not kept; the next call is captured again.

Returned tensors hold the replayed arrays and no graph (the step's backward has run).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable
from typing import Any

import array_api_compat
import numpy as np

from anygrad.backend import Backend, backend_of_array
from anygrad.engine import _GRAD_ENABLED
from anygrad.nn.module import Module
from anygrad.optim.optimizer import Optimizer
from anygrad.tensor import Tensor

__all__ = ["CaptureError", "CapturedStep", "capture"]

_BEING_CAPTURED = " (being captured)"  # in the label of the arguments' and state's backend during a capture
_OUTSIDER = ("anygrad.capture: the step used {} that is neither an argument nor part of the state passed to "
             "capture (a tensor made inside the step, a mask drawn on the host, or a module or optimizer not "
             "passed in); a replay would freeze its values")

#: How many captured variants (argument shapes, settings) a step keeps, newest first.
MAX_VARIANTS = 8


class CaptureError(RuntimeError):
    """The step cannot be replayed from a capture; the message says why."""


class _Miss(Exception):
    """A replay's checks do not hold for this call."""


def capture(step: Callable[..., Any], *state: Module | Optimizer | Tensor) -> CapturedStep:
    """Wrap ``step`` (a function of positional Tensors) so that its array operations are
    recorded on a call and replayed on later calls with arguments of the same shapes, dtypes
    and backends.

    ``state``: every module, optimizer and tensor the step uses besides its arguments (an
    optimizer left out still works, but its hyper-parameters are then frozen)::

        def train_step(x, y):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            return loss

        step = anygrad.capture(train_step, model, optimizer)
        for x, y in loader:
            loss = step(x, y)

    See the module's documentation for what a replay assumes and checks.
    """
    return CapturedStep(step, state)


class CapturedStep:
    """A step function with its captured replays (see :func:`capture`)."""

    def __init__(self, step: Callable[..., Any], state: Iterable[Any]) -> None:
        if not callable(step):
            raise TypeError(f"anygrad.capture: step must be callable, got {type(step).__name__}")
        self.step = step
        self.state = tuple(state)
        for owner in self.state:
            if not isinstance(owner, (Module, Optimizer, Tensor)):
                raise TypeError(f"anygrad.capture: state must be modules, optimizers or tensors, got "
                                f"{type(owner).__name__}")
        self._replays: list[Callable[[tuple[Any, ...]], Any]] = []

    def __call__(self, *args: Any) -> Any:
        for replay in self._replays:
            try:
                return replay(args)
            except _Miss:
                continue
            except _Diverged:  # a value read in Python came out differently: the step decides
                return self.step(*args)
        return self._capture(args)

    def __repr__(self) -> str:
        return f"<anygrad.capture of {getattr(self.step, '__qualname__', self.step)!r}: {len(self._replays)} replays>"

    def _capture(self, args: tuple[Any, ...]) -> Any:
        for i, arg in enumerate(args):
            if not isinstance(arg, Tensor):
                raise TypeError(f"anygrad.capture: the step's arguments must be Tensors, argument {i} is a "
                                f"{type(arg).__name__}")
        recording = _Recording(args, self.state)
        result, replay = recording.run(self.step)
        if replay is not None:
            self._replays.insert(0, replay)
            del self._replays[MAX_VARIANTS:]
        return result


class _Diverged(Exception):
    """A truth value read during capture came out differently in a replay."""


# --- recording ----------------------------------------------------------------------------
def _modules_of(state: tuple[Any, ...]) -> list[Module]:
    modules: list[Module] = []
    seen: set[int] = set()
    for owner in state:
        if isinstance(owner, Module):
            for module in owner.modules():
                if id(module) not in seen:
                    seen.add(id(module))
                    modules.append(module)
    return modules


def _unique(tensors: Iterable[Tensor]) -> list[Tensor]:
    seen: set[int] = set()
    return [t for t in tensors if not (id(t) in seen or seen.add(id(t)))]  # type: ignore[func-returns-value]


class _Recording:
    """One capture: the stand-ins, the recorded lines, and the checks a replay makes first."""

    def __init__(self, args: tuple[Tensor, ...], state: tuple[Any, ...]) -> None:
        self.args = args
        self.modules = _modules_of(state)
        self.optimizers = [owner for owner in state if isinstance(owner, Optimizer)]
        owned = [t for m in self.modules for t in (*m._parameters.values(), *m._buffers.values()) if t is not None]
        owned += [p for o in self.optimizers for group in o.param_groups for p in group["params"]]
        owned += [owner for owner in state if isinstance(owner, Tensor)]
        self.tensors = _unique(owned)
        self.constants: dict[str, Any] = {"Tensor": Tensor, "_Miss": _Miss, "_Diverged": _Diverged,
                                          "_GRAD_ENABLED": _GRAD_ENABLED}
        self._constant_names: dict[int, str] = {}
        self.lines: list[str] = []
        self.count = 0
        self.state_written = False
        self.closed = False  # once the step has run: stand-ins still in use escaped the capture
        self._namespaces: dict[int, _Namespace] = {}
        self.real_backends: dict[int, Backend] = {}  # id(recording backend) -> the backend it stands for

    # -- names for values and constants ---------------------------------------------------
    def new_name(self) -> str:
        self.count += 1
        return f"v{self.count}"

    def constant(self, value: Any) -> str:
        name = self._constant_names.get(id(value))
        if name is None:
            name = f"c{len(self._constant_names)}"
            self._constant_names[id(value)] = name
            self.constants[name] = value
        return name

    def render(self, value: Any) -> str:
        """Python source for ``value`` in a recorded line."""
        if isinstance(value, _StandIn):
            return value._name
        if value is None or value is Ellipsis or isinstance(value, (bool, str)):
            return repr(value)
        if isinstance(value, (int, float)) and math.isfinite(value):
            text = repr(value)
            return f"({text})" if text.startswith("-") else text  # -2.0 ** v is -(2.0 ** v) in Python
        if isinstance(value, tuple):
            return "(" + "".join(f"{self.render(v)}, " for v in value) + ")"
        if isinstance(value, list):
            return "[" + ", ".join(self.render(v) for v in value) + "]"
        if isinstance(value, slice):
            return f"slice({self.render(value.start)}, {self.render(value.stop)}, {self.render(value.step)})"
        if isinstance(value, dict):
            return "{" + ", ".join(f"{self.render(k)}: {self.render(v)}" for k, v in value.items()) + "}"
        if array_api_compat.is_array_api_obj(value) and not isinstance(value, np.generic):
            raise CaptureError(_OUTSIDER.format(f"a {tuple(value.shape)} {value.dtype} array"))
        return self.constant(value)

    # -- stand-ins ----------------------------------------------------------------------------
    def number(self, value: Any, source: str) -> _SymbolicNumber:
        """A stand-in for a Python number, loaded in the replay by the expression ``source``."""
        name = self.new_name()
        self.lines.append(f"{name} = {source}")
        return _SymbolicNumber(value, name, self)

    def symbolic(self, value: Any, source: str, *, state: bool = False) -> _Symbolic:
        """A stand-in for ``value``, loaded in the replay by the expression ``source``."""
        name = self.new_name()
        self.lines.append(f"{name} = {source}")
        return _Symbolic(value, name, self, state)

    def record(self, expression: str, result: Any, *, view_of_state: bool = False) -> Any:
        """Record ``name = expression`` for each array in ``result``; other results are static."""
        self.check_open()
        if isinstance(result, (tuple, list)) and result and all(_is_computed(r) for r in result):
            names = [self.new_name() for _ in result]
            self.lines.append(f"{', '.join(names)}, = {expression}")
            return type(result)(_Symbolic(r, n, self, view_of_state) for r, n in zip(result, names, strict=True))
        if not _is_computed(result):
            return result
        name = self.new_name()
        self.lines.append(f"{name} = {expression}")
        return _Symbolic(result, name, self, view_of_state)

    def record_number(self, expression: str, value: Any) -> _SymbolicNumber:
        self.check_open()
        name = self.new_name()
        self.lines.append(f"{name} = {expression}")
        return _SymbolicNumber(value, name, self)

    def check_open(self) -> None:
        if self.closed:
            raise CaptureError(
                "anygrad.capture: a stand-in array of an earlier capture is still in use: the step stored one "
                "where capture could not put the real array back (in a module, optimizer or tensor not passed "
                "to capture). Pass every module and optimizer the step uses"
            )

    def write(self, target: _Symbolic, statement: str) -> None:
        """Record an in-place statement on ``target`` (a change of state if it stands for state)."""
        self.check_open()
        self.lines.append(statement)
        if target._state:
            self.state_written = True

    def check_truth(self, symbolic: _StandIn, value: bool) -> None:
        self.check_open()
        if self.state_written:
            raise CaptureError(
                "anygrad.capture: the step reads an array's truth value in Python after changing state in place; "
                "a replay could not go back to run it eagerly when the value differs"
            )
        self.lines.append(f"if {'not ' if value else ''}{symbolic._name}: raise _Diverged")

    def namespace(self, backend: Backend) -> _Namespace:
        found = self._namespaces.get(id(backend))
        if found is None:
            found = self._namespaces[id(backend)] = _Namespace(backend.xp, self)
        return found

    def namespace_of(self, array: Any) -> _Namespace:
        return self.namespace(backend_of_array(array))

    # -- the capture ------------------------------------------------------------------------
    def run(self, step: Callable[..., Any]) -> tuple[Any, Callable[[tuple[Any, ...]], Any] | None]:
        checks = self._checks()
        before = self._optimizer_state_layout()
        swapped = _Swap(self)
        try:
            swapped.swap_in()
            try:
                out = step(*self.args)
            except ValueError as error:  # an op mixed a captured tensor with one from outside
                if _BEING_CAPTURED in str(error):
                    raise CaptureError(_OUTSIDER.format("a tensor")) from error
                raise
            outputs = self._outputs(out)
            writes = swapped.write_backs()
            returned = self._render_outputs(outputs)
            result = self._real_outputs(outputs)
            self._check_nothing_escaped()
        finally:
            swapped.restore()
            self.closed = True
        if self._optimizer_state_layout() != before:
            return result, None  # state was created: this call was not a representative step
        return result, self._compile(checks, writes, returned)

    def _optimizer_state_layout(self) -> list[list[tuple[int, tuple[tuple[str, str], ...]]]]:
        """Per optimizer and parameter: the state's keys and what each holds."""
        return [[(id(p), tuple((key, _kind(value)) for key, value in values.items()))
                 for p, values in optimizer.state.items()] for optimizer in self.optimizers]

    def _outputs(self, out: Any) -> Any:
        if out is None:
            return None
        if isinstance(out, Tensor):
            if not isinstance(out.data, _Symbolic):
                raise CaptureError("anygrad.capture: the step returned a tensor that none of its work made")
            return out
        if isinstance(out, (tuple, list)):
            return type(out)(self._outputs(o) for o in out)
        raise CaptureError(f"anygrad.capture: the step must return Tensors (or a tuple of them, or None), got a "
                           f"{type(out).__name__}; a replay would return the capture's value every time")

    def _check_nothing_escaped(self) -> None:
        for module in self.modules:
            for key, value in vars(module).items():
                if isinstance(value, Tensor) and isinstance(value.data, _Symbolic) and \
                        all(value is not t for t in self.tensors):
                    raise CaptureError(f"anygrad.capture: {type(module).__name__} keeps a tensor made inside the "
                                       f"step in its attribute {key!r}; a replay would not update it")

    # -- the replay's checks and code -------------------------------------------------------
    def _checks(self) -> list[str]:
        """Conditions that must all hold before a replay does any work."""
        c = self.constant
        conds = [f"len(args) == {len(self.args)}", f"_GRAD_ENABLED.get() is {_GRAD_ENABLED.get()}"]
        for i, arg in enumerate(self.args):
            conds += [f"type(args[{i}]) is Tensor", f"args[{i}]._backend is {c(arg._backend)}",
                      f"args[{i}].data.shape == {tuple(arg.data.shape)!r}",
                      f"args[{i}].data.dtype == {c(arg.data.dtype)}",
                      f"args[{i}].requires_grad is {arg.requires_grad}",
                      f"(args[{i}].grad is None) is {arg.grad is None}", f"(args[{i}]._node is None) is {arg._node is None}"]
        for tensor in self.tensors:
            t = c(tensor)
            conds += [f"{t}._backend is {c(tensor._backend)}", f"{t}.data.shape == {tuple(tensor.data.shape)!r}",
                      f"{t}.data.dtype == {c(tensor.data.dtype)}", f"{t}.requires_grad is {tensor.requires_grad}",
                      f"({t}.grad is None) is {tensor.grad is None}", f"{t}._node is None"]
        for module in self.modules:
            m = c(module)
            conds.append(f"{m}.training is {module.training}")
            for registry in ("_parameters", "_buffers", "_modules"):
                members = getattr(module, registry)
                conds.append(f"len({m}.{registry}) == {len(members)}" if members else f"not {m}.{registry}")
                conds += [f"{m}.{registry}.get({name!r}) is {c(member)}" for name, member in members.items()]
        for optimizer in self.optimizers:
            o = c(optimizer)
            conds.append(f"len({o}.param_groups) == {len(optimizer.param_groups)}")
            for g, group in enumerate(optimizer.param_groups):
                params = group["params"]
                conds.append(f"len({o}.param_groups[{g}]['params']) == {len(params)}")
                conds += [f"{o}.param_groups[{g}]['params'][{k}] is {c(p)}" for k, p in enumerate(params)]
                conds += [f"{o}.param_groups[{g}][{key!r}] == {c(value)}" for key, value in group.items()
                          if key != "params"]
            for p, values in optimizer.state.items():
                entry = f"{o}.state.get({c(p)}, {{}})"
                conds.append(f"len({entry}) == {len(values)}")
                conds += [f"type({entry}.get({key!r})) is {c(type(value))}" if _kind(value) == "number"
                          else f"{key!r} in {entry}" if _kind(value) == "array"
                          else f"{entry}.get({key!r}) == {c(value)}" for key, value in values.items()]
        return conds

    def _compile(self, checks: list[str], writes: list[str], returned: str) -> Callable[[tuple[Any, ...]], Any]:
        body = ["def replay(args):", "    if not (" + "\n            and ".join(checks) + "):", "        raise _Miss"]
        body += [f"    {line}" for line in _without_unused(self.lines + writes + [f"return {returned}"])]
        source = "\n".join(body)
        namespace = dict(self.constants)
        exec(compile(source, "<anygrad.capture>", "exec"), namespace)  # noqa: S102
        replay = namespace["replay"]
        replay.source = source  # for whoever debugs a replay
        return replay

    def _real_outputs(self, outputs: Any) -> Any:
        if outputs is None:
            return None
        if isinstance(outputs, Tensor):
            return Tensor._wrap(_real(outputs.data), self.real_backends.get(id(outputs._backend), outputs._backend), None)
        return type(outputs)(self._real_outputs(o) for o in outputs)

    def _render_outputs(self, outputs: Any) -> str:
        if outputs is None:
            return "None"
        if isinstance(outputs, Tensor):
            backend = self.real_backends.get(id(outputs._backend), outputs._backend)
            return f"Tensor._wrap({outputs.data._name}, {self.constant(backend)}, None)"
        rendered = ", ".join(self._render_outputs(o) for o in outputs)
        return f"({rendered},)" if isinstance(outputs, tuple) else f"[{rendered}]"


class _Swap:
    """Puts stand-ins into the arguments, state tensors and optimizer state, and back."""

    def __init__(self, recording: _Recording) -> None:
        self.recording = recording
        self.tensors = _unique([*recording.args, *recording.tensors])
        self.saved: list[tuple[Tensor, Any, Any, Backend, str]] = []  # tensor, data, grad, backend, source
        self.saved_state: list[tuple[dict[str, Any], str, Any, str]] = []
        self.recording_backends: dict[int, Backend] = {}

    def _recording_backend(self, backend: Backend) -> Backend:
        found = self.recording_backends.get(id(backend))
        if found is None:
            found = self.recording_backends[id(backend)] = _RecordingBackend(backend, self.recording)
            self.recording.real_backends[id(found)] = backend
        return found

    def swap_in(self) -> None:
        r = self.recording
        arg_index = {id(a): i for i, a in enumerate(r.args)}
        for tensor in self.tensors:
            # Arguments are read from each call's own; state tensors are the captured objects.
            source = f"args[{arg_index[id(tensor)]}]" if id(tensor) in arg_index else r.constant(tensor)
            self.saved.append((tensor, tensor.data, tensor.grad, tensor._backend, source))
            tensor.data = r.symbolic(tensor.data, f"{source}.data", state=True)  # arguments too: the caller's
            if tensor.grad is not None:
                tensor.grad = r.symbolic(tensor.grad, f"{source}.grad", state=True)
            tensor._backend = self._recording_backend(tensor._backend)
        for optimizer in r.optimizers:
            for p, values in optimizer.state.items():
                for key, value in values.items():
                    kind = _kind(value)
                    if kind != "other":
                        source = f"{r.constant(optimizer)}.state[{r.constant(p)}][{key!r}]"
                        values[key] = r.symbolic(value, source, state=True) if kind == "array" else \
                            r.number(value, source)
                        self.saved_state.append((values, key, value, source))

    def write_backs(self) -> list[str]:
        """Assignments that leave the state as the step left it (rebound arrays, gradients)."""
        lines: list[str] = []
        for tensor, data, grad, _, source in self.saved:
            lines += _write_back(f"{source}.data", tensor.data, data, allow_none=False)
            lines += _write_back(f"{source}.grad", tensor.grad, grad, allow_none=True)
        for values, key, value, source in self.saved_state:
            lines += _write_back(source, values.get(key), value, allow_none=False)
        return lines

    def restore(self) -> None:
        for tensor, _, _, backend, _ in self.saved:
            tensor.data = _real(tensor.data)
            tensor.grad = _real(tensor.grad)
            tensor._backend = backend
            tensor._node = None
        for optimizer in self.recording.optimizers:  # state the step swapped in or created
            for values in optimizer.state.values():
                for key, value in values.items():
                    values[key] = _real(value)


class _RecordingBackend(Backend):
    """The backend of the arguments and state during a capture: its namespace records, and its
    random draws (dropout masks) are recorded as calls, so a replay draws fresh numbers from
    the generator just as the eager step would."""

    __slots__ = ("_real", "_recording")

    def __init__(self, backend: Backend, recording: _Recording) -> None:  # a copy of backend, not a new one
        for slot in Backend.__slots__:
            setattr(self, slot, getattr(backend, slot))
        self._real, self._recording = backend, recording
        self.xp = recording.namespace(backend)
        self.label = f"{backend.label}{_BEING_CAPTURED}"
        self.is_writeable = lambda array: backend.is_writeable(_real(array))

    def uniform(self, shape: tuple[int, ...], dtype: Any) -> Any:
        r = self._recording
        sample = self._real.uniform(shape, dtype)
        return r.record(f"{r.constant(self._real)}.uniform({r.render(tuple(shape))}, {r.render(dtype)})", sample)


def _write_back(target: str, final: Any, initial: Any, *, allow_none: bool) -> list[str]:
    if final is None:
        if not allow_none:
            raise CaptureError(f"anygrad.capture: the step left {target} as None")
        return [] if initial is None else [f"{target} = None"]
    if not isinstance(final, _StandIn):
        raise CaptureError(f"anygrad.capture: the step put a value it did not compute into {target}")
    if final._value is initial:
        return []  # updated in place (or untouched): the replay's in-place statements do it
    return [f"{target} = {final._name}"]


_ASSIGNMENT = re.compile(r"^((?:v\d+, )*v\d+),? = ")
_NAME = re.compile(r"\bv\d+\b")


def _without_unused(lines: list[str]) -> list[str]:
    """Drop assignments whose names nothing reads (loads of values the step replaced, such as
    gradients it cleared), and free each value after its last use, as the eager step frees
    the graph while it walks it backward (a replay that kept every intermediate to the end
    would need more memory, and fresh memory, each step). Recorded expressions have no side
    effects; in-place statements and checks are not assignments and always stay."""
    kept: list[str] = []
    used: set[str] = set()
    for line in reversed(lines):
        assigned = _ASSIGNMENT.match(line)
        if assigned:
            targets = assigned.group(1).split(", ")
            if not used.intersection(targets):
                continue
            used.update(_NAME.findall(line[assigned.end():]))
        else:
            used.update(_NAME.findall(line))
        kept.append(line)
    kept.reverse()
    last_use = {name: i for i, line in enumerate(kept) for name in _NAME.findall(line)}
    freed: list[str] = []
    for i, line in enumerate(kept):
        freed.append(line)
        done = sorted({name for name in _NAME.findall(line) if last_use[name] == i})
        if done and not line.startswith("return "):
            freed.append(f"del {', '.join(done)}")
    return freed


def _real(value: Any) -> Any:
    return value._value if isinstance(value, _StandIn) else value


def _kind(value: Any) -> str:
    """What a value of optimizer state is to a capture: "array", "number" or "other"."""
    if _is_array(value):
        return "array"
    if isinstance(value, _SymbolicNumber) or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return "number"
    return "other"


def _is_array(value: Any) -> bool:
    return isinstance(value, _Symbolic) or (
        array_api_compat.is_array_api_obj(value) and not isinstance(value, (np.generic, Tensor)))


def _is_computed(value: Any) -> bool:
    """Whether a result is data (an array, or the NumPy scalar NumPy makes of a 0-d result)."""
    return _is_array(value) or isinstance(value, np.generic)


def _unwrap(value: Any) -> Any:
    if isinstance(value, _StandIn):
        return value._value
    if isinstance(value, (tuple, list)):
        return type(value)(_unwrap(v) for v in value)
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    return value


# --- the stand-in array and namespace ------------------------------------------------------
#: Namespace functions whose result may share memory with their input: writing into it
#: writes into the input.
_VIEWS = frozenset({"reshape", "permute_dims", "matrix_transpose", "broadcast_to", "squeeze", "expand_dims",
                    "asarray", "astype", "flip", "moveaxis", "unstack", "broadcast_arrays"})


class _Namespace:
    """The backend's namespace, recording each call that takes or makes an array."""

    def __init__(self, xp: Any, recording: _Recording) -> None:
        self._xp = xp
        self._recording = recording

    # Caches keyed by the namespace (backend.dtype_is) see the real one.
    def __hash__(self) -> int:
        return hash(self._xp)

    def __eq__(self, other: object) -> bool:
        return other is self._xp or (isinstance(other, _Namespace) and other._xp is self._xp)

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._xp, name)
        if isinstance(real, type) or not callable(real) or name.startswith("__"):
            return real
        recording = self._recording

        def recorded(*args: Any, **kwargs: Any) -> Any:
            result = real(*_unwrap(args), **_unwrap(kwargs))
            if not _is_computed(result) and not (isinstance(result, (tuple, list)) and result
                                                 and all(_is_computed(r) for r in result)):
                return result  # a static answer (isdtype, result_type, finfo)
            rendered = [recording.render(a) for a in args]
            rendered += [f"{key}={recording.render(value)}" for key, value in kwargs.items()]
            view = name in _VIEWS and any(isinstance(a, _Symbolic) and a._state for a in args)
            return recording.record(f"{recording.constant(real)}({', '.join(rendered)})", result, view_of_state=view)

        return recorded


def _binary(symbol: str, compute: Callable[[Any, Any], Any], reflected: bool = False) -> Callable[..., Any]:
    def method(self: _Symbolic, other: Any) -> Any:
        recording = self._recording
        a, b = (other, self) if reflected else (self, other)
        result = compute(_real(a), _real(b))
        if result is NotImplemented:
            return NotImplemented
        return recording.record(f"{recording.render(a)} {symbol} {recording.render(b)}", result)

    return method


def _in_place(symbol: str, compute: Callable[[Any, Any], Any]) -> Callable[..., Any]:
    def method(self: _Symbolic, other: Any) -> Any:
        self._recording.check_open()
        self._value = compute(self._value, _real(other))  # libraries with immutable arrays rebind
        self._recording.write(self, f"{self._name} {symbol}= {self._recording.render(other)}")
        return self

    return method


def _unary(symbol: str, compute: Callable[[Any], Any]) -> Callable[..., Any]:
    def method(self: _Symbolic) -> Any:
        return self._recording.record(f"{symbol}{self._name}", compute(self._value))

    return method


def _value_read(what: str) -> Callable[..., Any]:
    def method(self: _Symbolic, *args: Any, **kwargs: Any) -> Any:
        raise CaptureError(
            f"anygrad.capture: the step reads an array's value in Python ({what}); a replay would freeze it. "
            "Return the tensor from the step and read it outside"
        )

    return method


class _StandIn:
    """A value during a capture: the real one, and its name in the replay's code."""

    __slots__ = ("_value", "_name", "_recording")


class _SymbolicNumber(_StandIn):
    """Stands for a Python number of optimizer state (Adam's step count): arithmetic on it is
    recorded as Python arithmetic, so a replay computes the same floats the eager step does."""

    __slots__ = ()

    def __init__(self, value: Any, name: str, recording: _Recording) -> None:
        self._value = value
        self._name = name
        self._recording = recording

    def __repr__(self) -> str:
        return f"<captured number {self._name}: {self._value!r}>"

    def __bool__(self) -> bool:
        value = bool(self._value)
        self._recording.check_truth(self, value)
        return value

    __float__ = __int__ = __index__ = _value_read("a number of optimizer state through float(), int() or an index")
    __hash__ = None  # type: ignore[assignment]


def _number_operator(symbol: str, compute: Callable[[Any, Any], Any], reflected: bool = False) -> Callable[..., Any]:
    def method(self: _SymbolicNumber, other: Any) -> Any:
        if isinstance(other, _Symbolic):
            return NotImplemented  # the array's operator records it
        if not isinstance(other, (int, float, _SymbolicNumber)):
            return NotImplemented
        a, b = (other, self) if reflected else (self, other)
        r = self._recording
        return r.record_number(f"{r.render(a)} {symbol} {r.render(b)}", compute(_real(a), _real(b)))

    return method


class _Symbolic(_StandIn):
    """Stands for one array during a capture: computes on the real array and records how."""

    __slots__ = ("_state",)
    __array_ufunc__ = None  # numpy_array + stand-in calls the stand-in's __radd__

    def __init__(self, value: Any, name: str, recording: _Recording, state: bool) -> None:
        self._value = value
        self._name = name
        self._recording = recording
        self._state = state  # stands for an argument or state (or a view of one): writing into it is a side effect

    # Static facts of the array.
    shape = property(lambda self: self._value.shape)
    dtype = property(lambda self: self._value.dtype)
    ndim = property(lambda self: self._value.ndim)
    size = property(lambda self: self._value.size)
    device = property(lambda self: array_api_compat.device(self._value))

    def __array_namespace__(self, api_version: str | None = None) -> Any:
        return self._recording.namespace_of(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __repr__(self) -> str:
        return f"<captured {self._name}: {tuple(self.shape)} {self.dtype}>"

    @property
    def T(self) -> Any:  # noqa: N802
        return self._recording.record(f"{self._name}.T", self._value.T, view_of_state=self._state)

    @property
    def mT(self) -> Any:  # noqa: N802
        return self._recording.record(f"{self._name}.mT", self._value.mT, view_of_state=self._state)

    def __getitem__(self, key: Any) -> Any:
        r = self._recording
        return r.record(f"{self._name}[{r.render(key)}]", self._value[_unwrap(key)], view_of_state=self._state)

    def __setitem__(self, key: Any, value: Any) -> None:
        r = self._recording
        r.check_open()
        self._value[_unwrap(key)] = _real(value)
        r.write(self, f"{self._name}[{r.render(key)}] = {r.render(value)}")

    def __bool__(self) -> bool:
        value = bool(self._value)
        self._recording.check_truth(self, value)
        return value

    __float__ = _value_read("float()")
    __int__ = _value_read("int()")
    __index__ = _value_read("as an index")
    __complex__ = _value_read("complex()")
    item = _value_read(".item()")
    tolist = _value_read(".tolist()")
    __array__ = _value_read("converted to a NumPy array")
    __dlpack__ = _value_read("exported with DLPack")
    __iter__ = _value_read("iterated over")

    __hash__ = None  # type: ignore[assignment]

    def __getattr__(self, name: str) -> Any:
        raise CaptureError(
            f"anygrad.capture: the step uses the array attribute {name!r}, which a replay cannot record (it reads "
            "an array's value in Python, or is not in the Array API: only operators, namespace functions, .T, "
            ".mT, .shape, .dtype, .ndim, .size and .device are recorded)"
        )


_OPERATORS = {
    "add": ("+", lambda a, b: a + b), "sub": ("-", lambda a, b: a - b), "mul": ("*", lambda a, b: a * b),
    "truediv": ("/", lambda a, b: a / b), "floordiv": ("//", lambda a, b: a // b), "mod": ("%", lambda a, b: a % b),
    "pow": ("**", lambda a, b: a ** b), "matmul": ("@", lambda a, b: a @ b), "and": ("&", lambda a, b: a & b),
    "or": ("|", lambda a, b: a | b), "xor": ("^", lambda a, b: a ^ b), "lshift": ("<<", lambda a, b: a << b),
    "rshift": (">>", lambda a, b: a >> b),
}
for _name, (_symbol, _compute) in _OPERATORS.items():
    setattr(_Symbolic, f"__{_name}__", _binary(_symbol, _compute))
    setattr(_Symbolic, f"__r{_name}__", _binary(_symbol, _compute, reflected=True))
    setattr(_Symbolic, f"__i{_name}__", _in_place(_symbol, getattr(operator, f"i{_name}")))
_COMPARISONS = {"lt": ("<", lambda a, b: a < b), "le": ("<=", lambda a, b: a <= b),
                "gt": (">", lambda a, b: a > b), "ge": (">=", lambda a, b: a >= b),
                "eq": ("==", lambda a, b: a == b), "ne": ("!=", lambda a, b: a != b)}
for _name, (_symbol, _compute) in _COMPARISONS.items():
    setattr(_Symbolic, f"__{_name}__", _binary(_symbol, _compute))
for _name, (_symbol, _compute) in {"neg": ("-", lambda a: -a), "pos": ("+", lambda a: +a),
                                   "invert": ("~", lambda a: ~a)}.items():
    setattr(_Symbolic, f"__{_name}__", _unary(_symbol, _compute))
_Symbolic.__abs__ = lambda self: self._recording.record(  # type: ignore[method-assign]
    f"{self._recording.constant(abs)}({self._name})", abs(self._value))
for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow"):
    _symbol, _compute = _OPERATORS[_name]
    setattr(_SymbolicNumber, f"__{_name}__", _number_operator(_symbol, _compute))
    setattr(_SymbolicNumber, f"__r{_name}__", _number_operator(_symbol, _compute, reflected=True))
for _name, (_symbol, _compute) in _COMPARISONS.items():
    setattr(_SymbolicNumber, f"__{_name}__", _number_operator(_symbol, _compute))
_SymbolicNumber.__neg__ = lambda self: self._recording.record_number(f"-{self._name}", -self._value)  # type: ignore
