#!/bin/bash
# GPU check and benchmark for a machine with an NVIDIA GPU (written for one H100, < 8 minutes):
#   1. builds with CUDA for this GPU only (meson option gpu_archs, default 90), or, with
#      PACK=archive, unpacks programs built elsewhere by bench/gpu/pack.sh (for GPU machines
#      without the project's -dev packages),
#   2. runs the gpu test suite, then the op tests again under compute-sanitizer (memcheck) when
#      it is installed,
#   3. times attention (4608 / 16896 / 37376 / 66048 tokens, 24 heads x 128) and the six FLUX
#      GEMM shapes at 4096^2 through our backend and through PyTorch (SDPA's fastest backend,
#      F.linear), with peak memory,
#   4. times one transformer step with FLUX.1-dev widths and random weights (reduced depth:
#      STEP_DEPTH double + single blocks, default "1 2") at 1024^2 / 2048^2 / 4096^2 in modes
#      direct, global, local and fused, against diffusers' FluxTransformer2DModel of the same
#      depth when diffusers is installed, and prints the tables.
# Results go to $OUT (when set) or BUILD/gpu-results/: logs, raw timings, gpu-bench.md.
#
# Environment: BUILD (build dir, default build-gpu), GPU_ARCHS (default 90), PACK (archive from
# bench/gpu/pack.sh), PYTHON (python3), QUICK=1 (one timed repeat per case), STEP_DEPTH ("1 2").
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
our_libs=${LD_LIBRARY_PATH:-}

# Runs one of our programs with its library path.
ours() { LD_LIBRARY_PATH="$our_libs" "$@"; }
op_tests="memory linear norms elementwise attention grid"

say() { printf '\n== %s (%ds)\n' "$*" $(($(date +%s) - start)); }

say "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null ||
    echo "nvidia-smi not found"
command -v nvcc >/dev/null && nvcc --version | tail -1
have_torch=1
have_diffusers=1
torch_note=""
if ! "$python" -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
    have_torch=0
    torch_note="PyTorch with CUDA not available: torch columns empty"
fi
if ! "$python" -c 'import diffusers' 2>/dev/null; then
    have_diffusers=0
    torch_note="${torch_note:+$torch_note; }diffusers not installed: no diffusers column in the step table"
fi
[ -n "$torch_note" ] && echo "note: $torch_note"

# Where the programs are: $bin/<name>.
if [ -n "${PACK:-}" ]; then
    say "unpack $PACK"
    rm -rf "$out/gpu-pack"
    tar -C "$out" -xzf "$PACK" || exit 1
    bin="$out/gpu-pack/bin"
    cat "$out/gpu-pack/INFO"
    # The CUDA 13 libraries: the toolkit's, else the pip wheels PyTorch brought.
    cuda_libs=$("$python" - <<'EOF' 2>/dev/null
import glob, os
try:
    import nvidia
    roots = [os.path.dirname(p) for p in nvidia.__path__]
except ImportError:
    roots = []
print(":".join(sorted({os.path.dirname(f) for r in roots
                       for f in glob.glob(os.path.join(r, "nvidia", "**", "lib*.so*"),
                                          recursive=True)})))
EOF
)
    # For our programs only (never for python): the machine's own libraries first, the pack's
    # where the machine has none, then CUDA's.
    sys_libs=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu
    our_libs="$sys_libs:$out/gpu-pack/lib:/usr/local/cuda/lib64:/usr/local/cuda/lib:$cuda_libs"
    missing=$(LD_LIBRARY_PATH="$our_libs" ldd "$bin/test-gpu-memory" | grep 'not found')
    if [ -d "$out/gpu-pack/python" ]; then # wheels brought along (diffusers)
        export PYTHONPATH="$out/gpu-pack/python${PYTHONPATH:+:$PYTHONPATH}"
        cat "$out/gpu-pack/INFO.python" 2>/dev/null
    fi
    if [ -n "$missing" ]; then
        echo "libraries not found on this machine:"
        echo "$missing"
        exit 1
    fi
