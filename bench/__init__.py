"""Throughput benchmark of anygrad: ``python -m bench`` (CLI) and ``pytest bench/`` (pytest-benchmark).

bench.workload defines the training step and the anygrad engine, bench.peers the
hand-written NumPy and PyTorch engines, bench.measure the timing, bench.report the output,
bench.stages a stage-by-stage timing of one step (``python -m bench.stages``).
"""
