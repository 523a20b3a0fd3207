"""``anygrad train --distributed``: data-parallel training of the CLI's MLP over MPI.

Two kinds of tests. In-process ones run on every backend of the matrix with a stand-in
``mpi4py`` whose COMM_WORLD mirrors this process (every other rank holds the same values),
so a run as rank r of 2 trains exactly like one process on shard r: they check device
placement, the per-epoch loss reduction, that only rank 0 prints and writes, and the
command's abort on failure. The others start real jobs with ``mpiexec -n 2 python -m mpi4py
-m anygrad train --distributed ...`` and compare with one process training on the combined
batches; they are skipped when mpi4py or mpiexec is missing (``pip install 'anygrad[dist]'``).
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from mpi_jobs import needs_mpi, run_job

import anygrad
from anygrad import cli
from anygrad import distributed as dist
from anygrad.backend import Backend
from anygrad.data import DataLoader
from anygrad.training import (
    TrainConfig,
    evaluate,
    load_data,
    make_model,
    make_optimizer,
    make_scheduler,
    train,
    train_one_epoch,
)

# Small, quick, and without dropout: dropout masks differ between ranks and one process, so
# only a run without it can equal one-process training number for number. The shards of 95
# samples are padded to 48 each, and 48 = 4 * 10 + 8 ends each epoch with a short batch.
SETTINGS = dict(data="synthetic", limit=95, hidden=(16,), dropout=0.0, epochs=2, batch_size=10,
                optimizer="momentum", lr=0.05, schedule="cosine", seed=3, plots=False)
QUIET = dict(progress=False, verbose=False)


def device_argument(backend: Backend) -> str | None:
    """The ``device`` setting that names ``backend``'s device (JAX's default needs none)."""
    return None if backend.name in ("numpy", "jax") else backend.label.partition(":")[2]


# --- the reference: one process, the ranks' batches joined ----------------------------------------
class JoinedBatches:
    """A loader whose k-th batch joins the k-th batches of the given loaders: what one
    process training on the combined batch of all ranks sees at step k."""

    def __init__(self, loaders: list[DataLoader]) -> None:
        self.loaders = loaders
        self.backend = loaders[0].backend

    def __len__(self) -> int:
        return len(self.loaders[0])

    def __iter__(self):
        for batches in zip(*self.loaders, strict=True):
            yield tuple(anygrad.concat(*parts) for parts in zip(*batches, strict=True))


def one_process_training(settings: dict, ranks: list[int], world_size: int, backend: Backend | None = None
                         ) -> tuple[dict[str, np.ndarray], list[dict[str, float]]]:
    """Final weights and per-epoch losses of one process that trains rank 0's initial model
    on the joined batches of ``ranks`` (each shuffling its shard with the run's seed)."""
    config = TrainConfig(**settings)
    backend = backend or anygrad.get_backend("numpy")
    anygrad.manual_seed(config.seed)
    data = load_data(config)
    model = make_model(config, data.train.arrays[0].shape[1], data.classes, backend)
    optimizer = make_optimizer(config, model.parameters())
    scheduler = make_scheduler(config, optimizer)
    shards = [dist.shard_dataset(data.train, rank, world_size).to(backend) for rank in ranks]
    joined = JoinedBatches([DataLoader(shard, batch_size=config.batch_size, shuffle=True, seed=config.seed,
                                       backend=backend) for shard in shards])
    test_loader = DataLoader(data.test.to(backend), batch_size=config.eval_batch_size, backend=backend)
    history = []
    for _ in range(config.epochs):
        train_sum = float(train_one_epoch(model, joined, optimizer))
        evaluation = evaluate(model, test_loader)
        scheduler.step()
        history.append({"train_loss": train_sum / sum(len(shard) for shard in shards),
                        "test_loss": float(evaluation.loss_sum) / len(data.test),
                        "test_accuracy": int(evaluation.correct) / len(data.test)})
    return {name: value.numpy() for name, value in model.state_dict().items()}, history


def assert_same_training(metrics: dict, weights: dict[str, np.ndarray], expected: tuple) -> None:
    expected_weights, expected_history = expected
    assert sorted(weights) == sorted(expected_weights)
    for name, value in expected_weights.items():
        np.testing.assert_allclose(weights[name], value, rtol=1e-5, atol=1e-6, err_msg=name)
    for key in ("train_loss", "test_loss", "test_accuracy"):
        np.testing.assert_allclose(metrics[key], [record[key] for record in expected_history], rtol=1e-5,
                                   err_msg=key)


# --- in process: a stand-in MPI whose other ranks mirror this one ------------------------------------
class MirrorComm:
    """COMM_WORLD of a job of ``size`` ranks, seen from rank ``rank``, where every other rank
    holds exactly this rank's values: sums are ``size`` times ours, broadcasts change nothing."""

    def __init__(self, rank: int, size: int) -> None:
        self.rank, self.size = rank, size
        self.calls: list[tuple[str, int]] = []  # (what, elements or exit code)

    def Get_rank(self) -> int:
        return self.rank

    def Get_size(self) -> int:
        return self.size

    def Split_type(self, kind: str) -> MirrorComm:
        return self

    def Free(self) -> None:
        pass

    def Allreduce(self, send: np.ndarray, recv: np.ndarray, op: str) -> None:
        assert isinstance(send, np.ndarray) and op == "sum"
        self.calls.append(("Allreduce", send.size))
        recv[...] = send * self.size

    def Bcast(self, buffer: np.ndarray, root: int) -> None:
        self.calls.append(("Bcast", buffer.size))

    def allgather(self, obj: object) -> list:
        return [obj] * self.size

    def Abort(self, code: int) -> None:
        self.calls.append(("Abort", code))  # a real Abort ends the process; this one returns


@pytest.fixture
def mirrored_job(monkeypatch):
    """Make this process rank ``rank`` of a 2-rank job of mirrors for one test: a stand-in
    ``mpi4py`` is imported instead of the real one; the process group and sys.excepthook
    (which init replaces) are restored afterwards. Returns the communicator."""

    def install(rank: int) -> MirrorComm:
        world = MirrorComm(rank, size=2)
        fake = types.ModuleType("mpi4py")
        fake.MPI = types.SimpleNamespace(COMM_WORLD=world, SUM="sum", COMM_TYPE_SHARED="shared")
        monkeypatch.setitem(sys.modules, "mpi4py", fake)
        monkeypatch.setattr(dist, "_GROUP", None)
        monkeypatch.setattr(sys, "excepthook", sys.excepthook)
        return world

    return install


@pytest.mark.parametrize("rank", [0, 1])
def test_each_rank_trains_on_its_shard_with_gradients_averaged_over_the_ranks(backend, mirrored_job, rank,
                                                                              tmp_path):
    world = mirrored_job(rank)
    out = tmp_path / "run"
    metrics = train(SETTINGS, **QUIET, distributed=True, backend=backend.name, device=device_argument(backend),
                    out=str(out))
    assert dist.is_initialized() and dist.get_rank() == rank

    # The mirror ranks' average gradient is this rank's own: one process training on this shard.
    expected_weights, expected_history = one_process_training(SETTINGS, ranks=[rank], world_size=2, backend=backend)
    for key in ("train_loss", "test_loss", "test_accuracy"):
        np.testing.assert_allclose(metrics[key], [record[key] for record in expected_history], rtol=1e-5,
                                   err_msg=key)
    if rank == 0:  # the rank that writes the checkpoint
        weights = anygrad.load(out / "model.safetensors", backend="numpy")
        assert sorted(weights) == sorted(expected_weights)
        for name, value in expected_weights.items():
            np.testing.assert_allclose(weights[name].numpy(), value, rtol=1e-5, atol=1e-6, err_msg=name)
    else:
        assert not out.exists()

    steps = 2 * 5  # 2 epochs of 48 samples in batches of 10
    assert metrics["world_size"] == 2 and metrics["steps_per_epoch"] == 5
    assert metrics["config"]["distributed"] is True and metrics["config"]["batch_size"] == 10
    parallel = metrics["distributed"]
    assert parallel["world_size"] == 2 and parallel["train_samples_per_rank"] == 48
    assert parallel["transport"] == ("mpi" if backend.is_host else "host-staging")
    assert parallel["allreduce_steps"] == steps and parallel["mean_allreduce_seconds"] > 0
    parameters = sum(p.size for p in make_model(TrainConfig(**SETTINGS), 784, 10).parameters())
    gradient_reductions = [call for call in world.calls if call == ("Allreduce", parameters)]
    loss_reductions = [call for call in world.calls if call == ("Allreduce", 1)]
    assert (len(gradient_reductions), len(loss_reductions)) == (steps, 2)  # one per step, one per epoch
    assert ("Bcast", parameters) in world.calls  # rank 0's initial weights


def test_only_rank_0_prints_shows_progress_and_writes_files(mirrored_job, tmp_path, capsys):
    mirrored_job(1)
    metrics = train(SETTINGS, distributed=True, progress=True, verbose=True, plots=True, out=str(tmp_path / "rank1"))
    assert capsys.readouterr() == ("", "")
    assert not (tmp_path / "rank1").exists()
    assert "files" not in metrics and metrics["world_size"] == 2  # its metrics are train()'s return value

    mirrored_job(0)
    metrics = train(SETTINGS, distributed=True, progress=True, verbose=True, plots=True, out=str(tmp_path / "rank0"))
    printed = capsys.readouterr()
    assert "data-parallel on 2 ranks (48 samples and batches of 10 each, transport mpi)" in printed.out
    assert "epoch   2/2  train loss" in printed.out and "epoch 2/2" in printed.err
    written = sorted(path.name for path in (tmp_path / "rank0").iterdir())
    assert written == sorted(metrics["files"].values())
    assert "loss.png" in written and "model.safetensors" in written
    recorded = json.loads((tmp_path / "rank0" / "metrics.json").read_text())
    assert recorded["world_size"] == 2 and recorded["distributed"]["allreduce_steps"] == 10


def test_rank_0_keeps_the_one_process_dropout_masks_and_rank_1_draws_its_own(mirrored_job):
    # Ranks drawing the same masks for different samples would drop the same units everywhere.
    with_dropout = dict(SETTINGS, dropout=0.5, epochs=1)
    for rank in (0, 1):
        mirrored_job(rank)
        metrics = train(with_dropout, **QUIET, distributed=True)
        _, with_one_process_masks = one_process_training(with_dropout, ranks=[rank], world_size=2)
        same_masks = metrics["train_loss"][0] == pytest.approx(with_one_process_masks[0]["train_loss"], rel=1e-6)
        assert same_masks == (rank == 0), rank


def test_a_one_process_run_records_world_size_1_and_no_distributed_block():
    metrics = train(SETTINGS, **QUIET, epochs=1)
    assert metrics["world_size"] == 1 and metrics["distributed"] is None
    assert metrics["config"]["distributed"] is False


def test_distributed_must_be_a_bool():
    with pytest.raises(ValueError, match="distributed must be True or False, got 'yes'"):
        TrainConfig(distributed="yes")


def test_command_passes_distributed_and_a_per_rank_batch_size(mirrored_job, tmp_path):
    mirrored_job(0)
    out = tmp_path / "run"
    code = cli.main(["train", "--distributed", "--data", "synthetic", "--limit", "95", "--hidden", "16",
                     "--dropout", "0", "--epochs", "1", "--batch-size", "10", "--out", str(out), "--quiet",
                     "--no-plots"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["distributed"] is True and metrics["world_size"] == 2
    assert metrics["steps_per_epoch"] == 5


def test_command_usage_error_on_one_rank_aborts_the_job(mirrored_job, capsys):
    world = mirrored_job(1)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--distributed", "--data", "mnist:/no/such/folder"])
    assert exit_info.value.code == 2
    assert world.calls == [("Abort", 2)]  # MPI had started before the arguments were checked
    assert "mnist:PATH: no such file or folder" in capsys.readouterr().err


def test_command_missing_data_set_aborts_the_job(mirrored_job, tmp_path, capsys):
    world = mirrored_job(0)
    (tmp_path / "empty").mkdir()
    code = cli.main(["train", "--distributed", "--data", f"fashion-mnist:{tmp_path / 'empty'}", "--quiet",
                     "--out", str(tmp_path / "run")])
    assert code == 1
    assert world.calls[-1] == ("Abort", 1)
    assert "anygrad train: error: Fashion-MNIST not found" in capsys.readouterr().err


def test_command_without_mpi4py_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    monkeypatch.setattr(dist, "_GROUP", None)
    assert cli.main(["train", "--distributed", "--data", "synthetic"]) == 1
    assert "anygrad train: error: anygrad.distributed.init needs mpi4py" in capsys.readouterr().err


# --- real MPI jobs -------------------------------------------------------------------------------------
def launch(programs: list[list[str]], cwd: Path, timeout: float = 120.0) -> tuple[int, str, float]:
    """Run an MPI job of one rank per entry of ``programs`` (each a command line; MPMD
    syntax ``mpiexec -n 1 A : -n 1 B``); returns (exit code, output, seconds)."""
    arguments: list[str] = []
    for i, program in enumerate(programs):
        arguments += ([":"] if i else []) + ["-n", "1", *program]
    return run_job(arguments, cwd=cwd, timeout=timeout)


def command_line(settings: dict, out: str, python: tuple[str, ...] = ("-m", "mpi4py")) -> list[str]:
    """``python -m mpi4py -m anygrad train --distributed ...`` for these settings."""
    options = ["--data", settings["data"], "--limit", str(settings["limit"]),
               "--hidden", ",".join(map(str, settings["hidden"])), "--dropout", str(settings["dropout"]),
               "--epochs", str(settings["epochs"]), "--batch-size", str(settings["batch_size"]),
               "--optimizer", settings["optimizer"], "--lr", str(settings["lr"]), "--schedule", settings["schedule"],
               "--seed", str(settings["seed"]), "--no-plots", "--no-progress", "--out", out]
    return [sys.executable, *python, "-m", "anygrad", "train", "--distributed", *options]


@needs_mpi
def test_two_ranks_train_like_one_process_on_the_combined_batches(tmp_path):
    code, output, _ = launch([command_line(SETTINGS, "run")] * 2, cwd=tmp_path)
    assert code == 0, output
    assert output.count("epoch   2/2  train loss") == 1, output  # only rank 0 prints
    assert sorted(path.name for path in tmp_path.iterdir()) == ["run"]
    assert sorted(path.name for path in (tmp_path / "run").iterdir()) == ["metrics.json", "model.safetensors"]

    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["distributed"]["transport"] == "mpi"
    assert metrics["steps_per_epoch"] == 5 and metrics["distributed"]["allreduce_steps"] == 10
    assert metrics["distributed"]["mean_allreduce_seconds"] > 0
    weights = {name: value.numpy() for name, value in
               anygrad.load(tmp_path / "run" / "model.safetensors", backend="numpy").items()}
    # Each step of the job equals one step of one process on both ranks' batches joined
    # (batch 2 x 10); the epoch's train loss is the mean over both ranks' samples.
    expected = one_process_training(SETTINGS, ranks=[0, 1], world_size=2)
    assert_same_training(metrics, weights, expected)
    anygrad.manual_seed(SETTINGS["seed"])
    initial = make_model(TrainConfig(**SETTINGS), 784, 10).state_dict()
    assert not np.allclose(initial["0.weight"].numpy(), weights["0.weight"], atol=1e-4)  # it did train


@needs_mpi
@pytest.mark.parametrize("python", [("-m", "mpi4py"), ()], ids=["python-m-mpi4py", "plain-python"])
def test_a_data_path_missing_on_one_rank_ends_the_job_with_a_nonzero_exit(tmp_path, python):
    # Rank 1 cannot find its data while rank 0 waits for it in the first collective: without
    # an MPI_Abort rank 0 would wait forever. The time bound detects a hang, not speed.
    missing = dict(SETTINGS, data="mnist:/no/such/folder")
    code, output, seconds = launch([command_line(SETTINGS, "run", python), command_line(missing, "run", python)],
                                   cwd=tmp_path)
    assert code != 0, output
    assert "mnist:PATH: no such file or folder: '/no/such/folder'" in output
    assert seconds < 60, output
    assert not (tmp_path / "run").exists()
