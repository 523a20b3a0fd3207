"""Checkpoints as safetensors files: plain arrays and a text header, never pickle.

A file written by :func:`save` loads with ``safetensors.torch.load_file`` (and so into a
``torch.nn.Module`` with the same parameter names), and :func:`load` reads files PyTorch
or any other safetensors writer made.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import array_api_compat
import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import load_file, save_file

from anygrad.backend import backend_of_array, get_backend
from anygrad.tensor import Tensor

__all__ = ["load", "load_metadata", "save"]

# The NumPy dtypes safetensors stores (bfloat16 and float8 exist there but not in NumPy).
_STORABLE = frozenset(np.dtype(name) for name in (
    "bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
    "float16", "float32", "float64", "complex64",
))


def save(state_dict: Mapping[str, Any], path: str | os.PathLike[str],
         metadata: Mapping[str, str] | None = None) -> None:
    """Write ``{name: tensor}`` to a safetensors file at ``path``.

    Values may be Tensors, arrays of any backend, or NumPy arrays; they are copied to the
    host. ``metadata`` is an optional ``{str: str}`` stored in the header (read it back with
    :func:`load_metadata`).
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"anygrad.save: state_dict must be a dict of name -> tensor, not a {type(state_dict).__name__}")
    arrays = {}
    for name, value in state_dict.items():
        if not isinstance(name, str):
            raise TypeError(f"anygrad.save: keys must be strings, got {type(name).__name__} {name!r}")
        arrays[name] = _host_array(name, value)
    if metadata is not None:
        if not isinstance(metadata, Mapping) or not all(
                isinstance(key, str) and isinstance(value, str) for key, value in metadata.items()):
            raise TypeError(f"anygrad.save: metadata must be a dict of str -> str, got {metadata!r}")
        metadata = dict(metadata)
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"anygrad.save: the folder {folder!r} does not exist (saving {path!r})")
    save_file(arrays, path, metadata=metadata)


def _host_array(name: str, value: Any) -> np.ndarray:
    """A C-contiguous NumPy copy or view of one value, or a clear error."""
    if isinstance(value, Tensor):
        host = value.numpy()
    elif isinstance(value, (np.ndarray, np.generic)):
        host = np.asarray(value)
    elif array_api_compat.is_array_api_obj(value):
        host = backend_of_array(value).to_host(value)
    else:
        raise TypeError(f"anygrad.save: the value of {name!r} is a {type(value).__name__}, not a tensor or array")
    if host.dtype not in _STORABLE:
        raise TypeError(f"anygrad.save: the value of {name!r} has dtype {host.dtype}, which safetensors files "
                        f"cannot hold from NumPy; use one of {', '.join(sorted(str(d) for d in _STORABLE))}")
    # 0-d arrays are always C-contiguous (np.ascontiguousarray would make them 1-d).
    return host if host.flags.c_contiguous else np.ascontiguousarray(host)


def load(path: str | os.PathLike[str], backend: Any = None, device: Any = None) -> dict[str, Tensor]:
    """Read a safetensors file into ``{name: Tensor}`` on ``backend``/``device`` (default:
    the default backend). The tensors do not require grad."""
    arrays = _read(path, "load", load_file)
    target = get_backend(backend, device)
    # Arrays must be writeable: torch warns on read-only ones, and optimizers update in place.
    return {name: Tensor._wrap(target.from_host(np.require(array, requirements="W")), target, None)
            for name, array in arrays.items()}


def load_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The ``metadata`` a safetensors file was saved with (empty when it has none)."""
    return _read(path, "load_metadata", _read_metadata)


def _read_metadata(path: str) -> dict[str, str]:
    with safe_open(path, framework="np") as opened:
        return dict(opened.metadata() or {})


def _read(path: str | os.PathLike[str], caller: str, read: Any) -> Any:
    """``read(path)`` for a safetensors file, with clear errors for a missing or bad file."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"anygrad.{caller}: no such file: {path!r}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"anygrad.{caller}: {path!r} is a folder, not a safetensors file")
    try:
        return read(path)
    except SafetensorError as exc:
        raise ValueError(f"anygrad.{caller}: {path!r} is not a valid safetensors file "
                         f"(truncated, corrupt or another format): {exc}") from exc
    except TypeError as exc:  # a dtype NumPy has no type for, such as bfloat16
        raise TypeError(f"anygrad.{caller}: {path!r} holds a tensor NumPy cannot represent: {exc}") from exc
