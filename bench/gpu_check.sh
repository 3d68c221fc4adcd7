#!/usr/bin/env bash
# The whole GPU check in one command, for a machine with an NVIDIA GPU:
#
#   bash bench/gpu_check.sh            # build, CUDA tests, full suite, sanitizers, benchmarks
#   bash bench/gpu_check.sh --quick    # the same with a short benchmark (a few minutes in all)
#   bash bench/gpu_check.sh --dry-run  # print the steps and exit (works anywhere)
#   bash bench/gpu_check.sh --only build,cuda-tests   # some steps only
#   bash bench/gpu_check.sh --only build  # works without a GPU too (CI runs it)
#
# Steps: build (sm_90 unless TORCH_CUDA_ARCH_LIST says otherwise; pip install -e,
# no build isolation, no downloads; incremental: setup.py keeps the objects under
# build/cuda-<python>/, so after a build with the same flags only the link runs again),
# env (torch, GPU, driver), cuda-tests (pytest -m cuda),
# suite (the whole test suite: training tests then run on the GPU), memcheck and racecheck
# (compute-sanitizer on a short CUDA test run), bench (python -m bench on cuda for
# mozafari2018 and kheradpisheh2018). Every step writes its log under
# bench/results/gpu-check-<date>-<gpu>/ and summary.md there lists each step's status and
# time; the benchmark's tables go to bench/results/ as usual. A failing step does not stop
# the later ones; the exit status is that of the first failure. GPU_CHECK_OUT overrides
# the log folder; PYTHON the interpreter (default python3).
set -uo pipefail
cd "$(dirname "$0")/.."

quick=0
dry=0
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --dry-run) dry=1 ;;
    --only) only="$2"; shift ;;
    --only=*) only="${1#--only=}" ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "gpu_check: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
steps=(build env cuda-tests suite memcheck racecheck bench)
if [ -n "$only" ]; then
  IFS=, read -r -a wanted <<<"$only"
  for s in "${wanted[@]}"; do
    case " ${steps[*]} " in *" $s "*) ;; *) echo "gpu_check: --only: unknown step '$s' (steps: ${steps[*]})" >&2; exit 2 ;; esac
  done
  steps=("${wanted[@]}")
fi

PY=${PYTHON:-python3}
# The build tools of $PY's environment first (its ninja): a build with another ninja than the
# last one (Debian's 1.11 against the venv's 1.13) cannot read its log and recompiles everything.
case "$PY" in */*) PATH="$(cd "$(dirname "$PY")" && pwd):$PATH" ;; esac
export FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}" MAX_JOBS="${MAX_JOBS:-$(nproc)}"
if [ -z "${FASTSPIKE_DATA:-}" ]; then
  for d in shared/data ../shared/data; do [ -d "$d/MNIST" ] && FASTSPIKE_DATA=$(cd "$d" && pwd) && break; done
fi
export FASTSPIKE_DATA="${FASTSPIKE_DATA:-../shared/data}"
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
slug=$(printf '%s' "${gpu:-no-gpu}" | tr 'A-Z' 'a-z' | tr -c 'a-z0-9' '-' | tr -s '-' | sed 's/^-//;s/-$//')
out="${GPU_CHECK_OUT:-bench/results/gpu-check-$(date -u +%Y-%m-%d)-$slug}"
repeats=$([ "$quick" -eq 1 ] && echo 3 || echo 5)
bench_quick=$([ "$quick" -eq 1 ] && echo "--quick" || echo "")
sanitize_k="test_stdp_update_bitwise or test_inhibition_and_kwta or test_conv_fire_long_windows_and_batches or test_decision_potential"

cmd_for() {
  case "$1" in
    build) echo "$PY -m pip install --no-build-isolation --no-deps -e ." ;;
    env) echo "$PY -c 'import torch, fastspike; print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda); print(\"fastspike\", fastspike.__version__, \"with_cuda\", fastspike.WITH_CUDA); print(torch.cuda.get_device_name(0)); assert fastspike.WITH_CUDA and torch.cuda.is_available()' && nvidia-smi" ;;
    cuda-tests) echo "$PY -m pytest -q -m cuda -rs tests" ;;
    suite) echo "$PY -m pytest -q -x tests" ;;
    memcheck) echo "compute-sanitizer --tool memcheck --error-exitcode 1 $PY -m pytest -q -x tests/ops -k '$sanitize_k'" ;;
    racecheck) echo "compute-sanitizer --tool racecheck --error-exitcode 1 $PY -m pytest -q -x tests/ops -k 'test_stdp_update_bitwise or test_inhibition_and_kwta'" ;;
    bench) echo "$PY -m bench --device cuda --repeats $repeats $bench_quick && $PY -m bench --model kheradpisheh2018 --device cuda --repeats $repeats $bench_quick" ;;
  esac
}

if [ "$dry" -eq 1 ]; then
  echo "gpu_check: would write logs to $out (GPU: ${gpu:-none visible}), CUDA_HOME=${CUDA_HOME:-unset (setup.py finds the toolkit)}, TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST"
  for s in "${steps[@]}"; do echo "[$s] $(cmd_for "$s")"; done
  exit 0
fi
if [ -z "$gpu" ] && [ "${steps[*]}" != "build" ]; then
  echo "gpu_check: nvidia-smi sees no GPU; this script is for a machine with one (--dry-run prints its steps; --only build works anywhere)" >&2
  exit 2
fi

mkdir -p "$out"
summary="$out/summary.md"
{
  echo "# GPU check $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "GPU: ${gpu:-none}; driver $(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1);" \
    "host CPU: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1); $(nproc) cores;" \
    "TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST; git $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo
  echo "| step | status | seconds | command |"
  echo "|---|---|---|---|"
} >"$summary"

status=0
for s in "${steps[@]}"; do
  c=$(cmd_for "$s")
  echo "gpu_check: [$s] $c"
  t0=$(date +%s)
  bash -o pipefail -c "$c" >"$out/$s.log" 2>&1
  rc=$?
  dt=$(( $(date +%s) - t0 ))
  tail -n 3 "$out/$s.log"
  echo "| $s | $([ $rc -eq 0 ] && echo ok || echo "FAILED ($rc)") | $dt | \`$c\` |" >>"$summary"
  if [ $rc -ne 0 ] && [ $status -eq 0 ]; then status=$rc; fi
  if [ "$s" = build ] && [ $rc -ne 0 ]; then
    echo "gpu_check: the build failed; see $out/build.log" >&2
    break
  fi
done
echo "gpu_check: done (status $status); summary in $summary"
cat "$summary"
exit "$status"
