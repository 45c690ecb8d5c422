#!/usr/bin/env bash
# GPU check, at most 5 minutes on a CUDA machine: train the MNIST preset for the authors' 5,000-step
# schedule with the GPU settings (bf16 autocast, torch.compile, an evaluation every 2,500 steps and
# at the end), time steps with `infogan bench`'s harness, and run a short 2-GPU DDP training under
# torchrun where `nvidia-smi -L` lists two or more GPUs. Prints images/s, wall time and the final
# accuracy, and writes them as JSON (gpu_check_<date>.json).
#
#   bash benchmarks/gpu_check.sh [--out DIR] [--dry-run] [--set KEY=VALUE ...]
#
#   --out DIR        JSON and run directories go to DIR (default: runs into a new temporary folder,
#                    JSON into benchmarks/results/, a dry run's beside its runs)
#   --dry-run        the same steps on the CPU at toy size (4 steps, batch 16, one evaluation at the
#                    end, no compile, the DDP step on 2 CPU processes with gloo)
#   --set KEY=VALUE  a config value for every step, applied after the script's own (data.data_dir=DIR)
#
# Environment: PYTHON (default python3), INFOGAN_DATA (where MNIST is; see README), GPU_CHECK_BUDGET_S
# (default 300: a step still running then is stopped and the check fails).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }

