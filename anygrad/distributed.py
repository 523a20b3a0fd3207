"""Data-parallel training over MPI (host arrays) and NCCL (CuPy arrays).

Every process (rank) holds a full copy of the model, trains on its own shard of the
data, and averages gradients with the other ranks before each optimizer step, so all
ranks take the same steps as one process training on the combined batch::

    import anygrad
    from anygrad import distributed as dist

    dist.init()                                          # MPI_Init; rank and world size
    anygrad.manual_seed(0)
    model = dist.DistributedDataParallel(anygrad.nn.MLP(784, [128], 10))  # rank 0's weights everywhere
    optimizer = anygrad.optim.SGD(model.parameters(), lr=0.1)
    shard = dist.shard_dataset(train)                    # this rank's samples
    loader = anygrad.data.DataLoader(shard, batch_size=64, shuffle=True, seed=0)
    for epoch in range(epochs):
        for images, labels in loader:
            optimizer.zero_grad()
            anygrad.nn.functional.cross_entropy(model(images), labels).backward()
            model.all_reduce_gradients()                 # one fused allreduce
            optimizer.step()
    if dist.is_main_process():
        anygrad.save(model.module.state_dict(), "model.safetensors")

**Launch** with ``mpiexec -n 4 python -m mpi4py train.py`` (or ``mpiexec -n 4 python -m
mpi4py -m anygrad train ...``). ``-m mpi4py`` makes an unhandled exception on any rank
call ``MPI_Abort``, which ends every rank at once with a non-zero exit; without it, the
other ranks would wait forever in their next collective. :func:`init` installs the same
safety net for scripts started as ``python train.py``, but it only covers exceptions
raised after ``init()``.

**Transports** are chosen per gradient buffer, from where its arrays live
(:func:`select_transport`), never by trying and falling back:

- ``"mpi"``: host arrays (NumPy, PyTorch CPU, JAX CPU, array-api-strict on the CPU
  device) go to mpi4py's buffer-based ``Allreduce``/``Bcast`` as contiguous NumPy arrays
  (views where the library allows, no pickling).
- ``"nccl"``: CuPy arrays are reduced by NCCL on the device, on the current stream. Rank
  0 makes the NCCL unique id and MPI broadcasts it once per device.
- ``"cuda-aware-mpi"``: CuPy or PyTorch CUDA arrays handed to MPI directly. mpi4py cannot
  tell whether the MPI library reads GPU memory, so this is only used when you declare
  it with ``init(cuda_aware_mpi=True)``.
- ``"host-staging"``: any other device array is copied to the host, reduced by MPI and
  copied back (device -> host -> MPI -> device).

The process group (the MPI communicator this process trains in) is process-wide state,
as MPI itself is: :func:`init` sets it once per process.
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Iterable
from typing import Any

import numpy as np

from anygrad.backend import Backend
from anygrad.data.loader import TensorDataset
from anygrad.nn.module import Module
from anygrad.tensor import Tensor

__all__ = [
    "TRANSPORTS",
    "DistributedDataParallel",
    "all_reduce",
    "barrier",
    "broadcast_parameters",
    "get_local_rank",
    "get_rank",
    "get_world_size",
    "init",
    "is_initialized",
    "is_main_process",
    "select_transport",
    "shard_dataset",
    "shard_indices",
]

TRANSPORTS = ("mpi", "nccl", "cuda-aware-mpi", "host-staging")


class _ProcessGroup:
    """The MPI communicator this process trains in, and what was declared about it."""

    __slots__ = ("MPI", "comm", "rank", "world_size", "local_rank", "cuda_aware_mpi", "nccl_communicators")

    def __init__(self, MPI: Any, comm: Any, cuda_aware_mpi: bool) -> None:
        self.MPI = MPI
        self.comm = comm
        self.rank = comm.Get_rank()
        self.world_size = comm.Get_size()
        # Ranks that share a node (and so its GPUs) numbered 0, 1, ...: picks a GPU per rank.
        node = comm.Split_type(MPI.COMM_TYPE_SHARED)
        self.local_rank = node.Get_rank()
        node.Free()
        self.cuda_aware_mpi = cuda_aware_mpi
        self.nccl_communicators: dict[int, Any] = {}  # CUDA device id -> NcclCommunicator


_GROUP: _ProcessGroup | None = None


def init(comm: Any = None, *, cuda_aware_mpi: bool = False, abort_on_exception: bool = True) -> None:
    """Start MPI (if needed) and make ``comm`` (default ``MPI.COMM_WORLD``) the process group.

    Call it once on every rank before anything else in this module. ``cuda_aware_mpi=True``
    declares that the MPI library reads and writes GPU memory, which lets device arrays go
    to MPI without a copy through the host (mpi4py cannot check this; a wrong declaration
    crashes or corrupts). With ``abort_on_exception`` (and more than one rank), an
    uncaught exception prints its traceback and then calls ``MPI_Abort``, so the whole job
    ends instead of the other ranks waiting forever.
    """
    global _GROUP
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise ImportError(
            "anygrad.distributed.init needs mpi4py and an MPI library: pip install 'anygrad[dist]' "
            "(installs mpi4py and MPICH)"
        ) from error
    comm = MPI.COMM_WORLD if comm is None else comm
    if _GROUP is not None:
        if _GROUP.comm is comm and _GROUP.cuda_aware_mpi == bool(cuda_aware_mpi):
            return
        raise RuntimeError("anygrad.distributed.init was already called with a different communicator or "
                           "cuda_aware_mpi setting; call it once per process")
    group = _ProcessGroup(MPI, comm, bool(cuda_aware_mpi))
    if abort_on_exception and group.world_size > 1:
        _abort_on_uncaught_exception(comm)
    _GROUP = group


def _abort_on_uncaught_exception(comm: Any) -> None:
    """Make an uncaught exception print its traceback, then end every rank (MPI_Abort)."""
    print_traceback = sys.excepthook

    def abort(kind: type[BaseException], error: BaseException, traceback: Any) -> None:
        # Printed in one piece: see _abort_job for what the launcher does with a cut one.
        real_stderr, sys.stderr = sys.stderr, io.StringIO()
        try:
            print_traceback(kind, error, traceback)
        finally:
            printed, sys.stderr = sys.stderr.getvalue(), real_stderr
        sys.stderr.write(printed)
        _abort_job(1, comm)

    sys.excepthook = abort


# MPICH's launcher drops what it has not yet read from a rank's pipes once an abort reaches
# it: in about 1 crash test of 40 on a loaded 2-core machine, a traceback printed line by line
# came through cut after its first line.
_SECONDS_FOR_THE_LAUNCHER_TO_READ_OUTPUT = 0.2


def _abort_job(code: int, comm: Any = None) -> None:
    """End every rank of the job (default: the process group's) with exit code ``code``
    (``MPI_Abort``), after flushing this rank's output and giving the launcher a moment to
    forward it."""
    comm = _GROUP.comm if comm is None else comm
    sys.stdout.flush()
    sys.stderr.flush()
    time.sleep(_SECONDS_FOR_THE_LAUNCHER_TO_READ_OUTPUT)
    comm.Abort(code)


def is_initialized() -> bool:
    """Whether :func:`init` has been called in this process."""
    return _GROUP is not None


def get_rank() -> int:
    """This process's rank, 0 .. world size - 1 (0 before :func:`init`, as for one process)."""
    return 0 if _GROUP is None else _GROUP.rank


def get_world_size() -> int:
    """The number of ranks training together (1 before :func:`init`)."""
    return 1 if _GROUP is None else _GROUP.world_size


def get_local_rank() -> int:
    """This process's rank among the ranks on its node (0 before :func:`init`): use it to
    pick a GPU, e.g. ``device=f"cuda:{get_local_rank() % gpus_per_node}"``."""
    return 0 if _GROUP is None else _GROUP.local_rank


def is_main_process() -> bool:
    """Whether this is rank 0, the rank that should print, log and save checkpoints."""
    return get_rank() == 0


def _group(caller: str) -> _ProcessGroup:
    if _GROUP is None:
        raise RuntimeError(f"{caller}: call anygrad.distributed.init() first (on every rank)")
    return _GROUP


def barrier() -> None:
    """Wait until every rank has reached this call."""
    _group("barrier").comm.Barrier()


# --- transports ---------------------------------------------------------------------------------
def _nccl_available() -> bool:
    """Whether CuPy was built with NCCL (checked only for CuPy arrays, so CuPy is installed)."""
    try:
        from cupy.cuda import nccl
    except ImportError:
        return False
    return bool(getattr(nccl, "available", False))


def _mpi_can_read_device(backend: Backend) -> bool:
    """Arrays mpi4py can hand to a CUDA-aware MPI (they expose ``__cuda_array_interface__``)."""
    return backend.name == "cupy" or (backend.name == "torch" and backend.device.type == "cuda")


def select_transport(backend: Backend, transport: str | None = None, *, cuda_aware_mpi: bool | None = None) -> str:
    """The transport for arrays on ``backend``: the one asked for, checked, or by default
    ``"mpi"`` for host arrays, ``"nccl"`` for CuPy (when CuPy has NCCL),
    ``"cuda-aware-mpi"`` for CuPy/PyTorch CUDA arrays when a CUDA-aware MPI was declared,
    else ``"host-staging"``. ``cuda_aware_mpi`` defaults to what :func:`init` was told."""
    if cuda_aware_mpi is None:
        cuda_aware_mpi = _GROUP is not None and _GROUP.cuda_aware_mpi
    if transport is None:
        if backend.is_host:
            return "mpi"
        if backend.name == "cupy" and _nccl_available():
            return "nccl"
        if cuda_aware_mpi and _mpi_can_read_device(backend):
            return "cuda-aware-mpi"
        return "host-staging"
    if transport not in TRANSPORTS:
        raise ValueError(f"unknown transport {transport!r}; choose one of {', '.join(TRANSPORTS)} (or None)")
    if transport == "mpi" and not backend.is_host:
        raise ValueError(
            f"transport 'mpi' hands arrays to MPI as host memory, but these live on {backend.label}; use "
            "'host-staging' (copies through the host), 'nccl' (CuPy), or 'cuda-aware-mpi' after "
            "init(cuda_aware_mpi=True)"
        )
    if transport == "nccl" and not (backend.name == "cupy" and _nccl_available()):
        raise ValueError(f"transport 'nccl' needs CuPy arrays and a CuPy built with NCCL, got arrays on "
                         f"{backend.label}" + ("" if backend.name != "cupy" else " and no NCCL in CuPy"))
    if transport == "cuda-aware-mpi":
        if not cuda_aware_mpi:
            raise ValueError("transport 'cuda-aware-mpi' needs a CUDA-aware MPI declared with "
                             "anygrad.distributed.init(cuda_aware_mpi=True); mpi4py cannot check this itself")
        if not _mpi_can_read_device(backend):
            raise ValueError(f"transport 'cuda-aware-mpi' takes CuPy or PyTorch CUDA arrays, got arrays on "
                             f"{backend.label}")
    return transport


def _nccl_communicator(group: _ProcessGroup, device: Any) -> Any:
    """The NCCL communicator of this rank's GPU, made on first use (a collective call)."""
    found = group.nccl_communicators.get(device.id)
    if found is None:
        from cupy.cuda import nccl

        unique_id = nccl.get_unique_id() if group.rank == 0 else None
        unique_id = group.comm.bcast(unique_id, root=0)  # a 128-byte tuple, once per device
        with device:
            found = nccl.NcclCommunicator(group.world_size, unique_id, group.rank)
        group.nccl_communicators[device.id] = found
    return found


def _nccl_dtype(dtype: Any) -> int:
    from cupy.cuda import nccl

    code = getattr(nccl, f"NCCL_{str(dtype).upper()}", None)
    if code is None:
        raise TypeError(f"anygrad.distributed: NCCL cannot reduce arrays of dtype {dtype}")
    return code


def _sum_over_ranks(group: _ProcessGroup, backend: Backend, transport: str, flat: Any) -> Any:
    """The element-wise sum of ``flat`` (a 1-D array on ``backend``) over all ranks, as a new array."""
    if transport == "nccl":
        import cupy
        from cupy.cuda import nccl

        communicator = _nccl_communicator(group, backend.device)
        with backend.device:
            flat = cupy.ascontiguousarray(flat)
            total = cupy.empty_like(flat)
            stream = cupy.cuda.get_current_stream()
            communicator.allReduce(flat.data.ptr, total.data.ptr, flat.size, _nccl_dtype(flat.dtype),
                                   nccl.NCCL_SUM, stream.ptr)
        return total
    if transport == "cuda-aware-mpi":
        total = backend.xp.empty_like(flat)
        backend.synchronize()  # MPI does not follow CUDA streams: finish the kernels that wrote `flat`
        group.comm.Allreduce(flat, total, op=group.MPI.SUM)
        return total
    # mpi / host-staging: to_host is a view for host libraries and a device -> host copy otherwise.
    send = np.ascontiguousarray(backend.to_host(flat))
    total = np.empty_like(send)
    group.comm.Allreduce(send, total, op=group.MPI.SUM)
    return backend.from_host(total)


def _broadcast_flat(group: _ProcessGroup, backend: Backend, transport: str, flat: Any, root: int) -> Any:
    """Rank ``root``'s ``flat`` (a 1-D array on ``backend``) on every rank, as a new array."""
    if transport == "nccl":
        import cupy

        communicator = _nccl_communicator(group, backend.device)
        with backend.device:
            buffer = cupy.array(flat, copy=True)  # written in place on the other ranks
            stream = cupy.cuda.get_current_stream()
            communicator.bcast(buffer.data.ptr, buffer.size, _nccl_dtype(buffer.dtype), root, stream.ptr)
        return buffer
    if transport == "cuda-aware-mpi":
        buffer = backend.xp.asarray(flat, copy=True)
        backend.synchronize()
        group.comm.Bcast(buffer, root=root)
        return buffer
    buffer = np.array(backend.to_host(flat), copy=True, order="C")
    group.comm.Bcast(buffer, root=root)
    return backend.from_host(buffer)


# --- packing many arrays into one buffer -----------------------------------------------------------
def _flatten(xp: Any, arrays: list[Any]) -> Any:
    """One contiguous 1-D array holding ``arrays`` one after another."""
    flat = [xp.reshape(array, (-1,)) for array in arrays]
    return flat[0] if len(flat) == 1 else xp.concat(flat)


def _unflatten(xp: Any, flat: Any, shapes: list[tuple[int, ...]]) -> list[Any]:
    """The arrays of ``shapes`` that :func:`_flatten` packed into ``flat`` (views where possible)."""
    arrays, start = [], 0
    for shape in shapes:
        stop = start + int(np.prod(shape, dtype=np.int64))
        arrays.append(xp.reshape(flat[start:stop], shape))
        start = stop
    return arrays


def _by_backend_and_dtype(tensors: Iterable[Tensor]) -> dict[tuple[Backend, Any], list[Tensor]]:
    """Tensors grouped so that each group packs into one buffer (one collective each)."""
    groups: dict[tuple[Backend, Any], list[Tensor]] = {}
    for tensor in tensors:
        groups.setdefault((tensor._backend, tensor.dtype), []).append(tensor)
    return groups


def _check_root(caller: str, group: _ProcessGroup, root: int) -> None:
    if isinstance(root, bool) or not isinstance(root, int) or not 0 <= root < group.world_size:
        raise ValueError(f"{caller}: root must be a rank in [0, {group.world_size}), got {root!r}")


# --- collectives on tensors ------------------------------------------------------------------------
def broadcast_parameters(model: Module | Iterable[Tensor], root: int = 0, *, transport: str | None = None) -> None:
    """Give every rank rank ``root``'s values of a model's parameters and buffers (or of the
    given tensors), so that all ranks start training from the same weights.

    All tensors of one backend and dtype travel in one buffer. The tensors' ``data`` is
    replaced on the other ranks (never written in place); optimizers holding them still work.
    """
    group = _group("broadcast_parameters")
    _check_root("broadcast_parameters", group, root)
    if isinstance(model, Module):
        tensors = list(model.parameters()) + list(model.buffers())
    else:
        tensors = list(model)
        for i, tensor in enumerate(tensors):
            if not isinstance(tensor, Tensor):
                raise TypeError(f"broadcast_parameters: expected a Module or anygrad Tensors, item {i} is a "
                                f"{type(tensor).__name__}")
    for (backend, _), members in _by_backend_and_dtype(tensors).items():
        chosen = select_transport(backend, transport)
        flat = _broadcast_flat(group, backend, chosen, _flatten(backend.xp, [t.data for t in members]), root)
        if group.rank != root:
            for tensor, array in zip(members, _unflatten(backend.xp, flat, [t.shape for t in members]), strict=True):
                tensor.data = array


def all_reduce(tensor: Tensor, op: str = "sum", *, transport: str | None = None) -> Tensor:
    """The element-wise ``"sum"`` or ``"mean"`` of ``tensor`` over all ranks, as a new Tensor
    (unlike ``torch.distributed.all_reduce``, the input is left as it is). For metrics,
    e.g. the summed correct-prediction counts of each rank's share of the test set."""
    group = _group("all_reduce")
    if not isinstance(tensor, Tensor):
        raise TypeError(f"all_reduce: expected an anygrad Tensor, got {type(tensor).__name__}")
    if op not in ("sum", "mean"):
        raise ValueError(f"all_reduce: op must be 'sum' or 'mean', got {op!r}")
    backend, xp = tensor._backend, tensor.xp
    if op == "mean" and not xp.isdtype(tensor.dtype, "real floating"):
        raise TypeError(f"all_reduce: op='mean' needs a floating-point tensor, got dtype {tensor.dtype}")
    total = _sum_over_ranks(group, backend, select_transport(backend, transport), _flatten(xp, [tensor.data]))
    if op == "mean":
        total = total / group.world_size
    return Tensor._wrap(xp.reshape(total, tensor.shape), backend, None)


class DistributedDataParallel(Module):
    """A model whose gradients are averaged over all ranks by :meth:`all_reduce_gradients`.

    At construction it checks that every rank holds the same parameter shapes and dtypes
    and (with ``broadcast=True``) gives every rank rank ``root``'s weights. Calling it calls
    the wrapped model; ``ddp.module`` is the model itself (save ``ddp.module.state_dict()``
    to get the keys of the plain model; ``ddp.state_dict()`` has them under ``module.``,
    as in PyTorch).

    After ``loss.backward()``, :meth:`all_reduce_gradients` packs the gradients of all
    parameters that require grad into one contiguous buffer per backend and dtype (one
    buffer for a usual model), reduces it with ONE collective, divides by the world size
    and unpacks it into each ``.grad``. A parameter without a gradient on a rank counts as
    a zero gradient there, so every rank sends the same layout; freeze parameters with
    ``requires_grad_(False)`` (on every rank) to leave them out.

    The average equals the gradient of the loss averaged over the combined batch when
    every rank's batch has the same size, which :func:`shard_dataset` ensures.

    Timing, for benchmarks: ``last_allreduce_seconds`` is the wall time of the latest
    :meth:`all_reduce_gradients` (packing, the collective, unpacking),
    ``total_allreduce_seconds`` and ``allreduce_steps`` sum over calls (``reset_timer()``
    zeroes them), ``collectives`` counts the collectives issued. NCCL runs asynchronously
    on its stream: pass ``synchronize_timer=True`` to wait for the device before and after,
    so the time covers the reduction itself (this costs two host syncs per step).
    """

    def __init__(self, module: Module, *, root: int = 0, broadcast: bool = True, transport: str | None = None,
                 synchronize_timer: bool = False) -> None:
        group = _group("DistributedDataParallel")
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: expected an anygrad.nn.Module, got {type(module).__name__}")
        _check_root("DistributedDataParallel", group, root)
        if transport is not None and transport not in TRANSPORTS:
            raise ValueError(f"DistributedDataParallel: unknown transport {transport!r}; choose one of "
                             f"{', '.join(TRANSPORTS)} (or None)")
        super().__init__()
        self.module = module
        self.transport = transport
        self.synchronize_timer = bool(synchronize_timer)
        self.last_allreduce_seconds = 0.0
        self.total_allreduce_seconds = 0.0
        self.allreduce_steps = 0
        self.collectives = 0
        _check_same_parameters(group, module)
        if broadcast:
            broadcast_parameters(module, root, transport=transport)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Call the wrapped model."""
        return self.module(*args, **kwargs)

    def all_reduce_gradients(self) -> None:
        """Replace every trainable parameter's gradient with its average over all ranks.

        Call it on every rank after ``loss.backward()`` and before ``optimizer.step()``
        (and before any gradient clipping, so that clipping sees the averaged gradient).
        """
        group = _group("DistributedDataParallel.all_reduce_gradients")
        params = [p for p in self.module.parameters() if p.requires_grad]
        if not any(p.grad is not None for p in params):
            raise RuntimeError("DistributedDataParallel.all_reduce_gradients: no parameter has a gradient on rank "
                               f"{group.rank}; call loss.backward() first")
        buckets = _by_backend_and_dtype(params)
        if self.synchronize_timer:
            for backend, _ in buckets:
                backend.synchronize()
        start = time.perf_counter()
        for (backend, dtype), members in buckets.items():
            xp = backend.xp
            grads = [p.grad if p.grad is not None else xp.zeros(p.shape, dtype=dtype, device=backend.device)
                     for p in members]
            total = _sum_over_ranks(group, backend, select_transport(backend, self.transport), _flatten(xp, grads))
            self.collectives += 1
            # Dividing by an int keeps the dtype, and one rank gets its own gradient back bit for bit.
            average = total / group.world_size
            for p, grad in zip(members, _unflatten(xp, average, [p.shape for p in members]), strict=True):
                p.grad = grad
        if self.synchronize_timer:
            for backend, _ in buckets:
                backend.synchronize()
        self.last_allreduce_seconds = time.perf_counter() - start
        self.total_allreduce_seconds += self.last_allreduce_seconds
        self.allreduce_steps += 1

    @property
    def mean_allreduce_seconds(self) -> float:
        """The average time of :meth:`all_reduce_gradients` since the last ``reset_timer()``."""
        return self.total_allreduce_seconds / self.allreduce_steps if self.allreduce_steps else 0.0

    def reset_timer(self) -> None:
        """Zero the accumulated allreduce time and counts (e.g. after warm-up steps)."""
        self.last_allreduce_seconds = 0.0
        self.total_allreduce_seconds = 0.0
        self.allreduce_steps = 0
        self.collectives = 0

    def extra_repr(self) -> str:
        return f"rank={get_rank()}, world_size={get_world_size()}, transport={self.transport or 'auto'}"


def _check_same_parameters(group: _ProcessGroup, module: Module) -> None:
    """Raise on every rank if the ranks' models differ in parameter names, shapes or dtypes
    (their gradient buffers would not line up)."""
    layout = [(name, p.shape, str(p.dtype).rsplit(".", 1)[-1], p.requires_grad)
              for name, p in module.named_parameters()]
    layouts = group.comm.allgather(layout)  # once per model: the pickling cost does not matter
    for rank, other in enumerate(layouts):
        if other != layouts[0]:
            differences = [f"{a} vs {b}" for a, b in zip(layouts[0], other, strict=False) if a != b]
            if len(other) != len(layouts[0]):
                differences.append(f"{len(layouts[0])} vs {len(other)} parameters")
            raise ValueError(
                f"DistributedDataParallel: rank {rank}'s model differs from rank 0's (name, shape, dtype, "
                f"requires_grad): {'; '.join(differences[:5])}"
            )


# --- sharding data ------------------------------------------------------------------------------------
def shard_indices(num_samples: int, rank: int | None = None, world_size: int | None = None, *,
                  drop_last: bool = False) -> np.ndarray:
    """The sample indices rank ``rank`` of ``world_size`` trains on (int64, default: this process's).

    Samples are dealt out in turn: rank ``r`` gets ``r, r + N, r + 2N, ...``. Every rank gets
    the same number of samples, so all ranks run the same number of steps: when
    ``num_samples`` is not a multiple of ``N``, the last round is completed by wrapping
    around to the first samples (``drop_last=False``, PyTorch's DistributedSampler policy:
    a few samples are seen twice per epoch) or left out (``drop_last=True``).

    Dealing in turn keeps one-process semantics: with per-rank batch ``b`` and no
    shuffling, the ranks' ``k``-th batches together are exactly samples ``k*N*b`` ..
    ``(k+1)*N*b - 1`` of the (padded) data set, one process's ``k``-th batch of size ``N*b``.
    """
    rank = get_rank() if rank is None else rank
    world_size = get_world_size() if world_size is None else world_size
    for name, value in (("num_samples", num_samples), ("rank", rank), ("world_size", world_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"shard_indices: {name} must be an int, got {type(value).__name__} {value!r}")
    if num_samples < 0 or world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"shard_indices: need num_samples >= 0, world_size >= 1 and 0 <= rank < world_size, got "
                         f"num_samples={num_samples}, rank={rank}, world_size={world_size}")
    per_rank = num_samples // world_size if drop_last else -(-num_samples // world_size)
    positions = np.arange(rank, per_rank * world_size, world_size, dtype=np.int64)
    return positions % num_samples if num_samples else positions


def shard_dataset(dataset: TensorDataset, rank: int | None = None, world_size: int | None = None, *,
                  drop_last: bool = False) -> TensorDataset:
    """This rank's share of ``dataset`` (see :func:`shard_indices` for which samples and
    the uneven-size policy), copied once on the dataset's backend and device.

    Feed it to :class:`anygrad.data.DataLoader` as usual. Shards have equal lengths, so
    with the same ``seed`` (or the same :func:`anygrad.manual_seed` before the loader is
    made) every rank's loader draws the same permutation each epoch, and every rank runs
    the same number of steps (a rank with one step more would wait forever in its
    allreduce). With one rank the dataset itself is returned.

    Unlike PyTorch's DistributedSampler, which deals a new global permutation each epoch,
    a rank keeps its shard for the whole run and its loader reshuffles within it. Dealing
    in turn still gives each rank an even spread of a data set stored in order (say,
    sorted by class). Shard a host dataset before moving it (``shard_dataset(train).to(...)``)
    to copy only this rank's share to the device.
    """
    if not isinstance(dataset, TensorDataset):
        raise TypeError(f"shard_dataset: expected an anygrad.data.TensorDataset, got {type(dataset).__name__}")
    world_size = get_world_size() if world_size is None else world_size
    index = shard_indices(len(dataset), rank, world_size, drop_last=drop_last)
    if len(index) == len(dataset) and world_size == 1:
        return dataset
    if len(index) == 0:
        raise ValueError(f"shard_dataset: {len(dataset)} samples cannot give each of {world_size} ranks at least one "
                         f"with drop_last={drop_last}")
    backend = dataset.backend
    on_backend = backend.from_host(index)
    return TensorDataset(*(backend.xp.take(array, on_backend, axis=0) for array in dataset.arrays))
