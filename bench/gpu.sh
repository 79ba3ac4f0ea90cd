#!/bin/bash
# GPU check and benchmark in ONE call on a machine with an NVIDIA GPU (written for the device
# machine of the sessions: one H200, nvcc + PyTorch + CUDA libraries, no -dev packages, no
# network, < 8 minutes, at most 8 result files). In order, each part only while the time budget
# (BUDGET seconds, default 420) leaves it enough; a part that does not fit is skipped with a line
# saying so, and results so far are saved after every part:
#   1. the programs: PACK=archive (from bench/gpu/pack.sh, built on a Debian machine) is unpacked,
#      or, without PACK, the tree is built here (needs meson, ninja, the -dev packages),
#   2. `resdit backends` (which attention path: cuDNN or ours, and why) and dev-cudnn-graph,
#   3. the gpu test suite (exit 77 = skip),
#   4. FLUX.1-dev's true architecture at 4096 x 4096 with random weights made on the device:
#      one global, fused and local step, a 4K VAE decode, the projected 35-step time
#      (bench-gpu-step --dev),
#   5. the same transformer in plain PyTorch, SDPA flash and cuDNN backends (torch_ref.py fluxdev),
#   6. op benchmarks: attention (cuDNN path and our mma.sync kernel) and the FLUX GEMMs, ours and
#      PyTorch's,
#   7. the op tests under compute-sanitizer memcheck ("device not supported" counts as a skip).
# Results: $OUT (the device tool's folder; default build-gpu/gpu-results): gpu-bench.md (the
# tables), gpu-results.tar.gz (every log and raw figure), console.log. Exit 0 unless something
# that ran failed (skips are not failures).
#
# Environment: OUT, PACK, BUDGET (seconds, default 420), BUILD (build dir without PACK, default
# build-gpu), GPU_ARCHS (default 90), PYTHON (python3), QUICK=0 (more repeats in the op benches).
set -u
cd "$(dirname "$0")/.." || exit 1
top=$(pwd)
start=$(date +%s)
budget=${BUDGET:-420}
build=${BUILD:-"$top/build-gpu"}
archs=${GPU_ARCHS:-90}
python=${PYTHON:-python3}
out=${OUT:-"$build/gpu-results"}
quick="--quick"
[ "${QUICK:-1}" = 0 ] && quick=""
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/resdit-gpu.XXXXXX")
logs="$work/results"
mkdir -p "$logs"
exec > >(tee "$out/console.log") 2>&1
[ -d /usr/local/cuda/bin ] && PATH="/usr/local/cuda/bin:$PATH" && export PATH
status=0
our_libs=${LD_LIBRARY_PATH:-}
have_bin=1
: >"$logs/ours.txt"
: >"$logs/torch.txt"

elapsed() { echo $(($(date +%s) - start)); }
left() { echo $((budget - $(elapsed))); }
say() { printf '\n== %s (%ds of %ds)\n' "$*" "$(elapsed)" "$budget"; }
# part NAME SECONDS: true when at least SECONDS of the budget remain; else a skip line.
part() {
    if [ "$(left)" -lt "$2" ]; then
        echo "SKIPPED $1: $(left)s of the ${budget}s budget left, it needs about $2s" |
            tee -a "$logs/skipped.txt"
        return 1
    fi
    say "$1"
}
# cap SECONDS: SECONDS, or less so that 20 s stay for the report.
cap() {
    local c=$1 l
    l=$(($(left) - 20))
    [ "$l" -lt "$c" ] && c=$l
    [ "$c" -lt 5 ] && c=5
    echo "$c"
}
# Runs one of our programs with its library path.
ours() { LD_LIBRARY_PATH="$our_libs" "$@"; }
# The tables and the archive as they stand (after every part: a kill keeps what was done).
save() {
    {
        echo "# GPU run, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(elapsed)s of ${budget}s"
        echo
        [ -f "$logs/backends.txt" ] && sed 's/^/    /' "$logs/backends.txt" && echo
        [ -f "$logs/tests-summary.txt" ] && cat "$logs/tests-summary.txt" && echo
        "$python" bench/gpu/report.py "$logs/ours.txt" "$logs/torch.txt" "${torch_note:-}" 2>&1
        if [ -s "$logs/skipped.txt" ]; then
            echo
            sed 's/^/- /' "$logs/skipped.txt"
        fi
    } >"$out/gpu-bench.md"
    tar -C "$work" -czf "$out/gpu-results.tar.gz" results 2>/dev/null
}

say "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null ||
    echo "nvidia-smi not found"
command -v nvcc >/dev/null && nvcc --version | tail -1
have_torch=1
torch_note=""
if ! "$python" -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
    have_torch=0
    torch_note="PyTorch with CUDA not available: torch columns empty"
    echo "note: $torch_note"
