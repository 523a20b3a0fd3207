"""anygrad.distributed: gradient averaging, broadcasting, sharding and transports.

Two kinds of tests. In-process ones run on every backend of the matrix with a stand-in
communicator (``PeerComm``: the other ranks' buffers are known multiples of this one's), so
they need no MPI and check packing, averaging and device placement everywhere. The others
start real jobs with ``mpiexec -n N python -m mpi4py tests/dist_scripts/train.py`` and
compare the ranks' final weights with one process training on the combined batches; they
are skipped when mpi4py or mpiexec is missing (``pip install 'anygrad[dist]'``).
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from mpi_jobs import needs_mpi, run_job

import anygrad
from anygrad import distributed as dist
from anygrad.backend import backend_of_array
from anygrad.data import DataLoader, TensorDataset

SCRIPTS = Path(__file__).parent / "dist_scripts"
_spec = importlib.util.spec_from_file_location("dist_common", SCRIPTS / "common.py")
common = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(common)


# --- an in-process stand-in for an MPI communicator -----------------------------------------------
class PeerComm:
    """This process is ``rank`` of ``size``; each other rank's buffer is ``peer_factor`` times
    this one's in a sum, and a broadcast from another rank delivers ``root_value`` everywhere."""

    def __init__(self, rank: int = 0, size: int = 2, peer_factor: float = 3.0, root_value: float = 0.5,
                 peer_layout: list | None = None) -> None:
        self.rank, self.size = rank, size
        self.peer_factor, self.root_value, self.peer_layout = peer_factor, root_value, peer_layout
        self.calls: list[tuple[str, int]] = []  # (collective, elements)

    def Get_rank(self) -> int:
        return self.rank

    def Get_size(self) -> int:
        return self.size

    def Split_type(self, kind: str) -> PeerComm:
        return self

    def Free(self) -> None:
        pass

    def Allreduce(self, send: np.ndarray, recv: np.ndarray, op: str) -> None:
        assert isinstance(send, np.ndarray) and isinstance(recv, np.ndarray) and op == "sum"
        assert send.ndim == 1 and send.flags.c_contiguous and recv.flags.writeable
        self.calls.append(("Allreduce", send.size))
        recv[...] = send * (1 + self.peer_factor * (self.size - 1))

    def Bcast(self, buffer: np.ndarray, root: int) -> None:
        assert isinstance(buffer, np.ndarray) and buffer.flags.writeable
        self.calls.append(("Bcast", buffer.size))
        if root != self.rank:
            buffer[...] = self.root_value

    def Abort(self, code: int) -> None:
        self.calls.append(("Abort", code))

    def allgather(self, obj: object) -> list:
        others = obj if self.peer_layout is None else self.peer_layout
        return [obj if rank == self.rank else others for rank in range(self.size)]


FAKE_MPI = types.SimpleNamespace(SUM="sum", COMM_TYPE_SHARED="shared")


@pytest.fixture
def fake_group(monkeypatch):
    """Make a PeerComm the process group for one test; returns the communicator."""

    def install(**options) -> PeerComm:
        comm = PeerComm(**options)
        monkeypatch.setattr(dist, "_GROUP", dist._ProcessGroup(FAKE_MPI, comm, cuda_aware_mpi=False))
        return comm

    return install


def small_model(dtype: str = "float64") -> anygrad.nn.Module:
    return anygrad.nn.MLP(4, [5], 3, activation="tanh", dtype=dtype)


def backward_on_random_batch(model: anygrad.nn.Module, dtype: str = "float64") -> None:
    rng = np.random.default_rng(0)
    x = anygrad.tensor(rng.standard_normal((6, 4)), dtype=dtype)
    y = anygrad.tensor(rng.integers(0, 3, size=6))
    anygrad.nn.functional.cross_entropy(model(x), y).backward()


