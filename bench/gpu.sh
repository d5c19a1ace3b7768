#!/usr/bin/env bash
# The GPU checks of the course (rnnlib.train, the teaching cells, the parallel scan), prepared
# to run once on a CUDA machine within a 15-minute device budget (expected: about 4 minutes of
# work; every step has its own time limit, and the worst case stays under 13 minutes).
#
#   OUT=/some/folder bash bench/gpu.sh        # from the repository root, or from anywhere
#
# It writes, under $OUT (default /tmp/rnnlib-gpu), at most 8 files:
#   gpu.csv                       nvidia-smi --query-gpu=name --format=csv
#   test_train.txt                tests/test_train*.py on that machine (its CUDA tests run there)
#   trainer_overhead_cuda.txt     fit / bare loop on the GPU, small LSTM (goal: <= 1.05)
#   trainer_overhead_cuda_large.txt  the same with a GPU-sized LSTM
#   charlm_tokens.txt             tokens/s of an nn.LSTM char model: float32, bf16, fp16
#   cells_scan_cuda.txt           bench/cells_speed.py and bench/scan_speed.py on the GPU
#                                 (float32, then bf16 for the scan)
#   gpu-scan_speed.json           the float32 scan table, which notebook 10 loads from results/
#   summary.txt                   versions, each step's exit status and the headline numbers
#
# Needs: a python3 with torch (CUDA), numpy, matplotlib, tqdm and pytest; nothing is installed
# and nothing is downloaded. PYTHON=... picks another interpreter.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/rnnlib-gpu}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # rnnlib from this checkout
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"

step() {  # step NAME SECONDS OUTFILE COMMAND...: run with a time limit, keep the exit status
  local name=$1 limit=$2 file=$3
  shift 3
  local started=$SECONDS
  timeout "$limit" "$@" 2>&1 | tee "$file"
  local status=${PIPESTATUS[0]}
  echo "$name: exit $status after $((SECONDS - started)) s" | tee -a "$SUMMARY"
}

nvidia-smi --query-gpu=name --format=csv >"$OUT/gpu.csv" 2>&1
cat "$OUT/gpu.csv" | tee -a "$SUMMARY"
"$PY" - 2>&1 <<'EOF' | tee -a "$SUMMARY"
import platform, torch
print("python", platform.python_version(), "| torch", torch.__version__, "| CUDA",
      torch.version.cuda, "| cuDNN", torch.backends.cudnn.version())
print("GPU", torch.cuda.get_device_name(), "| capability", torch.cuda.get_device_capability(),
      "| bf16", torch.cuda.is_bf16_supported())
EOF

# 1. The tests of the training loop, the CUDA ones included (one CPU thread, as in CI); -s
#    keeps the line where the probe says which dtype cuDNN's LSTM ran in under bf16 autocast.
step tests 180 "$OUT/test_train.txt" \
  env OMP_NUM_THREADS=1 RNNLIB_THREADS=1 "$PY" -m pytest tests/test_train.py \
  tests/test_train_precision.py -q -rs -s -p no:cacheprovider --durations=5

# 2. fit's overhead over a bare loop on the GPU (goal <= 1.05): the small LSTM of the CPU
#    figure, where per-step Python work shows most, then a GPU-sized one.
step overhead_small 120 "$OUT/trainer_overhead_cuda.txt" \
  "$PY" bench/trainer_overhead.py --device cuda --repeats 7 --steps 300
step overhead_large 150 "$OUT/trainer_overhead_cuda_large.txt" \
  "$PY" bench/trainer_overhead.py --device cuda --repeats 5 --steps 200 --batch 128 \
  --length 100 --hidden 512

# 3. Tokens per second of a char model (nn.LSTM, cuDNN) trained by fit with truncated BPTT,
#    in float32, bf16 autocast and fp16 autocast with a gradient scaler.
step charlm_tokens 150 "$OUT/charlm_tokens.txt" "$PY" - <<'EOF'
import time

import torch
from torch import nn

from rnnlib.train import fit

VOCAB, EMBED, HIDDEN, LAYERS, B, T, STEPS = 65, 128, 512, 2, 64, 256, 60


class CharLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, EMBED)
        self.lstm = nn.LSTM(EMBED, HIDDEN, LAYERS, batch_first=True)
        self.out = nn.Linear(HIDDEN, VOCAB)

    def forward(self, x, state=None):
        h, state = self.lstm(self.embed(x), state)
        return self.out(h), state


def loss_fn(logits, y):
    return nn.functional.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))


torch.manual_seed(0)
text = torch.randint(0, VOCAB, (B, 20 * T + 1))
batches = [(text[:, i:i + T].pin_memory(), text[:, i + 1:i + T + 1].pin_memory())
           for i in range(0, 20 * T, T)]
print(f"char LSTM: vocab {VOCAB}, {LAYERS} x {HIDDEN} hidden, B={B}, T={T}, {STEPS} steps "
      f"({B * T} tokens a step), fit(stateful=True, clip_norm=1.0)")
print(f"{'precision':>10}  {'tokens/s':>10}  {'ms/step':>8}  {'last loss':>9}")
results = {}
for amp in (None, "bf16", "fp16"):
    torch.manual_seed(0)
    model = CharLSTM().cuda()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    common = dict(loss_fn=loss_fn, optimizer=optimizer, stateful=True, clip_norm=1.0, amp=amp,
                  device="cuda", quiet=True, log_every=20)
    fit(model, batches, steps=5, **common)  # warm-up: cuDNN plans, allocator
    torch.cuda.synchronize()
    start = time.perf_counter()
    history = fit(model, batches, steps=STEPS, **common)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    results[amp or "float32"] = STEPS * B * T / seconds
    print(f"{amp or 'float32':>10}  {results[amp or 'float32']:>10.0f}  "
          f"{1e3 * seconds / STEPS:>8.2f}  {history.loss[-1]:>9.3f}")
print(f"bf16/float32 speed-up {results['bf16'] / results['float32']:.2f}, "
      f"fp16/float32 {results['fp16'] / results['float32']:.2f}")
EOF

# 4. The teaching LSTM against cuDNN, and the parallel minGRU scan against its own loop and
#    cuDNN's nn.GRU (goal: sequential / parallel >= 10 at T = 4096), float32 then bf16.
step cells_scan 150 "$OUT/cells_scan_cuda.txt" bash -c "
  '$PY' bench/cells_speed.py --device cuda --repeats 5 &&
  '$PY' bench/scan_speed.py --device cuda --repeats 5 --json '$OUT/gpu-scan_speed.json' &&
  '$PY' bench/scan_speed.py --device cuda --repeats 5 --dtype bfloat16"

for file in trainer_overhead_cuda trainer_overhead_cuda_large charlm_tokens cells_scan_cuda; do
  echo "$file: $(tail -n 1 "$OUT/$file.txt")" >>"$SUMMARY"
done
echo "--- summary ($OUT)"
cat "$SUMMARY"
