#!/usr/bin/env bash
# The GPU runs of issues 2-5, for a lent GPU machine (the device tool's `run`), from the project root.
#
# Prepare on the development machine first (the GPU image lacks the pure-Python Array API packages and
# has no network; ../shared does not travel):
#   bash ../shared/gpu/prepare.sh            # downloads array-api-compat/strict/extra wheels into .whl/
#   mkdir -p .data && cp -r /usr/share/datasets/fashion-mnist .data/   # optional: Fashion-MNIST on cupy
#   echo /.data/ >> .git/info/exclude
# then call the device tool with carry [".whl", ".data"] and the command `bash bench/gpu.sh`.
# Everything lands in $OUT: test logs, the bench JSON/plot/table, the cupy training run.
set -uo pipefail
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1

nvidia-smi -L | tee "$OUT/gpu.txt"
python3 -c "import anygrad; print('backends:', anygrad.available_backends())" | tee -a "$OUT/gpu.txt"

# 1. The whole suite on the GPU backends (and the GPU-only checks: no host sync, flat memory, CPU-equal).
python3 -m pytest -q -p no:cacheprovider --backend cupy,torch-cuda -m gpu tests 2>&1 | tee "$OUT/gpu-tests.log" | tail -3
python3 -m pytest -q -p no:cacheprovider -s tests/test_gpu.py 2>&1 | tee "$OUT/gpu-checks.log" | tail -8

# 2. The benchmark: anygrad on cupy and torch-cuda (eager, and with the step captured: no per-op Python
#    between kernel launches) against PyTorch CUDA eager, plus the default MLP on NumPy.
python3 -m bench --backends cupy,cupy+capture,torch:cuda,torch:cuda+capture,numpy,numpy+capture \
  --peers numpy-hand,torch,torch-cuda \
  --json "$OUT/bench-gpu.json" --plot "$OUT/bench-gpu.png" 2>&1 | tee "$OUT/bench-gpu.txt" | tail -40
python3 -m bench --hidden 4096,4096 --batch-sizes 4096 --backends cupy,cupy+capture,torch:cuda --peers torch-cuda \
  --json "$OUT/bench-gpu-large.json" 2>&1 | tee "$OUT/bench-gpu-large.txt" | tail -20

# 3. Fashion-MNIST on cupy (same accuracy as on the CPU; time per epoch) when the data was carried.
if [ -d .data/fashion-mnist ]; then
  python3 -m anygrad train --backend cupy --data fashion-mnist:.data/fashion-mnist --no-progress \
    --out "$OUT/train-cupy" 2>&1 | tee "$OUT/train-cupy.txt" | tail -25
fi