# --- before init ------------------------------------------------------------------------------------
def test_before_init_this_process_is_rank_0_of_1_and_collectives_ask_for_init(monkeypatch):
    monkeypatch.setattr(dist, "_GROUP", None)
    assert not dist.is_initialized()
    assert (dist.get_rank(), dist.get_world_size(), dist.get_local_rank(), dist.is_main_process()) == (0, 1, 0, True)
    model = small_model()
    with pytest.raises(RuntimeError, match=r"DistributedDataParallel: call anygrad.distributed.init\(\) first"):
        dist.DistributedDataParallel(model)
    with pytest.raises(RuntimeError, match=r"broadcast_parameters: call anygrad.distributed.init\(\) first"):
        dist.broadcast_parameters(model)
    with pytest.raises(RuntimeError, match=r"all_reduce: call anygrad.distributed.init\(\) first"):
        dist.all_reduce(anygrad.ones(3))


@pytest.fixture
def fake_mpi4py(monkeypatch):
    """A stand-in ``mpi4py`` package whose COMM_WORLD is a PeerComm of 2 ranks; sys.excepthook
    and the process group are restored after the test."""
    world = PeerComm(rank=1, size=2)
    fake_module = types.ModuleType("mpi4py")
    fake_module.MPI = types.SimpleNamespace(COMM_WORLD=world, **vars(FAKE_MPI))
    monkeypatch.setitem(sys.modules, "mpi4py", fake_module)
    monkeypatch.setattr(dist, "_GROUP", None)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    return world


def test_init_makes_comm_world_the_process_group(fake_mpi4py):
    dist.init()
    assert dist.is_initialized()
    assert (dist.get_rank(), dist.get_world_size(), dist.get_local_rank(), dist.is_main_process()) == (1, 2, 1, False)
    dist.init()  # again, with the same settings: nothing changes
    with pytest.raises(RuntimeError, match="init was already called with a different communicator or cuda_aware_mpi"):
        dist.init(cuda_aware_mpi=True)


class RecordedStream:
    """A text stream that appends each write and flush to ``events``."""

    def __init__(self, events: list) -> None:
        self.events = events

    def write(self, text: str) -> int:
        self.events.append(("write", text))
        return len(text)

    def flush(self) -> None:
        self.events.append(("flush",))


def test_init_makes_an_uncaught_exception_abort_every_rank_once_its_traceback_is_out(fake_mpi4py, monkeypatch):
    # MPICH's launcher drops output it has not yet read when the abort reaches it: the whole
    # traceback goes out in one write, flushed, and the launcher gets a moment before the abort.
    events = fake_mpi4py.calls
    monkeypatch.setattr(sys, "stderr", RecordedStream(events))
    monkeypatch.setattr(dist.time, "sleep", lambda seconds: events.append(("sleep", seconds)))
    dist.init()
    try:
        raise RuntimeError("rank 1 failed")
    except RuntimeError as error:
        sys.excepthook(type(error), error, error.__traceback__)
    writes = [event for event in events if event[0] == "write"]
    assert len(writes) == 1
    assert writes[0][1].startswith("Traceback (most recent call last):")
    assert writes[0][1].endswith("RuntimeError: rank 1 failed\n")
    assert events[events.index(writes[0]) + 1:] == [("flush",), ("sleep", dist._SECONDS_FOR_THE_LAUNCHER_TO_READ_OUTPUT),
                                                    ("Abort", 1)]


def test_init_without_abort_on_exception_leaves_the_excepthook_alone(fake_mpi4py):
    hook = sys.excepthook
    dist.init(abort_on_exception=False)
    assert sys.excepthook is hook


def test_init_without_mpi4py_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    monkeypatch.setattr(dist, "_GROUP", None)
    with pytest.raises(ImportError, match=r"needs mpi4py and an MPI library: pip install 'anygrad\[dist\]'"):
        dist.init()