else
    say "build (gpu_archs=$archs)"
    missing=""
    for tool in nvcc meson ninja pkg-config; do
        command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
    done
    if [ -n "$missing" ]; then
        echo "missing tools:$missing; build elsewhere with bench/gpu/pack.sh and rerun with PACK="
        exit 1
    fi
    if [ ! -f "$build/build.ninja" ]; then
        meson setup "$build" -Dcuda=enabled -Dgpu_archs="$archs" -Dgui=disabled \
            -Dbuildtype=release >"$out/build.log" 2>&1 ||
            { tail -30 "$out/build.log"; echo "(or build elsewhere: bench/gpu/pack.sh, PACK=)"; exit 1; }
    fi
    ninja -C "$build" >>"$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }
    echo "nvcc warnings: $(grep -c 'warning' "$out/build.log")"
    bin="$out/bin"
    mkdir -p "$bin"
    for t in $op_tests flux; do cp "$build/tests/gpu/test-gpu-$t" "$bin/"; done
    cp "$build/bench/gpu/bench-gpu-ops" "$build/bench/gpu/bench-gpu-step" \
        "$build/kernels/dev/dev-attention" "$bin/"
fi
if [ "$have_diffusers" = 0 ] && "$python" -c 'import diffusers' 2>/dev/null; then
    have_diffusers=1
    torch_note=${torch_note//diffusers not installed: no diffusers column in the step table/}
    torch_note=${torch_note%; }
fi
export G_TEST_SRCDIR="$top/tests" G_TEST_BUILDDIR="$bin" G_DEBUG=gc-friendly OMP_NUM_THREADS=8

# Runs each test program; 77 is a skip. $1: label, $2: wrapper (may be empty), $3: seconds each.
run_tests() {
    local label=$1 wrapper=$2 limit=$3 rc name passed=0 failed=0 skipped=0
    shift 3
    for name in "$@"; do
        # shellcheck disable=SC2086 # the wrapper is a command line
        ours timeout "$limit" $wrapper "$bin/test-gpu-$name" >"$out/$label-$name.log" 2>&1
        rc=$?
        case $rc in
        0) passed=$((passed + 1)); echo "  ok    gpu-$name" ;;
        77) skipped=$((skipped + 1)); echo "  SKIP  gpu-$name: $(grep -m1 SKIP "$out/$label-$name.log")" ;;
        *) failed=$((failed + 1)); status=1
           echo "  FAIL  gpu-$name (exit $rc), last lines of $out/$label-$name.log:"
           tail -8 "$out/$label-$name.log" | sed 's/^/        /' ;;
        esac
    done
    echo "  $label: $passed passed, $failed failed, $skipped skipped"
}

say "gpu test suite"
# shellcheck disable=SC2086
run_tests test "" 240 $op_tests flux

elapsed=$(($(date +%s) - start))
if [ "$elapsed" -gt 200 ]; then
    echo "compute-sanitizer skipped: ${elapsed}s gone, the 8-minute budget needs the rest"
elif command -v compute-sanitizer >/dev/null 2>&1; then
    say "op tests under compute-sanitizer (memcheck)"
    # The whole-model test is thousands of small launches (minutes under memcheck) and runs no
    # kernel the op tests do not.
    # shellcheck disable=SC2086
    run_tests sanitizer "compute-sanitizer --tool memcheck --leak-check no --error-exitcode 99" \
        60 $op_tests
    grep -h 'ERROR SUMMARY' "$out"/sanitizer-*.log | sort | uniq -c
else
    echo "compute-sanitizer not found: skipped"
fi

say "benchmark: ours"
ours timeout 150 "$bin/bench-gpu-ops" all $quick >"$out/ours.txt" 2>"$out/ours.err" ||
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
ours timeout 150 "$bin/bench-gpu-step" $step_depth $quick >"$out/ours-step.txt" \
    2>"$out/ours-step.err" || { status=1; tail -5 "$out/ours-step.err"; }
cat "$out/ours-step.txt"
grep '^step' "$out/ours-step.txt" >>"$out/ours.txt"

if [ "$have_torch" = 1 ] && [ "$have_diffusers" = 1 ]; then
    say "benchmark: transformer step, diffusers"
    # shellcheck disable=SC2086
    timeout 150 "$python" bench/gpu/torch_ref.py step $step_depth $quick >"$out/torch-step.txt" \
        2>"$out/torch-step.err" || { status=1; tail -5 "$out/torch-step.err"; }
    cat "$out/torch-step.txt"
    grep '^step' "$out/torch-step.txt" >>"$out/torch.txt"
fi

elapsed=$(($(date +%s) - start))
if [ "$elapsed" -lt 380 ]; then
    say "attention kernel versions (kernels/dev/attention.cu): 2 = backend, 3 = ldmatrix K"
    for version in 2 3; do
        ours timeout 30 "$bin/dev-attention" $version 128 2>&1 | tee "$out/dev-attention-$version.txt"
    done
else
    echo "attention kernel versions skipped: ${elapsed}s gone"
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