fi

# Where the programs are: $bin/<name>.
if [ -n "${PACK:-}" ]; then
    say "unpack $PACK"
    tar -C "$work" -xzf "$PACK" || { echo "cannot unpack $PACK"; exit 1; }
    bin="$work/gpu-pack/bin"
    cat "$work/gpu-pack/INFO"
    # CUDA's libraries: the toolkit's, then the pip wheels PyTorch brought (cuDNN among them).
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
    our_libs="$sys_libs:$work/gpu-pack/lib:/usr/local/cuda/lib64:/usr/local/cuda/lib:$cuda_libs"
    missing=$(LD_LIBRARY_PATH="$our_libs" ldd "$bin/test-gpu-memory" | grep 'not found')
    if [ -n "$missing" ]; then
        echo "libraries not found on this machine (our programs cannot run; torch parts still do):"
        echo "$missing" | tee "$logs/missing-libraries.txt"
        have_bin=0
        status=1
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
            -Dbuildtype=release >"$logs/build.log" 2>&1 ||
            { tail -30 "$logs/build.log"; echo "(or build elsewhere: bench/gpu/pack.sh, PACK=)"; exit 1; }
    fi
    ninja -C "$build" >>"$logs/build.log" 2>&1 || { tail -40 "$logs/build.log"; exit 1; }
    echo "nvcc warnings: $(grep -c 'warning' "$logs/build.log")"
    bin="$work/bin"
    mkdir -p "$bin"
    cp "$build"/tests/gpu/test-gpu-* "$build/bench/gpu/bench-gpu-ops" \
        "$build/bench/gpu/bench-gpu-step" "$build/kernels/dev/dev-attention" \
        "$build/kernels/dev/dev-cudnn-graph" "$build/app/cli/resdit" "$bin/"
fi
export G_TEST_SRCDIR="$top/tests" G_TEST_BUILDDIR="$bin" G_DEBUG=gc-friendly OMP_NUM_THREADS=8
tests="memory linear fp8 norms elementwise attention attention-cudnn grid image-ops vae flux sd3"
save

# Runs each test program; 77 is a skip, and so are compute-sanitizer's "device not supported" and
# a timeout under it.
# $1: label, $2: wrapper (may be empty), $3: seconds each, $4: seconds for all.
run_tests() {
    local label=$1 wrapper=$2 limit=$3 total=$4 rc name passed=0 failed=0 skipped=0 t0 log
    shift 4
    t0=$(date +%s)
    for name in "$@"; do
        log="$logs/$label-$name.log"
        if [ $(($(date +%s) - t0 + 10)) -gt "$total" ] || [ "$(left)" -lt 30 ]; then
            skipped=$((skipped + 1))
            echo "  SKIP  gpu-$name: out of time for this part" | tee -a "$logs/skipped.txt"
            continue
        fi
        # shellcheck disable=SC2086 # the wrapper is a command line
        ours timeout "$limit" $wrapper "$bin/test-gpu-$name" >"$log" 2>&1
        rc=$?
        if [ "$rc" != 0 ] && grep -qi 'device not supported\|device is not supported' "$log"; then
            rc=77
            echo "SKIP: compute-sanitizer: device not supported" >>"$log"
        fi
        if [ -n "$wrapper" ] && [ "$rc" = 124 ]; then # memcheck is 10-100x slower: not a failure
            rc=77
            echo "SKIP: timed out (${limit}s) under $wrapper" >>"$log"
        fi
        case $rc in
        0) passed=$((passed + 1)); echo "  ok    gpu-$name" ;;
        77) skipped=$((skipped + 1))
            echo "  SKIP  gpu-$name: $(grep -m1 SKIP "$log")" ;;
        *) failed=$((failed + 1)); status=1
           echo "  FAIL  gpu-$name (exit $rc), last lines of $label-$name.log:"
           tail -8 "$log" | sed 's/^/        /' ;;
        esac
    done
    echo "$label: $passed passed, $failed failed, $skipped skipped" |
        tee -a "$logs/tests-summary.txt"
}

if [ "$have_bin" = 1 ] && part "resdit backends, cuDNN graph" 20; then
    ours timeout 60 "$bin/resdit" backends 2>&1 | tee "$logs/backends.txt"
    ours timeout 60 "$bin/dev-cudnn-graph" 2>&1 | tee "$logs/dev-cudnn-graph.txt"
    save
fi

if [ "$have_bin" = 1 ] && part "gpu test suite" 60; then
    # shellcheck disable=SC2086
    run_tests test "" 90 "$(cap 150)" $tests
    save
fi

