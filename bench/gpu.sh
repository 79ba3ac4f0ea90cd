#!/bin/bash
# GPU check and benchmark for a machine with an NVIDIA GPU (written for one H100, < 8 minutes):
#   1. builds with CUDA for this GPU only (meson option gpu_archs, default 90),
#   2. runs the gpu test suite, then again under compute-sanitizer (memcheck) when present,
#   3. times attention (4608 / 16896 / 37376 / 66048 tokens, 24 heads x 128) and the six FLUX
#      GEMM shapes at 4096^2 through our backend and through PyTorch (SDPA's fastest backend,
#      F.linear), with peak memory,
#   4. times one transformer step with FLUX.1-dev widths and random weights (reduced depth:
#      STEP_DEPTH double + single blocks, default "1 2") at 1024^2 / 2048^2 / 4096^2 in modes
#      direct, global, local and fused, against diffusers' FluxTransformer2DModel of the same
#      depth when diffusers is installed, and prints the tables.
# Results go to $OUT (when set) or BUILD/gpu-results/: build and test logs, raw timings, table.
#
# Environment: BUILD (build dir, default build-gpu), GPU_ARCHS (default 90), PYTHON (python3),
# QUICK=1 (one timed repeat per case, for a smoke run), STEP_DEPTH ("1 2").
set -u
cd "$(dirname "$0")/.."
top=$(pwd)
build=${BUILD:-"$top/build-gpu"}
archs=${GPU_ARCHS:-90}
python=${PYTHON:-python3}
out=${OUT:-"$build/gpu-results"}
mkdir -p "$out"
quick=""
[ "${QUICK:-0}" = 1 ] && quick="--quick"
step_depth=${STEP_DEPTH:-"1 2"}
[ -d /usr/local/cuda/bin ] && PATH="/usr/local/cuda/bin:$PATH" && export PATH
start=$(date +%s)
status=0

say() { printf '\n== %s (%ds)\n' "$*" $(($(date +%s) - start)); }

say "tools"
missing=""
for tool in nvcc meson ninja pkg-config "$python"; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
if [ -n "$missing" ]; then
    echo "missing tools:$missing (see tools/debian-packages.txt and the CUDA toolkit)"
    exit 1
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null ||
    echo "nvidia-smi not found"
nvcc --version | tail -1
torch_note=""
have_torch=1
have_diffusers=1
if ! "$python" -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
    have_torch=0
    torch_note="PyTorch with CUDA not available: torch columns empty"
fi
if ! "$python" -c 'import diffusers' 2>/dev/null; then
    have_diffusers=0
    torch_note="${torch_note:+$torch_note; }diffusers not installed: no diffusers column in the step table"
fi
[ -n "$torch_note" ] && echo "note: $torch_note"

say "build (gpu_archs=$archs)"
if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" -Dcuda=enabled -Dgpu_archs="$archs" -Dgui=disabled \
        -Dbuildtype=release >"$out/build.log" 2>&1 || { tail -30 "$out/build.log"; exit 1; }
fi
ninja -C "$build" >>"$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }
echo "nvcc warnings: $(grep -c 'warning' "$out/build.log")"

say "gpu test suite"
timeout 180 meson test -C "$build" --suite gpu --print-errorlogs --num-processes 1 \
    >"$out/test.log" 2>&1 || status=1
grep -E '^ *[0-9]+/[0-9]+ |^(Ok|Fail|Skipped|Timeout):' "$out/test.log"

if command -v compute-sanitizer >/dev/null 2>&1; then
    say "gpu test suite under compute-sanitizer (memcheck)"
    # The op tests only: the whole-model test is thousands of small launches (minutes under
    # memcheck) and runs no kernel the op tests do not.
    timeout 240 meson test -C "$build" --print-errorlogs --num-processes 1 \
        --timeout-multiplier 4 gpu-memory gpu-linear gpu-norms gpu-elementwise gpu-attention gpu-grid \
        --wrapper "compute-sanitizer --tool memcheck --leak-check no --error-exitcode 99" \
        >"$out/sanitizer.log" 2>&1 || status=1
    grep -E '^ *[0-9]+/[0-9]+ |^(Ok|Fail|Skipped|Timeout):|ERROR SUMMARY' "$out/sanitizer.log" |
        head -20
else
    echo "compute-sanitizer not found: skipped"
fi

say "benchmark: ours"
timeout 150 "$build/bench/gpu/bench-gpu-ops" all $quick >"$out/ours.txt" 2>"$out/ours.err" ||
    { status=1; tail -5 "$out/ours.err"; }
cat "$out/ours.txt"

say "benchmark: torch"
if [ "$have_torch" = 1 ]; then
    timeout 150 "$python" bench/gpu/torch_ref.py all $quick >"$out/torch.txt" 2>"$out/torch.err" ||
        { status=1; tail -5 "$out/torch.err"; }
    cat "$out/torch.txt"
else
    : >"$out/torch.txt"
fi

say "benchmark: transformer step, ours ($step_depth blocks)"
# shellcheck disable=SC2086 # two numbers
timeout 150 "$build/bench/gpu/bench-gpu-step" $step_depth $quick >"$out/ours-step.txt" \
    2>"$out/ours-step.err" || { status=1; tail -5 "$out/ours-step.err"; }
cat "$out/ours-step.txt"
cat "$out/ours-step.txt" >>"$out/ours.txt"

if [ "$have_torch" = 1 ] && [ "$have_diffusers" = 1 ]; then
    say "benchmark: transformer step, diffusers"
    # shellcheck disable=SC2086
    timeout 150 "$python" bench/gpu/torch_ref.py step $step_depth $quick >"$out/torch-step.txt" \
        2>"$out/torch-step.err" || { status=1; tail -5 "$out/torch-step.err"; }
    cat "$out/torch-step.txt"
    grep '^step' "$out/torch-step.txt" >>"$out/torch.txt"
fi

say "results"
{
    echo "# GPU benchmark, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo
    "$python" bench/gpu/report.py "$out/ours.txt" "$out/torch.txt" "$torch_note"
    echo
    echo "Step table: FLUX.1-dev widths with $step_depth double + single blocks (not the full 19 + 38)."
} | tee "$out/gpu-bench.md"
say "done, status $status"
exit $status
