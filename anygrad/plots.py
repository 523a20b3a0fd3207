"""PNG plots of a training run: loss and accuracy curves, the confusion matrix, and a grid
of misclassified test images.

Matplotlib is optional (``pip install "anygrad[plot]"``) and imported only when a plot is
drawn. Figures are made with the object-oriented API on an Agg canvas: no pyplot, no
global figure state, no display needed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_accuracy", "plot_confusion_matrix", "plot_loss", "plot_misclassified", "require_matplotlib"]


def require_matplotlib() -> None:
    """Raise a clear ImportError when matplotlib is not installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError('anygrad plots need matplotlib: pip install "anygrad[plot]" (or turn plots off: '
                          "--no-plots, TrainConfig(plots=False))") from None


def _figure(width: float, height: float, layout: str | None = "constrained") -> Any:
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout=layout)
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Any, path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    figure.savefig(path, format="png")
    return path


def _epochs(metrics: Mapping[str, Any]) -> list[int]:
    return list(range(1, len(metrics["train_loss"]) + 1))


def _integer_ticks(axes: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(integer=True))


def plot_loss(metrics: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Train and test loss per epoch (``metrics`` as :func:`anygrad.training.train` returns)."""
    figure = _figure(6, 4)
    axes = figure.add_subplot()
    epochs = _epochs(metrics)
    axes.plot(epochs, metrics["train_loss"], marker="o", label="train")
    axes.plot(epochs, metrics["test_loss"], marker="o", label="test")
    axes.set_xlabel("epoch")
    axes.set_ylabel("cross-entropy loss (train: with dropout, during the epoch)")
    axes.set_title(f"Loss: {metrics['data']['name']}")
    _integer_ticks(axes)
    axes.grid(alpha=0.3)
    axes.legend()
    return _save(figure, path)


def plot_accuracy(metrics: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Test accuracy per epoch, with the final value in the title."""
    figure = _figure(6, 4)
    axes = figure.add_subplot()
    accuracy = metrics["test_accuracy"]
    axes.plot(_epochs(metrics), accuracy, marker="o", color="tab:green")
    axes.set_xlabel("epoch")
    axes.set_ylabel("test accuracy")
    final = f" (final {accuracy[-1]:.4f})" if accuracy else ""
    axes.set_title(f"Test accuracy: {metrics['data']['name']}{final}")
    _integer_ticks(axes)
    axes.grid(alpha=0.3)
    return _save(figure, path)


def plot_confusion_matrix(matrix: np.ndarray, class_names: Sequence[str], path: str | os.PathLike[str]) -> Path:
    """Counts of (true class, predicted class) as a heat map with the numbers written in."""
    matrix = np.asarray(matrix)
    classes = len(class_names)
    if matrix.shape != (classes, classes):
        raise ValueError(f"plot_confusion_matrix: matrix of shape {matrix.shape} does not fit {classes} class names")
    figure = _figure(1.5 + 0.65 * classes, 1.0 + 0.6 * classes)
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes, shrink=0.8)
    ticks = np.arange(classes)
    axes.set_xticks(ticks, labels=list(class_names), rotation=45, ha="right")
    axes.set_yticks(ticks, labels=list(class_names))
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title("Confusion matrix (test set)")
    threshold = matrix.max(initial=0) / 2
    for i in range(classes):
        for j in range(classes):
            axes.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                      color="white" if matrix[i, j] > threshold else "black")
    return _save(figure, path)


def plot_misclassified(images: np.ndarray, labels: np.ndarray, predictions: np.ndarray, class_names: Sequence[str],
                       path: str | os.PathLike[str], image_shape: tuple[int, ...] = (28, 28),
                       count: int = 25) -> Path:
    """The first ``count`` misclassified images (in test-set order) in a grid, each titled
    with its true and predicted class. Each image is scaled to its own range, so
    standardized inputs look like the originals."""
    images, labels, predictions = np.asarray(images), np.asarray(labels), np.asarray(predictions)
    if not len(images) == len(labels) == len(predictions):
        raise ValueError(f"plot_misclassified: {len(images)} images, {len(labels)} labels and {len(predictions)} "
                         "predictions do not match")
    wrong = np.flatnonzero(labels != predictions)
    shown = wrong[:count]
    if len(shown) == 0:
        figure = _figure(4, 1)
        axes = figure.add_subplot()
        axes.text(0.5, 0.5, f"no misclassified test images (of {len(labels)})", ha="center", va="center")
        axes.set_axis_off()
        return _save(figure, path)
    columns = min(5, len(shown))
    rows = -(-len(shown) // columns)
    height, width = image_shape
    # One mosaic in one Axes (25 Axes would cost seconds to lay out); rows of tiles leave
    # room above each image for its two-line title. NaN gaps draw as background.
    title_space, gap = max(height // 2, 1), max(width // 7, 1)
    tile_h, tile_w = height + title_space, width + gap
    mosaic = np.full((rows * tile_h, columns * tile_w), np.nan)
    figure = _figure(1.6 * columns * tile_w / tile_h, 1.6 * rows + 0.4)
    axes = figure.add_subplot()
    for k, index in enumerate(shown):
        row, column = divmod(k, columns)
        image = images[index].reshape(image_shape).astype(np.float64)
        low, high = image.min(), image.max()
        top, left = row * tile_h + title_space, column * tile_w
        mosaic[top : top + height, left : left + width] = (image - low) / (high - low) if high > low else 0.0
        axes.text(left + width / 2, top - 0.5, f"true: {class_names[labels[index]]}\npred: "
                  f"{class_names[predictions[index]]}", ha="center", va="bottom", fontsize=7)
    axes.imshow(mosaic, cmap=_colormap("gray_r", bad="white"), interpolation="nearest", vmin=0.0, vmax=1.0,
                aspect="auto")
    axes.set_axis_off()
    first = f", the first {len(shown)}" if len(shown) < len(wrong) else ""
    axes.set_title(f"Misclassified test images: {len(wrong)} of {len(labels)}{first}", fontsize=9)
    return _save(figure, path)


def _colormap(name: str, bad: str) -> Any:
    import matplotlib

    return matplotlib.colormaps[name].with_extremes(bad=bad)