# --- gradient averaging, in process on every backend -------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_all_reduce_gradients_averages_every_gradient_with_one_collective(backend, fake_group, dtype):
    comm = fake_group(size=2, peer_factor=3.0)  # the other rank's gradients are 3x ours: the mean is 2x
    model = small_model(dtype)
    ddp = dist.DistributedDataParallel(model)
    backward_on_random_batch(ddp, dtype)
    local = {name: anygrad.to_numpy(p.grad) for name, p in model.named_parameters()}
    comm.calls.clear()

    ddp.all_reduce_gradients()

    assert comm.calls == [("Allreduce", sum(p.size for p in model.parameters()))]
    for name, p in model.named_parameters():
        assert backend_of_array(p.grad) is backend, name
        assert p.grad.dtype == p.dtype and tuple(p.grad.shape) == p.shape
        np.testing.assert_array_equal(anygrad.to_numpy(p.grad), 2 * local[name], err_msg=name)
    assert (ddp.allreduce_steps, ddp.collectives) == (1, 1)


def test_one_rank_gets_its_own_gradients_back_bit_for_bit(backend, fake_group):
    fake_group(size=1)
    model = small_model("float32")
    ddp = dist.DistributedDataParallel(model)
    backward_on_random_batch(ddp, "float32")
    local = {name: anygrad.to_numpy(p.grad) for name, p in model.named_parameters()}
    ddp.all_reduce_gradients()
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(anygrad.to_numpy(p.grad), local[name], err_msg=name)


