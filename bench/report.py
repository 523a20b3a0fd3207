"""The run's results as text tables, JSON and a log-log plot.

A result (the dict :func:`bench.__main__.run` returns and the JSON holds) has
``engines`` (name -> kind, backend label, peers it is compared with), ``results``
(name -> batch size -> median/min/max/samples_per_s/page_faults_per_step), ``limits`` (backend label ->
samples/s), ``gemm_gflops``, ``overhead_us_per_op``, ``workload``, ``settings`` and
``environment``.
"""

from __future__ import annotations

import json
import statistics
from typing import Any


def rate(value: float) -> str:
    """A samples/s figure in 3-4 characters: 950, 12.3k, 1.25M."""
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 1e4:
        return f"{value / 1e3:.0f}k"
    if value >= 1e3:
        return f"{value / 1e3:.1f}k"
    return f"{value:.0f}"


def _grid(title: str, header: list[str], rows: list[list[str]]) -> str:
    """A titled table: first column left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row))

    return "\n".join([title, line(header), *map(line, rows)])


def _paired_ratio(mine: list[float], other: list[float]) -> str:
    """The median [min-max] over repeat rounds of the two engines' ratio within each round.

    Each round measures every engine once, one after the other, so a ratio taken within a
    round compares two measurements made under one load of the machine; a ratio of medians
    can pair a quiet repeat of one engine with a busy one of the other."""
    ratios = [a / b for a, b in zip(mine, other, strict=True)]
    return f"{statistics.median(ratios):.3g} [{min(ratios):.3g}-{max(ratios):.3g}]"


def tables(result: dict[str, Any]) -> str:
    """Samples/s per engine and batch size, the minibatch / per-sample speedup, the ranking,
    and each anygrad engine's ratio to PyTorch, to the hand-written NumPy step and to its limit."""
    results, engines, limits = result["results"], result["engines"], result["limits"]
    sizes = result["settings"]["batch_sizes"]
    header = ["engine"] + [f"B={b}" + (" (per-sample)" if b == 1 else "") for b in sizes]
    median = {name: {b: results[name][str(b)]["median"] for b in sizes} for name in results}
    out = []

    rows = [[name] + [f"{rate(results[name][str(b)]['median'])} "
                      f"[{rate(results[name][str(b)]['min'])}-{rate(results[name][str(b)]['max'])}]"
                      for b in sizes] for name in results]
    rows += [[f"limit {label}"] + [rate(limit)] * len(sizes) for label, limit in limits.items()]
    repeats = result["settings"]["repeats"]
    out.append(_grid(f"samples/s, median [min-max] of {repeats} repeats (limit = GEMM flop/s / "
                     f"{result['workload']['flops_per_sample']} flops per sample)", header, rows))

    if 1 in sizes:
        rows = [[name] + [f"{median[name][b] / median[name][1]:.1f}x" for b in sizes] for name in results]
        out.append(_grid("minibatch / per-sample speedup (samples/s at B over samples/s at B=1)", header, rows))

    per_round = {name: {b: results[name][str(b)]["samples_per_s"] for b in sizes} for name in results}
    rows = []
    for name, info in engines.items():
        if info["kind"] != "anygrad":
            continue
        mine = per_round[name]
        for other in (info["torch"], info["hand"]):
            if other is not None:
                rows.append([f"{name} / {other}"] + [_paired_ratio(mine[b], per_round[other][b]) for b in sizes])
        limit = limits.get(info["backend"])
        if limit:
            rows.append([f"{name} / limit {info['backend']}"]
                        + [_paired_ratio(mine[b], [limit] * len(mine[b])) for b in sizes])
    if rows:
        out.append(_grid("anygrad ratios, median [min-max] over the repeat rounds of the ratio within each round "
                         "(> 1 means anygrad is faster)", header, rows))

    faults = {name: [results[name][str(b)].get("page_faults_per_step") for b in sizes] for name in results}
    if all(all(per_size) for per_size in faults.values()):  # counted (older results and some OSes lack them)
        rows = [[name] + [f"{statistics.median(per_step):.0f}" for per_step in per_size]
                for name, per_size in faults.items()]
        out.append(_grid("page faults per step, median (fresh 4 KiB pages the OS maps, ~1 us each: memory "
                         "the C allocator gave back and the next step takes again)", header, rows))

    lines = [f"  B={b}: " + "  >  ".join(f"{name} {rate(median[name][b])}"
                                        for name in sorted(results, key=lambda n: -median[n][b])) for b in sizes]
    out.append("\n".join(["ranking by median samples/s, fastest first", *lines]))
    return "\n\n".join(out)


def preamble(result: dict[str, Any]) -> str:
    """The figures that come before the tables: GEMM rates and the engine overhead per op."""
    env = result["environment"]
    others = env.get("other_processes_cpus")
    lines = []
    if others is not None and others > 0.2:
        # Multi-threaded BLAS waits for its slowest thread: on a busy machine it can lose 10-100x.
        lines.append(f"WARNING: other processes kept {others:.1f} of {env['cpus_usable']} CPUs busy on average "
                     f"during the run (BLAS threads {env['threads']['blas']}); figures are noisy, multi-threaded "
                     "ones especially. Rerun on a quiet machine or with fewer threads "
                     "(OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1).")
    lines.append("float32 GEMM (best of repeats): " + ", ".join(
        f"{label} {gflops:.0f} GFLOP/s" for label, gflops in result["gemm_gflops"].items()))
    if result["overhead_us_per_op"]:
        n = result["settings"]["overhead_ops"]
        lines.append(f"engine overhead per op (chain of {n} adds on a 1-element tensor, forward + backward, "
                     "minus the raw array ops): " + ", ".join(
                         f"{name} {us:.1f} us" for name, us in result["overhead_us_per_op"].items()))
    return "\n".join(lines)


def write_json(result: dict[str, Any], path: str) -> None:
    """The whole result, environment included, as indented JSON."""
    with open(path, "w") as file:
        json.dump(result, file, indent=1)
        file.write("\n")


def plot(result: dict[str, Any], path: str) -> None:
    """Samples/s against batch size, log-log, one line per engine (min-max as error bars),
    each backend's limit dotted in the colour of the first engine on that backend.
    Uses matplotlib's Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    sizes = result["settings"]["batch_sizes"]
    figure, axes = plt.subplots(figsize=(8, 5.5))
    colors = {}
    for name, by_size in result["results"].items():
        medians = [by_size[str(b)]["median"] for b in sizes]
        below = [m - by_size[str(b)]["min"] for m, b in zip(medians, sizes, strict=True)]
        above = [by_size[str(b)]["max"] - m for m, b in zip(medians, sizes, strict=True)]
        style = "-o" if result["engines"][name]["kind"] == "anygrad" else "--s"
        drawn = axes.errorbar(sizes, medians, yerr=[below, above], fmt=style, capsize=3, label=name)
        colors.setdefault(result["engines"][name]["backend"], drawn.lines[0].get_color())
    for label, limit in result["limits"].items():
        axes.axhline(limit, linestyle=":", linewidth=1.2, color=colors.get(label, "gray"), label=f"limit {label}")
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    axes.set_xticks(sizes, [str(b) for b in sizes])
    axes.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    axes.set_xlabel("batch size (1 = per-sample training)")
    axes.set_ylabel("samples/s (one SGD step per batch)")
    workload = result["workload"]
    axes.set_title(f"MLP {'-'.join(map(str, workload['sizes']))} training step, float32, "
                   f"{result['environment']['cpus_usable']} CPUs")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
