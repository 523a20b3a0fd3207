"""anygrad train: the command, the library function and the per-epoch loop.

Everything here runs on small synthetic sets or IDX files written into tmp_path, so the
suite does not need Fashion-MNIST installed.
"""

from __future__ import annotations

import gzip
import json
import math
import struct
import subprocess
import sys

import numpy as np
import pytest

import anygrad
from anygrad import cli, plots
from anygrad.backend import Backend, get_default_backend, host_generator
from anygrad.data import DataLoader
from anygrad.tensor import Tensor
from anygrad.training import (
    TrainConfig,
    evaluate,
    load_data,
    make_model,
    make_optimizer,
    parse_data,
    parse_hidden,
    train,
    train_one_epoch,
)

# A quick run: 128 easy synthetic samples, a small MLP, nothing printed or plotted.
QUICK = dict(data="synthetic", limit=128, hidden=(16,), epochs=1, batch_size=16, progress=False, verbose=False,
             plots=False)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def device_argument(backend: Backend) -> str | None:
    """The ``device`` setting that names ``backend``'s device (JAX's default needs none)."""
    return None if backend.name in ("numpy", "jax") else backend.label.partition(":")[2]


def torch_mlp(torch, sizes: list[int], dropout: float):
    """The torch.nn.Sequential an anygrad MLP with these sizes stands for (ReLU, Dropout)."""
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(torch.nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers += [torch.nn.ReLU(), torch.nn.Dropout(dropout)]
    return torch.nn.Sequential(*layers)


def write_idx_folder(folder, train_count: int = 96, test_count: int = 32, seed: int = 0) -> None:
    """Four gzipped IDX files of 28x28 uint8 images whose class is the brightest of ten
    horizontal bands (learnable), in the MNIST file layout."""
    rng = np.random.default_rng(seed)

    def images_and_labels(count):
        labels = rng.integers(10, size=count).astype(np.uint8)
        images = rng.integers(0, 60, size=(count, 28, 28)).astype(np.uint8)
        for image, label in zip(images, labels, strict=True):
            image[2 + 2 * label : 4 + 2 * label, :] = 255
        return images, labels

    def idx(array):
        code = 0x08  # unsigned bytes
        return bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()

    folder.mkdir(parents=True, exist_ok=True)
    for prefix, count in (("train", train_count), ("t10k", test_count)):
        images, labels = images_and_labels(count)
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx(images)))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx(labels)))