class TwoHeads(anygrad.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.used = anygrad.nn.Linear(4, 3, dtype="float64")
        self.unused = anygrad.nn.Linear(4, 2, dtype="float64")

    def forward(self, x: anygrad.Tensor) -> anygrad.Tensor:
        return self.used(x)


def test_a_parameter_without_a_gradient_counts_as_a_zero_gradient(backend, fake_group):
    fake_group(size=2)
    model = TwoHeads()
    ddp = dist.DistributedDataParallel(model)
    backward_on_random_batch(ddp)
    assert model.unused.weight.grad is None
    ddp.all_reduce_gradients()
    for p in model.unused.parameters():
        assert backend_of_array(p.grad) is backend and p.grad.dtype == p.dtype
        np.testing.assert_array_equal(anygrad.to_numpy(p.grad), np.zeros(p.shape))


def test_frozen_parameters_are_left_out_of_the_buffer(backend, fake_group):
    comm = fake_group(size=2)
    model = TwoHeads()
    model.unused.requires_grad_(False)
    ddp = dist.DistributedDataParallel(model)
    backward_on_random_batch(ddp)
    comm.calls.clear()
    ddp.all_reduce_gradients()
    assert comm.calls == [("Allreduce", 4 * 3 + 3)]
    assert model.unused.weight.grad is None and model.unused.bias.grad is None


def test_parameters_of_two_dtypes_travel_in_one_buffer_per_dtype(fake_group):
    comm = fake_group(size=2)
    model = TwoHeads()
    model.unused.float()
    ddp = dist.DistributedDataParallel(model)
    x = anygrad.tensor(np.ones((2, 4)))
    (ddp(x).sum() + model.unused(x.astype("float32")).sum()).backward()
    comm.calls.clear()
    ddp.all_reduce_gradients()
    assert sorted(comm.calls) == [("Allreduce", 4 * 2 + 2), ("Allreduce", 4 * 3 + 3)]
    assert ddp.collectives == 2


def test_all_reduce_gradients_before_backward_is_an_error(fake_group):
    fake_group(size=2)
    ddp = dist.DistributedDataParallel(small_model())
    with pytest.raises(RuntimeError, match=r"no parameter has a gradient on rank 0; call loss.backward\(\) first"):
        ddp.all_reduce_gradients()


def test_ddp_calls_the_wrapped_model_and_prefixes_state_dict_keys_like_pytorch(fake_group):
    fake_group(size=2)
    model = small_model()
    ddp = dist.DistributedDataParallel(model, broadcast=False)
    x = anygrad.tensor(np.ones((2, 4)))
    np.testing.assert_array_equal(ddp(x).numpy(), model(x).numpy())
    assert list(ddp.state_dict()) == [f"module.{key}" for key in model.state_dict()]
    assert [id(p) for p in ddp.parameters()] == [id(p) for p in model.parameters()]
    assert "world_size=2" in repr(ddp)


def test_ddp_refuses_models_that_differ_between_ranks(fake_group):
    other_layout = [("0.weight", (5, 4), "float64", True)]
    fake_group(size=2, peer_layout=other_layout)
    with pytest.raises(ValueError, match=r"rank 1's model differs from rank 0's .*4 vs 1 parameters"):
        dist.DistributedDataParallel(small_model())


def test_ddp_checks_its_arguments(fake_group):
    fake_group(size=2)
    with pytest.raises(TypeError, match="DistributedDataParallel: expected an anygrad.nn.Module, got list"):
        dist.DistributedDataParallel([])
    with pytest.raises(ValueError, match=r"DistributedDataParallel: root must be a rank in \[0, 2\), got 2"):
        dist.DistributedDataParallel(small_model(), root=2)
    with pytest.raises(ValueError, match="DistributedDataParallel: unknown transport 'gloo'"):
        dist.DistributedDataParallel(small_model(), transport="gloo")


# --- broadcast and all_reduce, in process ------------------------------------------------------------
def test_broadcast_parameters_replaces_this_ranks_values_with_the_roots(backend, fake_group):
    comm = fake_group(rank=1, size=2, root_value=0.5)
    model = small_model("float32")
    params = list(model.parameters())
    dist.broadcast_parameters(model, root=0)
    assert comm.calls == [("Bcast", sum(p.size for p in params))]
    assert list(model.parameters()) == params  # the same Parameter objects: optimizers keep working
    for p in params:
        assert backend_of_array(p.data) is backend and p.dtype == backend.dtype("float32")
        np.testing.assert_array_equal(p.numpy(), np.full(p.shape, 0.5, dtype=np.float32))


def test_broadcast_parameters_leaves_the_roots_values_alone(backend, fake_group):
    fake_group(rank=0, size=2, root_value=0.5)
    model = small_model()
    before = [p.numpy().copy() for p in model.parameters()]
    dist.broadcast_parameters(list(model.parameters()), root=0)
    for p, old in zip(model.parameters(), before, strict=True):
        np.testing.assert_array_equal(p.numpy(), old)


def test_broadcast_parameters_checks_its_arguments(fake_group):
    fake_group(size=2)
    with pytest.raises(ValueError, match=r"broadcast_parameters: root must be a rank in \[0, 2\), got -1"):
        dist.broadcast_parameters(small_model(), root=-1)
    with pytest.raises(TypeError, match="broadcast_parameters: expected a Module or anygrad Tensors, item 0 is a "
                                        "ndarray"):
        dist.broadcast_parameters([np.ones(3)])


def test_all_reduce_sums_or_averages_a_tensor_over_ranks(backend, fake_group):
    fake_group(size=3, peer_factor=1.0)  # three equal contributions
    value = anygrad.tensor([[1.0, 2.0], [3.0, 4.0]], dtype="float32")
    total = dist.all_reduce(value)
    mean = dist.all_reduce(value, op="mean")
    assert backend_of_array(total.data) is backend and total.shape == (2, 2) and total.dtype == value.dtype
    np.testing.assert_array_equal(total.numpy(), 3 * value.numpy())
    np.testing.assert_array_equal(mean.numpy(), value.numpy())
    np.testing.assert_array_equal(value.numpy(), [[1.0, 2.0], [3.0, 4.0]])  # the input is left alone
    counts = dist.all_reduce(anygrad.tensor([4, 5]))
    np.testing.assert_array_equal(counts.numpy(), [12, 15])


def test_all_reduce_checks_its_arguments(fake_group):
    fake_group(size=2)
    with pytest.raises(ValueError, match="all_reduce: op must be 'sum' or 'mean', got 'max'"):
        dist.all_reduce(anygrad.ones(2), op="max")
    with pytest.raises(TypeError, match="all_reduce: op='mean' needs a floating-point tensor"):
        dist.all_reduce(anygrad.tensor([1, 2]), op="mean")
    with pytest.raises(TypeError, match="all_reduce: expected an anygrad Tensor, got ndarray"):
        dist.all_reduce(np.ones(2))


# --- transport selection ------------------------------------------------------------------------------
def fake_backend(name: str, is_host: bool, device_type: str = "cpu") -> types.SimpleNamespace:
    device = types.SimpleNamespace(type=device_type)
    return types.SimpleNamespace(name=name, is_host=is_host, device=device, label=f"{name}:{device_type}")


@pytest.mark.parametrize("name", ["numpy", "torch", "jax", "array_api_strict"])
@pytest.mark.parametrize("cuda_aware", [False, True])
def test_host_arrays_go_to_mpi(name, cuda_aware):
    assert dist.select_transport(fake_backend(name, True), cuda_aware_mpi=cuda_aware) == "mpi"


@pytest.mark.parametrize(("has_nccl", "cuda_aware", "expected"), [
    (True, False, "nccl"), (True, True, "nccl"), (False, True, "cuda-aware-mpi"), (False, False, "host-staging"),
])
def test_cupy_arrays_prefer_nccl_then_a_declared_cuda_aware_mpi_then_host_staging(monkeypatch, has_nccl, cuda_aware,
                                                                                 expected):
    monkeypatch.setattr(dist, "_nccl_available", lambda: has_nccl)
    assert dist.select_transport(fake_backend("cupy", False, "cuda"), cuda_aware_mpi=cuda_aware) == expected


@pytest.mark.parametrize(("name", "device_type", "cuda_aware", "expected"), [
    ("torch", "cuda", False, "host-staging"),
    ("torch", "cuda", True, "cuda-aware-mpi"),
    ("jax", "gpu", True, "host-staging"),  # mpi4py is not handed JAX device buffers
    ("array_api_strict", "device1", True, "host-staging"),
])
def test_other_device_arrays_are_staged_through_the_host_unless_mpi_can_read_them(name, device_type, cuda_aware,
                                                                                    expected):
    assert dist.select_transport(fake_backend(name, False, device_type), cuda_aware_mpi=cuda_aware) == expected


def test_the_backend_under_test_gets_mpi_on_the_host_and_host_staging_on_a_device(backend):
    assert dist.select_transport(backend) == ("mpi" if backend.is_host else "host-staging")


def test_the_default_cuda_aware_setting_is_what_init_declared(monkeypatch):
    torch_cuda = fake_backend("torch", False, "cuda")
    group = dist._ProcessGroup(FAKE_MPI, PeerComm(), cuda_aware_mpi=True)
    monkeypatch.setattr(dist, "_GROUP", group)
    assert dist.select_transport(torch_cuda) == "cuda-aware-mpi"
    group.cuda_aware_mpi = False
    assert dist.select_transport(torch_cuda) == "host-staging"


def test_device_arrays_never_go_to_plain_mpi():
    with pytest.raises(ValueError, match="transport 'mpi' hands arrays to MPI as host memory, but these live on "
                                         "torch:cuda; use 'host-staging'"):
        dist.select_transport(fake_backend("torch", False, "cuda"), "mpi")


def test_explicit_transports_are_checked(monkeypatch):
    monkeypatch.setattr(dist, "_nccl_available", lambda: True)
    numpy_cpu = fake_backend("numpy", True)
    cupy_gpu = fake_backend("cupy", False, "cuda")
    with pytest.raises(ValueError, match="transport 'nccl' needs CuPy arrays .* got arrays on numpy:cpu"):
        dist.select_transport(numpy_cpu, "nccl")
    with pytest.raises(ValueError, match=r"needs a CUDA-aware MPI declared with .*init\(cuda_aware_mpi=True\)"):
        dist.select_transport(cupy_gpu, "cuda-aware-mpi", cuda_aware_mpi=False)
    with pytest.raises(ValueError, match="'cuda-aware-mpi' takes CuPy or PyTorch CUDA arrays, got arrays on numpy:cpu"):
        dist.select_transport(numpy_cpu, "cuda-aware-mpi", cuda_aware_mpi=True)
    with pytest.raises(ValueError, match="unknown transport 'gloo'"):
        dist.select_transport(numpy_cpu, "gloo")
    assert dist.select_transport(numpy_cpu, "host-staging") == "host-staging"
    assert dist.select_transport(cupy_gpu, "host-staging") == "host-staging"
    assert dist.select_transport(cupy_gpu, "cuda-aware-mpi", cuda_aware_mpi=True) == "cuda-aware-mpi"
    monkeypatch.setattr(dist, "_nccl_available", lambda: False)
    with pytest.raises(ValueError, match="transport 'nccl' needs .* got arrays on cupy:cuda and no NCCL in CuPy"):
        dist.select_transport(cupy_gpu, "nccl")


# --- sharding -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("samples", "world_size", "drop_last", "expected"), [
    (6, 2, False, [[0, 2, 4], [1, 3, 5]]),
    (7, 3, False, [[0, 3, 6], [1, 4, 0], [2, 5, 1]]),  # padded by wrapping to the first samples
    (7, 3, True, [[0, 3], [1, 4], [2, 5]]),  # the last round left out
    (2, 3, False, [[0], [1], [0]]),
    (2, 3, True, [[], [], []]),
    (5, 1, False, [[0, 1, 2, 3, 4]]),
])
def test_shard_indices_deal_samples_in_turn_and_give_every_rank_as_many(samples, world_size, drop_last, expected):
    shards = [dist.shard_indices(samples, rank, world_size, drop_last=drop_last) for rank in range(world_size)]
    assert [shard.tolist() for shard in shards] == expected
    assert all(shard.dtype == np.int64 for shard in shards)


