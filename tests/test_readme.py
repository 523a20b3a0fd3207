"""The README's example must keep working as the API evolves."""

from __future__ import annotations

import contextvars
import re
from pathlib import Path

import anygrad.data

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_example_trains_and_reports_accuracy(monkeypatch, capsys):
    example = _python_blocks()[0]
    assert len(example.strip().splitlines()) <= 25, "the README promises a short example"
    small = anygrad.data.synthetic_classification(600, seed=0).split(500)
    monkeypatch.setattr(anygrad.data, "load_fashion_mnist", lambda *args, **kwargs: small)
    # anygrad.use() in the example must not leak the default backend into other tests.
    contextvars.copy_context().run(exec, compile(example, str(README), "exec"), {})
    accuracies = [float(value) for value in re.findall(r"test accuracy (\d\.\d+)", capsys.readouterr().out)]
    assert len(accuracies) == 5
    assert accuracies[-1] > 0.9, "the example should learn the easy synthetic set"


def test_the_readme_names_the_two_setup_commands():
    text = README.read_text()
    assert "&& python -m bench\n" in text
    assert "&& python -m pytest\n" in text
    ci = (README.parent / ".ci" / "run").read_text()
    assert "python -m pytest" in ci, "CI must run the README's test command"
