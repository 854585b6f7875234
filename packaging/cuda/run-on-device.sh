#!/usr/bin/env bash
# Runs the CUDA checks of SAE Scope on a GPU machine that has no Go and no
# network: the bundle made by packaging/cuda/build-device-bundle.sh holds
# the CUDA test binary (cuda.test), the CUDA build of the app
# (saescope-cuda), the parity fixtures and this script.
#
#   run-on-device.sh [all|quick]     (default all)
#   SAESCOPE_DEADLINE=540             seconds for everything (default 540):
#                                     each step gets at most what is left,
#                                     and steps that no longer fit are skipped
#
# It locates cuBLAS (libcublas.so.13/.12/.11) — $SAESCOPE_CUBLAS_DIR, else
# the nvidia-* Python packages next to PyTorch, else the loader's path —
# then runs, printing everything and a summary at the end:
#   1. device check, every primitive vs the CPU, sparse read-back, fixture
#      parity (1e-3, identical top-k ids), a fixture corpus scan vs the CPU;
#      the SAE families' kernels vs host references (TopK on 131072-wide
#      rows included) and every family's fixture parity
#   2. scan tokens/s at 256×128, blocks.9.hook_resid_pre + 768×6144 SAE,
#      FP32 and TF32 (test binary: perf.Run, what bench prints); the app's
#      analyze + rank on the fixtures, GPU against CPU
#   3. GPU vs CPU on full-size random GPT-2 small, 4×128 (max |Δ| per hook)
#   4. TF32 error on the same workload
#   5. the full 1000-row analysis (test binary: perf.Analyze)
#   6. where a 256×128 scan spends its time (per operation)
#   7. the app itself: saescope-cuda bench --backend cuda --batch 256 --json
#      and --analyze 1000 (needs the bench command wired to the backend)
# "quick" runs 1 and 2 only. Logs go to $OUT/cuda-device
# when $OUT is set, else ./logs. Without a usable GPU it stops after the
# device check and says why (exit status 2).
set -u
mode="${1:-all}"
start=$(date +%s)
deadline=$((start + ${SAESCOPE_DEADLINE:-540}))
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
logdir="${OUT:-$here}/cuda-device"
[ -n "${OUT:-}" ] || logdir="$here/logs"
mkdir -p "$logdir"
summary=()
export TMPDIR="${TMPDIR:-/tmp}"

say() { printf '%s\n' "$*" | tee -a "$logdir/summary.txt"; }

# --- unpack -------------------------------------------------------------
if [ ! -x payload/cuda.test ]; then
  if [ -f payload.tar.gz ]; then
    mkdir -p payload && tar -xzf payload.tar.gz -C payload || { echo "cannot unpack payload.tar.gz" >&2; exit 1; }
  else
    echo "no payload here: build it with packaging/cuda/build-device-bundle.sh" >&2
    exit 1
  fi
fi
P="$here/payload"
cat "$P/MANIFEST" 2>/dev/null

# --- the machine --------------------------------------------------------
say "== machine"
say "$(uname -srm); $(ldd --version 2>/dev/null | head -1)"
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>&1 | tee -a "$logdir/summary.txt"
else
  say "nvidia-smi: not found"
fi

# --- cuBLAS -------------------------------------------------------------
find_cublas() {
  local d
  if [ -n "${SAESCOPE_CUBLAS_DIR:-}" ] && ls "$SAESCOPE_CUBLAS_DIR"/libcublas.so.* >/dev/null 2>&1; then
    echo "$SAESCOPE_CUBLAS_DIR"
    return
  fi
  for py in python3 python; do
    command -v "$py" >/dev/null 2>&1 || continue
    d=$("$py" - <<'EOF' 2>/dev/null
import glob, os, site, sys
roots = []
try:
    roots += site.getsitepackages()
except Exception:
    pass
try:
    roots.append(site.getusersitepackages())
except Exception:
    pass
roots += sys.path
seen = set()
found = []
for r in roots:
    if not r or r in seen or not os.path.isdir(r):
        continue
    seen.add(r)
    found += glob.glob(os.path.join(r, "nvidia", "**", "libcublas.so.*"), recursive=True)
# Newest major version first.
found.sort(key=lambda p: [int(x) if x.isdigit() else 0 for x in p.rsplit("libcublas.so.", 1)[1].split(".")], reverse=True)
if found:
    print(os.path.dirname(found[0]))
EOF
)
    if [ -n "$d" ]; then
      echo "$d"
      return
    fi
  done
  d=$(find / -xdev \( -path /proc -o -path /sys \) -prune -o -name 'libcublas.so.1[1-9]*' -print 2>/dev/null | sort -r | head -1)
  [ -n "$d" ] && dirname "$d"
}
say "== cuBLAS"
cublas_dir=$(find_cublas)
if [ -n "$cublas_dir" ]; then
  export SAESCOPE_CUBLAS_DIR="$cublas_dir"
  export LD_LIBRARY_PATH="$cublas_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  # The other libraries of NVIDIA's Python wheels (each in its own lib
  # folder), in case this cuBLAS needs one of them.
  case "$cublas_dir" in
    */nvidia/*)
      for d in "${cublas_dir%%/nvidia/*}"/nvidia/*/lib; do
        [ -d "$d" ] && [ "$d" != "$cublas_dir" ] && LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$d"
      done
      export LD_LIBRARY_PATH
      ;;
  esac
  say "SAESCOPE_CUBLAS_DIR=$cublas_dir: $(cd "$cublas_dir" && ls libcublas.so.* libcublasLt.so.* 2>/dev/null | tr '\n' ' ')"
  ldd "$cublas_dir"/libcublas.so.* 2>/dev/null | grep "not found" | sed 's/^/  missing for cuBLAS: /' | tee -a "$logdir/summary.txt"
