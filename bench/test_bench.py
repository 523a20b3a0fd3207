"""The benchmark as a pytest-benchmark suite, plus the checks that keep its numbers honest.

``pytest bench/`` times one training step per engine and batch size (samples/s in each
benchmark's ``extra_info``; compare runs with ``--benchmark-autosave`` and
``--benchmark-compare``). ``pytest bench/ -q --benchmark-disable`` runs every step once:
a quick check for CI. The main ``pytest`` run does not collect this folder
(``testpaths = ["tests"]``). No test here asserts a time.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os

import numpy as np
import pytest

from anygrad.data import FASHION_MNIST_DIR
from bench import captured, measure, report, stages
from bench.__main__ import main
from bench.dist_worker import mpiexec, rank_batches
from bench.peers import NumpyHandEngine, default_backends, default_peers, make_engines
from bench.workload import (
    AnygradEngine,
    CorrectnessError,
    Engine,
    Workload,
    anygrad_api,
    check_against_reference,
    reference_step,
)

WORKLOAD = Workload()
BATCH_SIZES = (1, 32, 512)  # per-sample, a small and a large minibatch
#: Samples each benchmark round trains on (at least one step).
SAMPLES_PER_ROUND = 256

ENGINES = [("anygrad", name) for name in default_backends()] + [("peer", name) for name in default_peers()]
ENGINE_IDS = [f"anygrad-{name}" if kind == "anygrad" else name for kind, name in ENGINES]


def make_engine(kind: str, name: str, workload: Workload = WORKLOAD) -> Engine:
    return make_engines(workload, [name] if kind == "anygrad" else [], [name] if kind == "peer" else [])[0]


# --- the reference and the guard ---------------------------------------------------------------
def test_reference_step_matches_torch_autograd_and_sgd_in_float64() -> None:
    torch = pytest.importorskip("torch")
    weights = WORKLOAD.initial_weights()
    x, y = WORKLOAD.batches(8)[0]
    params = [torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in weights]
    h = torch.tensor(x, dtype=torch.float64)
    for i in range(0, len(params) - 2, 2):
        h = torch.relu(h @ params[i].T + params[i + 1])
    loss = torch.nn.functional.cross_entropy(h @ params[-2].T + params[-1], torch.tensor(y))
    loss.backward()
    optimizer = torch.optim.SGD(params, lr=WORKLOAD.lr)
    optimizer.step()

    got_loss, got_weights = reference_step(weights, x, y, WORKLOAD.lr)

    assert got_loss == pytest.approx(loss.item(), rel=1e-12)
    for got, want in zip(got_weights, params, strict=True):
        np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("batch_size", [1, 8])
@pytest.mark.parametrize(("kind", "name"), ENGINES, ids=ENGINE_IDS)
def test_engine_computes_the_reference_step(kind: str, name: str, batch_size: int) -> None:
    engine = make_engine(kind, name)
    weights = WORKLOAD.initial_weights()
    batch = WORKLOAD.batches(batch_size)[0]

    check_against_reference(engine, weights, batch)  # raises CorrectnessError if not

    _, expected = reference_step(weights, *batch, WORKLOAD.lr)
    assert not np.allclose(engine.weights()[0], weights[0], rtol=0, atol=0), "the step did not update W1"
    np.testing.assert_allclose(engine.weights()[-1], expected[-1], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(("kind", "name"), ENGINES, ids=ENGINE_IDS)
def test_engine_leaves_the_callers_weights_alone(kind: str, name: str) -> None:
    engine = make_engine(kind, name)
    weights = WORKLOAD.initial_weights()
    engine.load(weights, WORKLOAD.batches(8))
    engine.run(2)
    assert all(np.array_equal(w, fresh) for w, fresh in zip(weights, WORKLOAD.initial_weights(), strict=True))


@pytest.mark.parametrize("api", ["nn", "ops"])
def test_anygrad_engine_computes_the_reference_step_with_either_api(api: str) -> None:
    if api == "nn" and anygrad_api() != "nn":
        pytest.fail("anygrad.nn / anygrad.optim are missing: the nn form of the step cannot run")
    for batch_size in (1, 8):
        engine = AnygradEngine(WORKLOAD, "numpy", api=api)
        check_against_reference(engine, WORKLOAD.initial_weights(), WORKLOAD.batches(batch_size)[0])


def test_a_captured_engine_times_replays_only() -> None:
    engine = AnygradEngine(WORKLOAD, "numpy+capture")
    assert engine.name == "anygrad-numpy+capture" and engine.captured
    engine.load(WORKLOAD.initial_weights(), WORKLOAD.batches(8))

    def python_step(x, y):
        raise AssertionError("the step's Python ran: this step was not a replay")

    engine.step.step = python_step
    engine.run(3)
    with pytest.raises(ValueError, match="needs the nn api"):
        AnygradEngine(WORKLOAD, "numpy+capture", api="ops")


class _ForgetsBiases(NumpyHandEngine):
    """A wrong engine: it never updates the biases."""

    def step(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        biases = [p.copy() for p in self.params[1::2]]
        loss = super().step(x, y)
        for p, old in zip(self.params[1::2], biases, strict=True):
            p[...] = old
        return loss


class _ReportsWrongLoss(NumpyHandEngine):
    """A wrong engine: it reports the loss 1% too high."""

    def step(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return super().step(x, y) * np.float32(1.01)


def test_check_against_reference_rejects_an_engine_that_skips_an_update() -> None:
    batch = WORKLOAD.batches(8)[0]
    with pytest.raises(CorrectnessError, match=r"numpy-hand at batch size 8 .*parameter 1 \(128,\) float32"):
        check_against_reference(_ForgetsBiases(WORKLOAD), WORKLOAD.initial_weights(), batch)


def test_check_against_reference_rejects_a_wrong_loss() -> None:
    batch = WORKLOAD.batches(1)[0]
    with pytest.raises(CorrectnessError, match=r"numpy-hand at batch size 1 .*loss"):
        check_against_reference(_ReportsWrongLoss(WORKLOAD), WORKLOAD.initial_weights(), batch)


# --- the workload definition ---------------------------------------------------------------------
def test_flops_per_sample_counts_six_per_weight_but_no_input_gradient_for_the_first_layer() -> None:
    weights = 784 * 128 + 128 * 128 + 128 * 10
    assert WORKLOAD.flops_per_sample == 6 * weights - 2 * 784 * 128
    assert Workload(hidden=(32,)).flops_per_sample == 6 * (784 * 32 + 32 * 10) - 2 * 784 * 32


def test_initial_weights_are_seeded_float32_in_torch_layout() -> None:
    first, again = WORKLOAD.initial_weights(), Workload().initial_weights()
    assert [w.shape for w in first] == [(128, 784), (128,), (128, 128), (128,), (10, 128), (10,)]
    assert all(w.dtype == np.float32 for w in first)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert np.abs(first[0]).max() <= 1 / math.sqrt(784)


@pytest.mark.parametrize(("batch_size", "count"), [(1, 64), (512, 8), (2048, 2), (5000, 2)])
def test_batches_give_every_step_distinct_data(batch_size: int, count: int) -> None:
    batches = WORKLOAD.batches(batch_size)
    assert len(batches) == count
    for x, y in batches:
        assert x.shape == (batch_size, 784) and x.dtype == np.float32
        assert y.shape == (batch_size,) and y.dtype == np.int64
    assert not np.array_equal(batches[0][0], batches[1][0])


@pytest.mark.skipif(not os.path.isdir(FASHION_MNIST_DIR), reason=f"no Fashion-MNIST in {FASHION_MNIST_DIR}")
def test_fashion_mnist_pool_holds_scaled_float32_images_and_int64_labels() -> None:
    images, labels = Workload(data="fashion-mnist").pool()
    assert images.shape == (4096, 784) and images.dtype == np.float32
    assert labels.shape == (4096,) and labels.dtype == np.int64
    assert images.min() == 0.0 and images.max() == 1.0
    assert set(np.unique(labels)) == set(range(10))


def test_workload_rejects_unknown_data() -> None:
    with pytest.raises(ValueError, match="Workload: data must be 'synthetic' or 'fashion-mnist', not 'cifar'"):
        Workload(data="cifar")


# --- the command line ------------------------------------------------------------------------------
def test_smoke_run_prints_tables_last_and_writes_json_and_plot(tmp_path, capsys) -> None:
    json_path, plot_path = tmp_path / "bench.json", tmp_path / "bench.png"

    main(["--smoke", "--backends", "numpy", "--peers", "numpy-hand", "--json", str(json_path),
          "--plot", str(plot_path)])

    printed = capsys.readouterr().out
    counts_faults = measure.page_faults() is not None  # everywhere getrusage exists (not on Windows)
    assert printed.rstrip().splitlines()[-1].startswith("  B=8: ")  # the ranking closes the output
    assert "anygrad-numpy / numpy-hand" in printed and "anygrad-numpy / limit numpy:cpu" in printed
    result = json.loads(json_path.read_text())
    assert set(result["results"]) == {"anygrad-numpy", "numpy-hand"}
    for by_size in result["results"].values():
        assert set(by_size) == {"1", "8"}
        for figures in by_size.values():
            assert len(figures["samples_per_s"]) == 2
            assert 0 < figures["min"] <= figures["median"] <= figures["max"]
            if counts_faults:
                assert len(figures["page_faults_per_step"]) == 2
                assert all(faults >= 0 for faults in figures["page_faults_per_step"])
    assert ("page faults per step" in printed) == counts_faults
    assert result["limits"]["numpy:cpu"] > 0 and result["gemm_gflops"]["numpy:cpu"] > 0
    assert set(result["overhead_us_per_op"]) == {"anygrad-numpy"}
    assert result["engines"]["anygrad-numpy"] == {"kind": "anygrad", "backend": "numpy:cpu", "torch": None,
                                                  "hand": "numpy-hand", "api": anygrad_api(), "captured": False}
    assert {"date", "cpu", "python", "versions", "threads"} <= set(result["environment"])
    assert result["command"].startswith("python -m bench --smoke")
    assert plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_ratios_are_taken_within_each_repeat_round() -> None:
    # Round 2 ran while the machine was busy: both engines slowed, their ratio held.
    anygrad_rates, hand_rates = [300.0, 100.0, 310.0], [310.0, 125.0, 300.0]

    assert report._paired_ratio(anygrad_rates, hand_rates) == "0.968 [0.8-1.03]"


def test_stage_timings_print_each_stage_of_both_steps(capsys) -> None:
    stages.main(["--steps", "3", "--repeats", "1", "--inputs", "16", "--hidden", "8", "--batch-size", "4"])

    header, anygrad_line, hand_line = capsys.readouterr().out.splitlines()
    assert header.startswith("batch 4, MLP 16-8-10, 3 steps, best of 1 (us per step; allocator ")
    for line, stage_names in ((anygrad_line, ("zero_grad", "forward", "loss", "backward", "step")),
                              (hand_line, ("forward", "loss+gradient", "backward+update"))):
        words = line.split()
        assert words[1::2] == [*stage_names, "total"]
        assert all(float(value) > 0 for value in words[2::2])


def _why_no_mpi() -> str | None:
    if importlib.util.find_spec("mpi4py") is None:
        return "mpi4py is not installed (pip install 'anygrad[dist]')"
    try:
        mpiexec()  # the launcher's own lookup
    except RuntimeError as missing:
        return str(missing)
    return None


@pytest.mark.skipif(_why_no_mpi() is not None, reason=_why_no_mpi() or "")
def test_dist_smoke_run_launches_each_rank_count_and_prints_a_table_with_the_overhead_note(tmp_path, capsys) -> None:
    json_path = tmp_path / "dist.json"

    main(["--dist", "--smoke", "--ranks", "1,2", "--json", str(json_path)])

    printed = capsys.readouterr().out
    lines = printed.rstrip().splitlines()
    assert lines[-1].startswith("note: 2 ranks on ")  # the note closes the output
    assert "ranks  samples/s (total)    per rank  allreduce ms/step  transport" in printed
    result = json.loads(json_path.read_text())
    assert result["settings"] == {"ranks": [1, 2], "batch_size_per_rank": 8, "seconds": 0.05, "hidden": [32],
                                  "backend": "numpy", "blas_threads_per_rank": 1}
    assert [run["ranks"] for run in result["runs"]] == [1, 2]
    for run in result["runs"]:
        assert run["transport"] == "mpi" and run["collectives_per_step"] == 1.0 and run["steps"] >= 3
        assert run["samples_per_s"] == pytest.approx(run["samples_per_s_per_rank"] * run["ranks"])
        assert run["samples_per_s"] == pytest.approx(run["ranks"] * 8 * run["steps"] / run["seconds"])
        assert run["allreduce_ms_per_step"] > 0 and math.isfinite(run["last_loss"])
        assert f"{run['ranks']:>5}  {run['samples_per_s']:>17,.0f}" in printed
    assert result["command"] == f"python -m bench --dist --smoke --ranks 1,2 --json {json_path}"


def test_dist_overhead_note_is_printed_when_ranks_outnumber_cores() -> None:
    from bench.dist_worker import table

    run = {"ranks": 4, "samples_per_s": 100.0, "samples_per_s_per_rank": 25.0, "allreduce_ms_per_step": 0.5,
           "transport": "mpi"}
    result = {"settings": {"batch_size_per_rank": 64, "hidden": [128, 128]}, "cpus_usable": 2, "runs": [run]}
    assert table(result).splitlines()[-1] == (
        "note: 4 ranks on 2 usable CPU cores: with fewer cores than ranks the ranks share cores, so this measures "
        "the overhead of data parallelism (allreduce, synchronization), not its speedup.")


def test_dist_rank_batches_split_the_pool_between_ranks_without_overlap() -> None:
    images, _ = WORKLOAD.pool()
    for rank in range(4):
        batches = rank_batches(WORKLOAD, 64, rank, 4)
        assert len(batches) == 16 and all(x.shape == (64, 784) and y.shape == (64,) for x, y in batches)
        # Rank r trains on rows r, r + 4, ...: the four ranks together see the pool once.
        np.testing.assert_array_equal(np.concatenate([x for x, _ in batches]), images[rank::4])


def test_command_line_rejects_an_unknown_peer(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--smoke", "--peers", "jax-hand"])
    assert "unknown peer(s) ['jax-hand']; known peers: numpy-hand, torch, torch-cuda" in capsys.readouterr().err


def test_command_line_rejects_a_run_without_engines(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--smoke", "--backends", "", "--peers", ""])
    assert "nothing to measure: --backends and --peers are both empty" in capsys.readouterr().err


def test_command_line_rejects_an_unknown_backend(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--smoke", "--backends", "tensorflow"])
    assert "unknown backend 'tensorflow'" in capsys.readouterr().err


# --- throughput ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("batch_size", BATCH_SIZES)
@pytest.mark.parametrize(("kind", "name"), ENGINES, ids=ENGINE_IDS)
def test_training_step_throughput(benchmark, kind: str, name: str, batch_size: int) -> None:
    engine = make_engine(kind, name)
    weights = WORKLOAD.initial_weights()
    batches = WORKLOAD.batches(batch_size)
    check_against_reference(engine, weights, batches[0])
    engine.load(weights, batches)
    steps = math.ceil(SAMPLES_PER_ROUND / batch_size)
    benchmark.group = f"batch size {batch_size}"
    benchmark.extra_info.update(engine=engine.name, backend=engine.backend.label, batch_size=batch_size,
                                steps_per_round=steps, samples_per_round=steps * batch_size)

    engine.run(steps)  # warm-up
    benchmark(engine.run, steps)  # rounds and time as --benchmark-min-rounds / --benchmark-max-time say

    if benchmark.stats is not None:  # None under --benchmark-disable
        benchmark.extra_info["samples_per_s"] = steps * batch_size / benchmark.stats.stats.median
    assert np.isfinite(engine.loss())


def test_eager_and_captured_timings_print_each_engine_and_its_ratio_to_the_hand_step(capsys) -> None:
    captured.main(["--steps", "3", "--repeats", "2", "--inputs", "16", "--hidden", "8", "--batch-size", "4"])

    header, *engines, eager_ratio, captured_ratio = capsys.readouterr().out.splitlines()
    assert header.startswith("batch 4, MLP 16-8-10, 2 rounds of 3 steps (us per step; allocator ")
    assert [line.split()[0] for line in engines] == ["eager", "captured", "hand"]
    assert all(float(line.split()[2]) > 0 for line in engines)
    assert eager_ratio.startswith("eager / hand within rounds: median ")
    assert captured_ratio.startswith("captured / hand within rounds: median ")