PY=${PYTHON:-python3}
DRY=0
OUT=""
USER_SETS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1; shift ;;
    --out) [ $# -ge 2 ] || { echo "gpu_check.sh: --out needs a folder" >&2; exit 2; }; OUT=$2; shift 2 ;;
    --out=*) OUT=${1#--out=}; shift ;;
    --set) [ $# -ge 2 ] || { echo "gpu_check.sh: --set needs KEY=VALUE" >&2; exit 2; }; USER_SETS+=("$2"); shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

# GPUs: torch must see CUDA; nvidia-smi -L decides the DDP step (torch's count where it is missing).
cuda=$("$PY" -c "import torch; print(int(torch.cuda.is_available()))")
if command -v nvidia-smi > /dev/null 2>&1; then
  ngpu=$(nvidia-smi -L 2> /dev/null | grep -c '^GPU ' || true)
else
  ngpu=$("$PY" -c "import torch; print(torch.cuda.device_count())")
fi
if [ "$DRY" = 0 ] && [ "$cuda" != 1 ]; then
  echo "gpu_check.sh: no CUDA GPU found (torch.cuda.is_available() is False, nvidia-smi -L lists ${ngpu:-0}); use --dry-run for the CPU check" >&2
  exit 2
fi

if [ "$DRY" = 1 ]; then
  # toy size on the CPU, the same commands
  DEV=cpu AMP=off COMPILE=false STEPS=4 BATCH=16 EVAL_EVERY=0 LOG_EVERY=2 SAMPLES=64
  BENCH_STEPS=3 BENCH_WARMUP=1 DDP_NPROC=2 DDP_STEPS=4
else
  DEV=cuda AMP=bf16 COMPILE=true STEPS=5000 BATCH=128 EVAL_EVERY=2500 LOG_EVERY=50 SAMPLES=10000
  BENCH_STEPS=60 BENCH_WARMUP=10 DDP_NPROC=2 DDP_STEPS=300
  [ "${ngpu:-0}" -ge 2 ] || DDP_NPROC=0
fi

date=$(date +%F)
if [ -n "$OUT" ]; then
  mkdir -p "$OUT"
  RUNS=$OUT JSON_DIR=$OUT
else
  RUNS=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")
  JSON_DIR=benchmarks/results
  [ "$DRY" = 0 ] || JSON_DIR=$RUNS  # CPU numbers stay out of the results folder
fi
name=gpu_check_$([ "$DRY" = 1 ] && echo dry-run_)$date
JSON=$JSON_DIR/$name.json
[ ! -e "$JSON" ] || JSON=$JSON_DIR/${name}_$(date +%H%M%S).json
RUN=$RUNS/mnist-$STEPS
DDP_RUN=$RUNS/mnist-ddp$DDP_NPROC
for d in "$RUN" "$DDP_RUN"; do
  if [ -e "$d" ]; then echo "gpu_check.sh: $d exists; choose another --out" >&2; exit 2; fi
done

BUDGET_S=${GPU_CHECK_BUDGET_S:-300}
left() { echo $((BUDGET_S - SECONDS)); }
failed=()
# run NAME CMD...: CMD within what is left of the budget; its wall seconds into NAME.wall
run() {
  local name=$1 t0 rc=0
  shift
  if [ "$(left)" -le 0 ]; then
    echo "gpu_check.sh: no time left in the ${BUDGET_S} s budget for $name" >&2
    failed+=("$name")
    return 0
  fi
  t0=$(date +%s.%N)
  timeout -k 10 "$(left)" "$@" || rc=$?
  "$PY" -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" "$t0" "$(date +%s.%N)" > "$RUNS/$name.wall"
  if [ "$rc" != 0 ]; then
    [ "$rc" != 124 ] || echo "gpu_check.sh: $name ran past the ${BUDGET_S} s budget" >&2
    echo "gpu_check.sh: $name failed (exit $rc)" >&2
    failed+=("$name")
  fi
}

SETS=(--set "train.batch_size=$BATCH" --set "train.eval_samples=$SAMPLES" --set "train.amp=$AMP"
      --set "train.log_every=$LOG_EVERY")
for kv in ${USER_SETS[@]+"${USER_SETS[@]}"}; do SETS+=(--set "$kv"); done
echo "gpu_check: device $DEV ($ngpu GPU(s) by nvidia-smi -L), amp $AMP, compile $COMPILE; runs in $RUNS" >&2

# 1. training: the MNIST preset, STEPS steps, the GPU settings
run train "$PY" -m infogan.cli train --preset mnist --steps "$STEPS" --device "$DEV" --run-dir "$RUN" --no-progress \
  --set "train.compile=$COMPILE" --set "train.eval_every=$EVAL_EVERY" "${SETS[@]}" > "$RUNS/train.json"

# 2. ms/step: the timing harness of `infogan bench`, this trainer's loop only (its reference, plain-GAN
# and other-update loops would each compile again)
run bench "$PY" - "$RUNS/bench.json" "$DEV" "$COMPILE" "$BENCH_STEPS" "$BENCH_WARMUP" "${SETS[@]}" << 'EOF'
import json
import sys

from infogan.bench import bench
from infogan.config import preset

out, dev, compile_, steps, warmup, *sets = sys.argv[1:]
cfg = preset("mnist").override([f"train.device={dev}", f"train.compile={compile_}", *sets[1::2]])
res = bench(cfg, steps=int(steps), warmup=int(warmup), reference=False, plain_gan=False, other_update=False,
            log=lambda m: print(m, file=sys.stderr))
with open(out, "w") as f:
    json.dump(res, f, indent=1)
EOF

# 3. DDP: a short run on 2 GPUs (2 CPU processes with --dry-run) under torchrun
if [ "$DDP_NPROC" -ge 2 ]; then
  run ddp "$PY" -m torch.distributed.run --standalone --nproc_per_node="$DDP_NPROC" -m infogan.cli train \
    --preset mnist --steps "$DDP_STEPS" --device "$DEV" --run-dir "$DDP_RUN" --no-progress \
    --set "train.eval_every=0" "${SETS[@]}" > "$RUNS/ddp.json"
fi

# summary: printed and written as JSON
mkdir -p "$JSON_DIR"
"$PY" - "$JSON" "$RUNS" "$RUN" "$DDP_RUN" "$DDP_NPROC" "$DRY" "$DEV" "$AMP" "$COMPILE" "$STEPS" "$BATCH" \
  "$EVAL_EVERY" "$DDP_STEPS" "$ngpu" "${failed[*]:-}" << 'EOF'
import datetime
import json
import statistics
import sys
from pathlib import Path

import torch

(out, runs, run, ddp_run, ddp_nproc, dry, dev, amp, compile_, steps, batch, eval_every, ddp_steps, ngpu,
 failed) = sys.argv[1:]
runs, batch = Path(runs), int(batch)


def wall(name):
    p = runs / f"{name}.wall"
    return float(p.read_text()) if p.is_file() else None


def training(run_dir, name):
    """Steps, images/s and the last evaluation of a run directory from its metrics.jsonl."""
    rows = []
    p = Path(run_dir) / "metrics.jsonl"
    if p.is_file():
        rows = [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
    its = [r["it_s"] for r in rows if "it_s" in r]
    evals = [r for r in rows if "eval" in r]
    w = wall(name)
    step = max((r["step"] for r in rows), default=0)
    res = {"steps": step, "wall_s": w,
           # steady: the median logged rate, leaving out the first interval (compilation, warm-up)
           "images_per_s": batch * statistics.median(its[1:] or its) if its else None,
           "images_per_s_overall": batch * step / w if w and step else None,
           "final_accuracy": None, "final_mi_lower_bound": None}
    if evals:
        last = evals[-1]["eval"]
        acc = last.get("cluster_accuracy") or {}
        res["final_accuracy"] = next(iter(acc.values()), None)
        res["final_mi_lower_bound"] = last.get("mi_lower_bound")
        res["final_eval_step"] = evals[-1]["step"]
    return res


train = training(run, "train")
bench = json.loads((runs / "bench.json").read_text()) if (runs / "bench.json").is_file() else None
ddp = None
if int(ddp_nproc) >= 2:
    ddp = {"nproc": int(ddp_nproc), "device": dev, **training(ddp_run, "ddp")}
cuda = torch.cuda.is_available()
summary = {
    "date": datetime.date.today().isoformat(),
    "dry_run": dry == "1",
    "torch": torch.__version__,
    "cuda": torch.version.cuda,
    "gpu_name": torch.cuda.get_device_name(0) if cuda else None,
    "gpu_count": int(ngpu or 0),
    "device": dev,
    "preset": "mnist",
    "batch_size": batch,
    "settings": {"amp": amp, "compile": compile_ == "true", "eval_every": int(eval_every)},
    "steps": int(steps),
    "wall_s": train["wall_s"],
    "images_per_s": train["images_per_s"],
    "images_per_s_overall": train["images_per_s_overall"],
    "final_accuracy": train["final_accuracy"],
    "train": train,
    "bench": None if bench is None else {k: bench.get(k) for k in (
        "device", "device_name", "batch_size", "ms_per_step", "images_per_s", "steps_timed", "effective_flops",
        "fraction_of_matmul_peak", "peak_memory_mib")},
    "ddp": ddp,
    "ddp_skipped": None if ddp else f"{ngpu or 0} GPU(s) listed by nvidia-smi -L; the DDP step needs 2",
    "run_dir": run,
    "failed": failed.split(),
}
Path(out).write_text(json.dumps(summary, indent=1) + "\n")


def num(x, fmt):
    return "n/a" if x is None else format(x, fmt)


name = summary["gpu_name"] or "CPU (dry run)"
print(f"gpu_check: {name}, torch {summary['torch']}, amp {amp}, compile {compile_}, batch {batch}")
print(f"train: {train['steps']}/{steps} steps in {num(train['wall_s'], '.1f')} s wall, "
      f"{num(train['images_per_s'], '.0f')} images/s steady, {num(train['images_per_s_overall'], '.0f')} images/s "
      f"overall, final accuracy {num(None if train['final_accuracy'] is None else 100 * train['final_accuracy'], '.2f')} %")
if bench:
    print(f"bench: {bench['ms_per_step']:.2f} ms/step, {bench['images_per_s']:.0f} images/s "
          f"({bench['device']}, batch {bench['batch_size']})")
if ddp:
    print(f"ddp: {ddp['nproc']} processes on {dev}, {ddp['steps']}/{ddp_steps} steps in {num(ddp['wall_s'], '.1f')} s, "
          f"{num(ddp['images_per_s'], '.0f')} images/s steady")
else:
    print(f"ddp: skipped ({summary['ddp_skipped']})")
print(f"wrote {out}")
EOF

if [ ${#failed[@]} -gt 0 ]; then
  echo "gpu_check.sh: failed: ${failed[*]}" >&2
  exit 1
fi