else
  say "no libcublas.so.N found (set SAESCOPE_CUBLAS_DIR); the backend will try the loader's path"
fi

# The app's window libraries (OpenGL, X11), shipped in case the machine
# lacks them: added to the path only for what is missing.
if ldd "$P/saescope-cuda" 2>/dev/null | grep -q "not found"; then
  app_libs="$P/lib-app"
  say "saescope-cuda: some libraries are missing here; using the bundled ones from lib-app/"
else
  app_libs=""
fi
if ldd "$P/cuda.test" 2>/dev/null | grep "not found"; then
  say "cuda.test cannot load: a library is missing (libcuda.so.1 comes with the NVIDIA driver)"
fi

# --- steps --------------------------------------------------------------
# step NAME TIMEOUT COMMAND...: runs in payload/ (the fixtures are found
# relative to it), logs, records status and time.
step() {
  local name=$1 limit=$2
  shift 2
  local log="$logdir/$name.log" t0 rc left
  left=$((deadline - $(date +%s) - 5))
  if [ "$left" -lt 20 ]; then
    summary+=("$(printf '%-22s skipped: out of time (SAESCOPE_DEADLINE)' "$name")")
    return 124
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo
  echo "== $name: $*"
  t0=$(date +%s.%N)
  (cd "$P" && SAESCOPE_CUDA_REQUIRE=1 timeout "$limit" "$@") 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  local dt
  dt=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  summary+=("$(printf '%-22s rc=%-3s %7ss  %s' "$name" "$rc" "$dt" "$log")")
  return "$rc"
}

T="./cuda.test -test.v -test.count=1"
step device 90 $T -test.run '^TestDevice$'
rc=$?
if [ $rc -ne 0 ]; then
  echo
  say "The CUDA device is not usable here (see above): stopping before the GPU checks."
  printf '%s\n' "${summary[@]}" | tee -a "$logdir/summary.txt"
  exit 2
fi
step ops-sparse-parity 180 $T -test.run '^(TestOps|TestSparseReadBack|TestParity|TestScan)$'
step families 120 $T -test.run '^(TestFamilyOps|TestFamilyParity)$'
step perf-scan-256x128 150 $T -test.run '^TestPerfScan$'
# The app end to end on the fixtures (workspace, corpus, scan, store), on
# the GPU and on the CPU: the same top features by mean.
app_env="env ${app_libs:+LD_LIBRARY_PATH=$app_libs:${LD_LIBRARY_PATH:-}}"
step app-analyze-fixture 120 bash -c '
  F=github.com/saescope/saescope/testdata/fixtures
  for b in cuda cpu; do
    '"$app_env"' ./saescope-cuda analyze --backend $b --model $F/tiny-gpt2 --sae $F/tiny-gpt2_256_resid_pre_1.pt \
      --rows 200 --out "$TMPDIR/fx-$b.saestore" --quiet || exit 1
    '"$app_env"' ./saescope-cuda rank --store "$TMPDIR/fx-$b.saestore" --by mean --to 20 | grep -o "\"id\":[0-9]*" > "$TMPDIR/rank-$b.txt" || exit 1
  done
  if cmp -s "$TMPDIR/rank-cuda.txt" "$TMPDIR/rank-cpu.txt"; then
    echo "app analyze on the fixtures: the GPU and the CPU rank the same top 20 features by mean"
  else
    echo "app analyze on the fixtures: top-20 rankings differ (GPU, CPU):"; paste "$TMPDIR/rank-cuda.txt" "$TMPDIR/rank-cpu.txt"; exit 1
  fi'
if [ "$mode" != "quick" ]; then
  step gpu-vs-cpu-4x128 120 $T -test.run '^TestGPUvsCPUFullSize$'
  step tf32-error 120 $T -test.run '^TestTF32Error$'
  step perf-analyze-1000 180 env SAESCOPE_CUDA_ANALYZE_ROWS=1000 $T -test.run '^TestPerfAnalyze$'
  step scan-breakdown 90 $T -test.run '^TestScanBreakdown$'
  step bench-app-256 90 env ${app_libs:+LD_LIBRARY_PATH=$app_libs:${LD_LIBRARY_PATH:-}} ./saescope-cuda bench --backend cuda --batch 256 --json
  step bench-app-analyze 150 env ${app_libs:+LD_LIBRARY_PATH=$app_libs:${LD_LIBRARY_PATH:-}} ./saescope-cuda bench --backend cuda --analyze 1000
fi

echo
say "== summary (rc 0 = passed; logs in $logdir)"
printf '%s\n' "${summary[@]}" | tee -a "$logdir/summary.txt"
echo "total $(($(date +%s) - start)) s" | tee -a "$logdir/summary.txt"
grep -hE "tokens/s|TF32 max abs error|largest error|worst absolute|scan_tokens_per_s|total_seconds|^--- (FAIL|PASS)" "$logdir"/*.log 2>/dev/null | sed 's/^ *//' | tee -a "$logdir/summary.txt"