if [ "$have_bin" = 1 ] && part "FLUX.1-dev at 4096^2, ours (bench-gpu-step --dev)" 90; then
    limit=$(cap 170)
    ours timeout "$limit" "$bin/bench-gpu-step" --dev --budget $((limit - 40)) \
        >"$logs/fluxdev-ours.txt" 2>"$logs/fluxdev-ours.err"
    rc=$?
    [ "$rc" != 0 ] && [ "$rc" != 77 ] && { status=1; tail -5 "$logs/fluxdev-ours.err"; }
    [ "$rc" = 77 ] && echo "skipped: $(tail -1 "$logs/fluxdev-ours.err")"
    cat "$logs/fluxdev-ours.txt"
    grep '^fluxdev' "$logs/fluxdev-ours.txt" >>"$logs/ours.txt"
    save
fi

if [ "$have_torch" = 1 ] && part "FLUX.1-dev at 4096^2, PyTorch (flash, cuDNN)" 60; then
    patches=$(awk '$1 == "fluxdev" && $2 == "patches" {print $3, $4, $5}' "$logs/ours.txt")
    limit=$(cap 140)
    # shellcheck disable=SC2086 # three numbers
    timeout "$limit" "$python" bench/gpu/torch_ref.py fluxdev ${patches:+--patches $patches} \
        --budget $((limit - 35)) >"$logs/fluxdev-torch.txt" 2>"$logs/fluxdev-torch.err" ||
        { status=1; tail -5 "$logs/fluxdev-torch.err"; }
    cat "$logs/fluxdev-torch.txt"
    grep '^fluxdev-torch' "$logs/fluxdev-torch.txt" >>"$logs/torch.txt"
    save
fi

if [ "$have_bin" = 1 ] && part "op benchmarks, ours (cuDNN path, RESDIT_ATTENTION=ours, its variants 16-lds32, 16)" 40; then
    ours timeout "$(cap 60)" "$bin/bench-gpu-ops" all $quick >"$logs/ops-ours.txt" \
        2>"$logs/ops-ours.err" || { rc=$?; [ "$rc" != 77 ] && status=1; tail -3 "$logs/ops-ours.err"; }
    cat "$logs/ops-ours.txt"
    grep -v '^fluxdev' "$logs/ops-ours.txt" >>"$logs/ours.txt"
    RESDIT_ATTENTION=ours ours timeout "$(cap 40)" "$bin/bench-gpu-ops" attention $quick \
        >"$logs/ops-ours-mma.txt" 2>"$logs/ops-ours-mma.err" || tail -3 "$logs/ops-ours-mma.err"
    cat "$logs/ops-ours-mma.txt"
    sed -n 's/^attention /attention-mma /p' "$logs/ops-ours-mma.txt" >>"$logs/ours.txt"
    # the kernel as first measured (16 rows per warp, K by 32-bit loads), then with K by ldmatrix
    for variant in 16-lds32 16; do
        log="$logs/ops-ours-mma-$variant"
        RESDIT_ATTENTION=ours RESDIT_MMA_VARIANT=$variant ours timeout "$(cap 40)" \
            "$bin/bench-gpu-ops" attention $quick >"$log.txt" 2>"$log.err" || tail -3 "$log.err"
        cat "$log.txt"
        sed -n "s/^attention /attention-mma-$variant /p" "$log.txt" >>"$logs/ours.txt"
    done
    save
fi

if [ "$have_torch" = 1 ] && part "op benchmarks, PyTorch" 40; then
    timeout "$(cap 60)" "$python" bench/gpu/torch_ref.py all $quick >"$logs/ops-torch.txt" \
        2>"$logs/ops-torch.err" || { status=1; tail -5 "$logs/ops-torch.err"; }
    cat "$logs/ops-torch.txt"
    cat "$logs/ops-torch.txt" >>"$logs/torch.txt"
    save
fi

if [ "$have_bin" = 1 ] && command -v compute-sanitizer >/dev/null 2>&1; then
    if part "op tests under compute-sanitizer (memcheck)" 60; then
        # shellcheck disable=SC2086
        # our kernels only: cuDNN's own are not ours to check (and slow under memcheck)
        RESDIT_ATTENTION=ours RESDIT_UNDER_MEMCHECK=1 run_tests sanitizer \
            "compute-sanitizer --tool memcheck --leak-check no --error-exitcode 99" \
            60 "$(cap 120)" attention linear norms elementwise grid memory image-ops
        grep -h 'ERROR SUMMARY' "$logs"/sanitizer-*.log 2>/dev/null | sort | uniq -c
        save
    fi
elif [ "$have_bin" = 1 ]; then
    echo "compute-sanitizer not found: skipped" | tee -a "$logs/skipped.txt"
fi

say "results"
save
cat "$out/gpu-bench.md"
say "done, status $status"
exit $status