def test_shard_indices_checks_its_arguments():
    with pytest.raises(ValueError, match="shard_indices: need .* 0 <= rank < world_size, got num_samples=5, rank=2, "
                                         "world_size=2"):
        dist.shard_indices(5, 2, 2)
    with pytest.raises(TypeError, match="shard_indices: world_size must be an int, got float 2.0"):
        dist.shard_indices(5, 0, 2.0)


def test_shard_dataset_keeps_the_samples_of_the_shard_on_the_datasets_device(backend):
    images = np.arange(7 * 2, dtype=np.float32).reshape(7, 2)
    labels = np.arange(7, dtype=np.int64)
    dataset = TensorDataset(images, labels).to(backend)
    shard = dist.shard_dataset(dataset, rank=2, world_size=3)
    assert shard.backend is backend and len(shard) == 3
    shard_images, shard_labels = shard.numpy()
    np.testing.assert_array_equal(shard_labels, [2, 5, 1])
    np.testing.assert_array_equal(shard_images, images[[2, 5, 1]])


def test_shard_dataset_with_one_rank_is_the_dataset_and_too_few_samples_is_an_error():
    dataset = TensorDataset(np.zeros((2, 3)))
    assert dist.shard_dataset(dataset, rank=0, world_size=1) is dataset
    with pytest.raises(ValueError, match="shard_dataset: 2 samples cannot give each of 3 ranks at least one"):
        dist.shard_dataset(dataset, rank=0, world_size=3, drop_last=True)
    with pytest.raises(TypeError, match="shard_dataset: expected an anygrad.data.TensorDataset, got ndarray"):
        dist.shard_dataset(np.zeros((2, 3)), rank=0, world_size=1)