# --- the command, end to end ---------------------------------------------------------------------
def test_train_command_writes_checkpoint_metrics_and_plots_that_torch_can_load(tmp_path, torch, capsys):
    from safetensors.torch import load_file

    out = tmp_path / "run"
    code = cli.main(["train", "--data", "synthetic", "--limit", "300", "--hidden", "32,16", "--dropout", "0.2",
                     "--epochs", "2", "--batch-size", "32", "--seed", "3", "--out", str(out), "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "epoch   2/2" in printed and "test accuracy" in printed

    for name in ("model.safetensors", "metrics.json"):
        assert (out / name).stat().st_size > 0
    for name in ("loss.png", "accuracy.png", "confusion_matrix.png", "misclassified.png"):
        assert (out / name).read_bytes()[:8] == PNG_SIGNATURE, name
        assert (out / name).stat().st_size > 1000, name

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["hidden"] == [32, 16] and metrics["config"]["seed"] == 3
    assert metrics["backend"] == "numpy" and metrics["device"] == "cpu"
    assert metrics["versions"]["numpy"] == np.__version__ and metrics["versions"]["anygrad"] == anygrad.__version__
    assert metrics["data"]["train_samples"] == 300 and metrics["data"]["test_samples"] == 300
    for key in ("train_loss", "test_loss", "test_accuracy", "seconds_per_epoch"):
        assert len(metrics[key]) == 2 and all(math.isfinite(value) for value in metrics[key]), key
    assert all(seconds > 0 for seconds in metrics["seconds_per_epoch"])
    assert np.asarray(metrics["confusion_matrix"]).sum() == 300

    # The checkpoint is a torch.nn.Sequential state_dict: same names, same predictions.
    model = torch_mlp(torch, [784, 32, 16, 10], dropout=0.2)
    model.load_state_dict(load_file(str(out / "model.safetensors")))
    model.eval()
    config = TrainConfig(**{**QUICK, "limit": 300, "seed": 3})
    test_images, test_labels = load_data(config).test.arrays
    with torch.no_grad():
        torch_logits = model(torch.from_numpy(test_images)).numpy()

    ours = make_model(TrainConfig(**{**QUICK, "hidden": (32, 16), "dropout": 0.2}), 784, 10)
    ours.load_state_dict(anygrad.load(out / "model.safetensors"))
    ours.eval()
    np.testing.assert_allclose(ours(anygrad.tensor(test_images)).numpy(), torch_logits, rtol=1e-5, atol=1e-5)
    torch_accuracy = float((torch_logits.argmax(axis=1) == test_labels).mean())
    assert torch_accuracy == pytest.approx(metrics["final_test_accuracy"])


def test_python_dash_m_anygrad_train_runs(tmp_path):
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "anygrad", "train", "--data", "synthetic", "--limit", "64",
                           "--hidden", "8", "--epochs", "1", "--out", str(out), "--no-plots", "--quiet"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert json.loads((out / "metrics.json").read_text())["steps_per_epoch"] == 1
    assert not (out / "loss.png").exists()


def test_train_command_reads_a_folder_of_mnist_idx_files(tmp_path):
    write_idx_folder(tmp_path / "digits")
    out = tmp_path / "run"
    code = cli.main(["train", "--data", str(tmp_path / "digits"), "--hidden", "32", "--epochs", "3",
                     "--batch-size", "16", "--out", str(out), "--quiet", "--no-keep-freed-memory"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data"]["train_samples"] == 96 and metrics["data"]["test_samples"] == 32
    assert metrics["data"]["class_names"] == [str(i) for i in range(10)]
    assert metrics["final_test_accuracy"] > 0.5  # chance is 0.1


def test_fashion_mnist_from_a_path_gets_the_fashion_class_names(tmp_path):
    write_idx_folder(tmp_path / "fashion")
    metrics = train(QUICK, data=f"fashion-mnist:{tmp_path / 'fashion'}", limit=None)
    assert metrics["data"]["class_names"][0] == "T-shirt/top" and metrics["data"]["class_names"][9] == "Ankle boot"
    assert metrics["data"]["train_samples"] == 96


def test_missing_data_set_is_reported_by_the_command(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code = cli.main(["train", "--data", f"fashion-mnist:{tmp_path / 'empty'}", "--out", str(tmp_path / "run"),
                     "--quiet"])
    assert code == 1
    error = capsys.readouterr().err
    assert "anygrad train: error: Fashion-MNIST not found" in error and "train-images-idx3-ubyte.gz" in error


# --- argument errors ------------------------------------------------------------------------------
@pytest.mark.parametrize(("data", "message"), [
    ("imagenet", "unknown data 'imagenet': use fashion-mnist"),
    ("mnist", r"mnist needs the location of its files: mnist:PATH"),
    ("mnist:/no/such/folder", r"mnist:PATH: no such file or folder: '/no/such/folder'"),
    ("synthetic:5", "synthetic data takes no path"),
])
def test_unknown_data_is_a_clear_error(data, message, capsys):
    with pytest.raises(ValueError, match=message):
        parse_data(data)
    with pytest.raises(ValueError, match=message):
        TrainConfig(data=data)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--data", data])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "argument --data:" in error and message.replace("\\", "").split(":")[0] in error


@pytest.mark.parametrize("hidden", ["256,x", "0", "-5", "256,,128", "1.5"])
def test_bad_hidden_sizes_are_a_clear_error(hidden, capsys):
    with pytest.raises(ValueError, match="hidden sizes must be positive integers"):
        parse_hidden(hidden)
    with pytest.raises(ValueError, match="hidden sizes must be positive integers"):
        TrainConfig(hidden=hidden)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--hidden", hidden])
    assert exit_info.value.code == 2
    assert f"argument --hidden: hidden sizes must be positive integers separated by commas (e.g. 256,128), " \
           f"got {hidden!r}" in capsys.readouterr().err


def test_hidden_sizes_parse_from_text():
    assert parse_hidden("256,128") == (256, 128)
    assert parse_hidden(" 512 , 256 ") == (512, 256)
    assert parse_hidden("") == ()
    assert parse_hidden([64]) == (64,)


@pytest.mark.parametrize(("setting", "message"), [
    ({"optimizer": "rmsprop"}, "unknown optimizer 'rmsprop'; use one of sgd, momentum, adam, adamw"),
    ({"activation": "gelu"}, "unknown activation 'gelu'; use one of relu, tanh, sigmoid, leaky_relu"),
    ({"schedule": "linear"}, "unknown schedule 'linear'"),
    ({"backend": "tensorflow"}, "unknown backend 'tensorflow'"),
    ({"batch_size": 0}, "batch_size must be an integer >= 1, got 0"),
    ({"dropout": 1.0}, r"dropout must be a probability in \[0, 1\), got 1.0"),
    ({"lr": -0.1}, "lr must be a non-negative number, got -0.1"),
])
def test_bad_settings_are_clear_errors(setting, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**setting)


def test_command_without_a_subcommand_prints_help(capsys):
    assert cli.main([]) == 2
    assert "train" in capsys.readouterr().err


# --- the library function --------------------------------------------------------------------------
def test_batch_size_one_is_per_sample_sgd():
    metrics = train(QUICK, limit=64, batch_size=1, optimizer="sgd", lr=0.01, epochs=2, schedule="none")
    assert metrics["steps_per_epoch"] == 64
    assert metrics["train_loss"][1] < metrics["train_loss"][0]
    assert metrics["final_test_accuracy"] > 0.5  # chance is 0.1


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam", "adamw"])
def test_each_optimizer_trains(optimizer):
    metrics = train(QUICK, optimizer=optimizer, epochs=3, limit=256, weight_decay=1e-4)
    assert metrics["config"]["lr"] > 0
    assert metrics["train_loss"][2] < metrics["train_loss"][0]
    assert metrics["final_test_accuracy"] > 0.5


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_a_captured_run_gives_the_eager_run_bit_for_bit(optimizer):
    """Dropout, a cosine schedule (a new learning rate each epoch) and a short last batch."""
    settings = dict(QUICK, optimizer=optimizer, epochs=3, limit=200, batch_size=32, dropout=0.2)
    eager, captured = train(settings), train(settings, capture=True)
    for key in ("train_loss", "test_loss", "test_accuracy"):
        assert captured[key] == eager[key]
    assert [record["lr"] for record in captured["epochs"]] == [record["lr"] for record in eager["epochs"]]


def test_capture_and_distributed_are_refused_together():
    with pytest.raises(ValueError, match="capture and distributed do not go together"):
        TrainConfig(capture=True, distributed=True)


@pytest.mark.parametrize(("schedule", "lrs"), [
    ("cosine", [0.1 * (1 + math.cos(math.pi * epoch / 4)) / 2 for epoch in range(4)]),
    ("step", [0.1, 0.1 * 0.1, 0.1 * 0.01, 0.1 * 0.001]),
    ("none", [0.1] * 4),
])
def test_schedules_set_the_learning_rate_of_each_epoch(schedule, lrs):
    metrics = train(QUICK, optimizer="sgd", lr=0.1, epochs=4, limit=32, schedule=schedule)
    np.testing.assert_allclose([record["lr"] for record in metrics["epochs"]], lrs, rtol=1e-12)


def test_limit_keeps_the_first_samples_and_standardize_uses_training_statistics():
    data = load_data(TrainConfig(**{**QUICK, "limit": 50}))
    raw = load_data(TrainConfig(**{**QUICK, "limit": 50, "standardize": False}))
    assert len(data.train) == len(data.test) == 50
    train_x = data.train.arrays[0]
    assert abs(train_x.mean()) < 1e-4 and train_x.std() == pytest.approx(1, rel=1e-4)
    np.testing.assert_allclose(data.test.arrays[0], (raw.test.arrays[0] - data.mean) / data.std, rtol=1e-5, atol=1e-5)


def test_train_leaves_the_callers_seed_and_default_backend_alone():
    with anygrad.backend("numpy"):
        anygrad.manual_seed(7)
        expected = np.random.default_rng(7).random(3)
        train(QUICK, backend="array_api_strict", seed=1)
        assert get_default_backend().name == "numpy"
        np.testing.assert_array_equal(host_generator().random(3), expected)


def test_progress_bar_goes_to_stderr_and_epoch_lines_to_stdout(capsys):
    train(QUICK, progress=True, verbose=True, epochs=2)
    printed = capsys.readouterr()
    assert "epoch 1/2" in printed.err and "epoch 2/2" in printed.err and "/8 [" in printed.err
    assert "epoch   2/2  train loss" in printed.out and "test accuracy" in printed.out
    train(QUICK)
    assert capsys.readouterr() == ("", "")


def test_learning_rate_defaults_follow_the_optimizer():
    assert TrainConfig(optimizer="adam").learning_rate == 1e-3
    assert TrainConfig(optimizer="sgd").learning_rate == 0.1
    assert TrainConfig(optimizer="sgd", lr=0.5).learning_rate == 0.5
    # An override of the optimizer re-resolves a default lr.
    assert train(TrainConfig(**QUICK), optimizer="sgd")["config"]["lr"] == 0.1


def test_train_accepts_a_config_a_dict_or_keywords():
    by_config = train(TrainConfig(**QUICK))
    by_dict = train(dict(QUICK))
    by_keywords = train(**QUICK)
    assert by_config["train_loss"] == by_dict["train_loss"] == by_keywords["train_loss"]
    with pytest.raises(TypeError, match="train: config must be a TrainConfig, a dict or None, got list"):
        train([1, 2])


def draws_dropout_masks_on_the_host(backend: Backend) -> bool:
    """Whether dropout masks come from the seeded host generator (GPUs use their own)."""
    return backend.name in ("numpy", "array_api_strict", "jax") or (backend.name == "torch" and backend.is_host)


def test_one_epoch_matches_numpy_on_every_backend(backend, tmp_path):
    """Same seed, same shuffled batches (and, where masks are drawn on the host, the same
    dropout masks): the parameters after one epoch agree with NumPy's within float32 tolerance."""
    for dropout in (0.0, 0.2) if draws_dropout_masks_on_the_host(backend) else (0.0,):
        settings = dict(QUICK, hidden=(24, 12), dropout=dropout, limit=96, batch_size=16, seed=5)
        reference_out, other_out = tmp_path / f"numpy-{dropout}", tmp_path / f"other-{dropout}"
        train(settings, backend="numpy", out=str(reference_out))
        metrics = train(settings, backend=backend.name, device=device_argument(backend), out=str(other_out))
        assert metrics["backend"] == backend.name
        reference = anygrad.load(reference_out / "model.safetensors", backend="numpy")
        trained = anygrad.load(other_out / "model.safetensors", backend="numpy")
        assert sorted(trained) == sorted(reference)
        assert len(reference) == 6 and "0.weight" in reference
        for name, value in reference.items():
            np.testing.assert_allclose(trained[name].numpy(), value.numpy(), rtol=1e-4, atol=1e-5,
                                       err_msg=f"{name}, dropout {dropout}")
        # Training moved them: the comparison is not of two initial models.
        anygrad.manual_seed(5)
        initial = make_model(TrainConfig(**settings), 784, 10, anygrad.get_backend("numpy"))
        assert not np.allclose(initial.state_dict()["0.weight"].numpy(), reference["0.weight"].numpy(), atol=1e-4)


# --- no device reads per step ------------------------------------------------------------------------
def loop_parts(backend: Backend, samples: int):
    """A model, optimizer and loaders for ``samples`` synthetic samples with 8 per batch."""
    config = TrainConfig(**{**QUICK, "limit": samples, "batch_size": 8, "dropout": 0.1})
    data = load_data(config)
    model = make_model(config, 784, 10, backend)
    optimizer = make_optimizer(config, model.parameters())
    train_loader = DataLoader(data.train.to(backend), batch_size=8, shuffle=True, seed=0, backend=backend)
    test_loader = DataLoader(data.test.to(backend), batch_size=8, backend=backend)
    return model, optimizer, train_loader, test_loader


def counting(monkeypatch, owner, names):
    """Patch ``owner.<name>`` for each name to count its calls; returns the counter (a list)."""
    calls = []
    for name in names:
        original = getattr(owner, name)

        def counted(*args, _original=original, _name=name, **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(owner, name, counted)
    return calls


def test_an_epoch_reads_no_device_value_per_step(backend, monkeypatch):
    reads = counting(monkeypatch, Backend, ["to_host"])
    tensor_reads = counting(monkeypatch, Tensor, ["item", "__float__", "__int__", "__bool__", "numpy", "tolist"])
    counts = {}
    for samples in (16, 64):  # 2 and 8 steps
        model, optimizer, train_loader, test_loader = loop_parts(backend, samples)
        reads.clear()
        tensor_reads.clear()
        total = train_one_epoch(model, train_loader, optimizer)
        evaluation = evaluate(model, test_loader)
        counts[samples] = (list(reads), list(tensor_reads))
        # The counters do see a read: the one the caller makes per epoch.
        assert float(total) > 0 and int(evaluation.correct) >= 0
        assert reads and tensor_reads
    assert counts[16] == counts[64] == ([], [])


@pytest.mark.parametrize("library", ["torch", "array_api_strict"])
def test_an_epoch_makes_no_host_sync_on_the_array_library(library, monkeypatch):
    """Below anygrad: no bool()/float()/item() on the library's own arrays per step either
    (a class-range check of the labels in the loss would make one)."""
    module = pytest.importorskip(library)
    backend = anygrad.get_backend(library, "cpu" if library == "torch" else "device1")
    array_type = type(backend.xp.asarray([1.0], device=backend.device))
    names = [name for name in ("__bool__", "__float__", "__int__", "__index__", "item", "tolist")
             if hasattr(array_type, name)]
    syncs = counting(monkeypatch, array_type, names)
    assert module is not None
    counts = {}
    for samples in (16, 64):
        model, optimizer, train_loader, test_loader = loop_parts(backend, samples)
        syncs.clear()
        train_one_epoch(model, train_loader, optimizer)
        evaluate(model, test_loader)
        counts[samples] = list(syncs)
    assert counts[16] == counts[64] == []
    # The patch is live: a read of one of the library's arrays is seen.
    assert bool(backend.xp.any(backend.xp.asarray([0.0, 1.0], device=backend.device)))
    assert syncs == ["__bool__"]


def test_whole_run_reads_do_not_grow_with_the_number_of_steps(monkeypatch, torch):
    reads = counting(monkeypatch, Backend, ["to_host"])
    counts = []
    for limit in (32, 256):  # 2 and 16 steps per epoch
        reads.clear()
        train(QUICK, limit=limit, epochs=2, backend="torch")
        counts.append(len(reads))
    assert counts[0] == counts[1]


# --- plots ---------------------------------------------------------------------------------------------
def test_misclassified_grid_without_mistakes_still_writes_a_png(tmp_path):
    labels = np.arange(10)
    path = plots.plot_misclassified(np.zeros((10, 784), np.float32), labels, labels, [str(i) for i in range(10)],
                                    tmp_path / "none.png")
    assert path.read_bytes()[:8] == PNG_SIGNATURE


def test_plot_errors_name_the_mismatch(tmp_path):
    with pytest.raises(ValueError, match=r"plot_confusion_matrix: matrix of shape \(3, 3\) does not fit 10 class"):
        plots.plot_confusion_matrix(np.zeros((3, 3), int), [str(i) for i in range(10)], tmp_path / "c.png")
    with pytest.raises(ValueError, match="plot_misclassified: 4 images, 3 labels and 3 predictions do not match"):
        plots.plot_misclassified(np.zeros((4, 784)), np.zeros(3, int), np.zeros(3, int), ["a"], tmp_path / "m.png")