def indexed_dataset(samples: int) -> TensorDataset:
    """Sample i's only feature is i, so batches show which samples they hold."""
    return TensorDataset(np.arange(samples, dtype=np.float64)[:, None])


@pytest.mark.parametrize("world_size", [2, 3])
def test_unshuffled_shards_batch_together_into_the_one_process_batches(world_size):
    samples, batch_size = 23, 3
    loaders = [DataLoader(dist.shard_dataset(indexed_dataset(samples), rank, world_size), batch_size=batch_size)
               for rank in range(world_size)]
    padded = -(-samples // world_size) * world_size
    one_process = DataLoader(TensorDataset(np.arange(padded, dtype=np.float64)[:, None] % samples),
                             batch_size=world_size * batch_size)
    combined = [sorted(np.concatenate([batch.numpy()[:, 0] for (batch,) in step]).tolist())
                for step in zip(*loaders, strict=True)]
    assert combined == [sorted(batch.numpy()[:, 0].tolist()) for (batch,) in one_process]


def test_shuffled_shard_loaders_with_one_seed_draw_the_same_permutation_on_every_rank():
    samples, world_size = 23, 3
    loaders = [DataLoader(dist.shard_dataset(indexed_dataset(samples), rank, world_size), batch_size=4, shuffle=True,
                          seed=5) for rank in range(world_size)]
    for _ in range(2):  # two epochs: a new permutation each, the same on every rank
        epoch = [np.concatenate([batch.numpy()[:, 0] for (batch,) in loader]) for loader in loaders]
        shard_positions = [(np.where(indices >= rank, indices - rank, indices + samples - rank)) // world_size
                           for rank, indices in enumerate(epoch)]
        for positions in shard_positions[1:]:
            np.testing.assert_array_equal(positions, shard_positions[0])
        assert set(np.concatenate(epoch).astype(int).tolist()) == set(range(samples))
    assert len({len(loader) for loader in loaders}) == 1


# --- real MPI jobs -------------------------------------------------------------------------------------------
def launch(ranks: int, script_args: list[str], with_mpi4py_module: bool = True, timeout: float = 120.0
           ) -> tuple[int, str, float]:
    """Run ``mpiexec -n ranks python [-m mpi4py] script_args``; returns (exit code, output, seconds)."""
    python = [sys.executable, "-m", "mpi4py"] if with_mpi4py_module else [sys.executable]
    return run_job(["-n", str(ranks), *python, *script_args], timeout=timeout)


# name -> (ranks, worker options)
RUNS = {
    "numpy-float64-1-rank": (1, ["--shuffle"]),
    "numpy-float64-2-ranks-uneven": (2, ["--shuffle"]),
    "numpy-float64-3-ranks-uneven": (3, ["--shuffle"]),
    "numpy-float32-2-ranks-drop-last": (2, ["--dtype", "float32", "--drop-last"]),
    "torch-float32-2-ranks": (2, ["--backend", "torch", "--device", "cpu", "--dtype", "float32", "--shuffle"]),
    "strict-device1-host-staging-3-ranks": (3, ["--backend", "array_api_strict", "--device", "device1"]),
}


@pytest.fixture(scope="module")
def training_run(tmp_path_factory):
    """The per-rank results of a RUNS entry, each job started once per test module."""
    results: dict[str, list[dict[str, np.ndarray]]] = {}

    def run(name: str) -> list[dict[str, np.ndarray]]:
        if name not in results:
            ranks, options = RUNS[name]
            out = tmp_path_factory.mktemp(name)
            code, output, _ = launch(ranks, [str(SCRIPTS / "train.py"), "--out", str(out), "--world-size",
                                             str(ranks), *options])
            assert code == 0, output
            results[name] = [dict(np.load(out / f"rank{rank}.npz")) for rank in range(ranks)]
        return results[name]

    return run


def settings(name: str) -> dict:
    """The worker's settings for a RUNS entry (its defaults, then the options given)."""
    ranks, options = RUNS[name]
    found = {"world_size": ranks, "samples": 23, "batch_size": 3, "epochs": 2, "shuffle": "--shuffle" in options,
             "drop_last": "--drop-last" in options, "backend": "numpy", "device": None, "dtype": "float64"}
    for flag, value in zip(options, options[1:], strict=False):
        if flag in ("--backend", "--device", "--dtype"):
            found[flag[2:]] = value
    return found


def parameters(result: dict[str, np.ndarray], stage: str) -> dict[str, np.ndarray]:
    return {key.split("/", 1)[1]: value for key, value in result.items() if key.startswith(stage + "/")}


@needs_mpi
@pytest.mark.parametrize("name", [name for name, (ranks, _) in RUNS.items() if ranks > 1])
def test_every_rank_ends_with_identical_parameters(training_run, name):
    ranks = training_run(name)
    first = parameters(ranks[0], "final")
    for rank, result in enumerate(ranks[1:], start=1):
        for key, value in parameters(result, "final").items():
            np.testing.assert_array_equal(value, first[key], err_msg=f"rank {rank}, {key}")


@needs_mpi
@pytest.mark.parametrize("name", RUNS)
def test_data_parallel_training_equals_one_process_training_on_the_combined_batches(training_run, name):
    ranks = training_run(name)
    options = settings(name)
    reference = common.reference_training(**options)
    tolerance = 1e-12 if options["dtype"] == "float64" else 2e-5
    for key, expected in reference.items():
        np.testing.assert_allclose(parameters(ranks[0], "final")[key], expected, rtol=tolerance, atol=tolerance,
                                   err_msg=key)
    initial = parameters(ranks[0], "before")
    assert any(not np.allclose(expected, initial[key]) for key, expected in reference.items())  # it did train


@needs_mpi
@pytest.mark.parametrize("name", RUNS)
def test_all_ranks_take_the_same_steps_with_one_allreduce_each(training_run, name):
    options = settings(name)
    per_rank = options["samples"] // options["world_size"] if options["drop_last"] else \
        -(-options["samples"] // options["world_size"])
    steps = options["epochs"] * -(-per_rank // options["batch_size"])
    for result in training_run(name):
        assert int(result["count/world_size"]) == options["world_size"]
        assert int(result["count/shard_size"]) == per_rank
        assert int(result["count/steps"]) == int(result["count/allreduce_steps"]) == steps
        assert int(result["count/collectives"]) == steps
        assert float(result["time/mean_allreduce_seconds"]) > 0  # the timer the bench reads is running


@needs_mpi
def test_broadcast_at_construction_gives_every_rank_the_weights_rank_0_started_with(training_run):
    ranks = training_run("numpy-float64-3-ranks-uneven")
    root_initial = parameters(ranks[0], "before")
    for rank, result in enumerate(ranks):
        before, after = parameters(result, "before"), parameters(result, "broadcast")
        if rank > 0:  # each rank initialised its model with its own seed
            assert not np.allclose(before["0.weight"], root_initial["0.weight"])
        for key, value in after.items():
            np.testing.assert_array_equal(value, root_initial[key], err_msg=f"rank {rank}, {key}")


@needs_mpi
@pytest.mark.parametrize("with_mpi4py_module", [True, False], ids=["python-m-mpi4py", "python-with-init-excepthook"])
def test_a_crash_on_one_rank_ends_the_whole_job_with_a_nonzero_exit(tmp_path, with_mpi4py_module):
    # Rank 1 raises at its second step while ranks 0 and 2 wait in their allreduce: without an
    # MPI_Abort they would wait forever. The time bound detects a hang; it is not a speed test.
    code, output, seconds = launch(3, [str(SCRIPTS / "train.py"), "--out", str(tmp_path), "--world-size", "3",
                                       "--crash-rank", "1"], with_mpi4py_module=with_mpi4py_module)
    assert code != 0, output
    assert "RuntimeError: deliberate crash on rank 1" in output
    assert seconds < 60, output
    assert not list(tmp_path.glob("rank*.npz"))  # no rank finished training
