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
#   3b. the demo model end to end on the CPU and on CUDA (same seed, pixel differences),
#   3c. the demo model's ablation over 32 seeds at 4x, 8x and 1:2 (bench-demo on CUDA),
#   4. FLUX.1-dev's true architecture at 4096 x 4096 with random weights made on the device:
#      one global, fused and local step, a 4K VAE decode, the projected 35-step time
#      (bench-gpu-step --dev),
#   4b. the same with fp8 E4M3 weights (fp8 GEMMs on sm_89+; bench-gpu-step --dev --fp8),
#   5. the same transformer in plain PyTorch, SDPA flash and cuDNN backends (torch_ref.py fluxdev),
#   6. op benchmarks: attention (cuDNN path and our mma.sync kernel) and the FLUX GEMMs, ours and
#      PyTorch's,
#   7. the op tests under compute-sanitizer memcheck ("device not supported" counts as a skip).
# Results: $OUT (the device tool's folder; default build-gpu/gpu-results): gpu-bench.md (the
# tables), gpu-results.tar.gz (every log and raw figure), console.log. Exit 0 unless something
# that ran failed (skips are not failures).
#
# Environment: OUT, PACK, BUDGET (seconds, default 420), BUILD (build dir without PACK, default
# build-gpu), GPU_ARCHS (default 90), PYTHON (python3), QUICK=0 (more repeats in the op benches),
# SKIP_PARTS (an extended regex: parts whose heading matches are skipped, e.g. 'FLUX.1-dev' for a
# rerun that needs no 4K steps).
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
    if [ -n "${SKIP_PARTS:-}" ] && echo "$1" | grep -qiE "$SKIP_PARTS"; then
        echo "SKIPPED $1: SKIP_PARTS='$SKIP_PARTS'" | tee -a "$logs/skipped.txt"
        return 1
    fi
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
        [ -f "$logs/e2e.txt" ] && cat "$logs/e2e.txt" && echo
        [ -f "$logs/demo.txt" ] && sed 's/^/    /' "$logs/demo.txt" && echo
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
    for t in text-encoders text-pipeline sd3-text; do
        cp "$build/tests/text/test-$t" "$bin/test-gpu-$t"
    done
fi
export G_TEST_SRCDIR="$top/tests" G_TEST_BUILDDIR="$bin" G_DEBUG=gc-friendly OMP_NUM_THREADS=8
# the gpu suite, then the text encoders' own tests on the CUDA backend (packed as test-gpu-*)
tests="memory linear fp8 norms elementwise attention attention-cudnn grid image-ops vae flux sd3
text-encoders text-pipeline sd3-text"
export RESDIT_TEST_BACKEND=cuda
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

# The same seed on both backends gives the same picture up to rounding (docs: METHOD.md, "What
# must hold"): the demo model end to end, at its base size and at 4x with the ResDiT schedule.
if [ "$have_bin" = 1 ] && ! grep -q '^cuda  usable' "$logs/backends.txt" 2>/dev/null; then
    echo "end to end: skipped, no usable CUDA backend" | tee -a "$logs/skipped.txt"
elif [ "$have_bin" = 1 ] && part "end to end: the demo model, CPU and CUDA" 45; then
    e2e="$logs/e2e"
    mkdir -p "$e2e"
    for size in 256 1024; do
        for backend in cpu cuda; do
            RESDIT_DATA_DIR="$top/data" ours timeout "$(cap 40)" "$bin/resdit" generate \
                --model "$top/data/models/resdit-demo" --backend "$backend" --size "$size" \
                --seed 7 -o "$e2e/$backend-$size.png" \
                --prompt "a yellow sun in a blue sky over green hills by a lake, two houses" \
                >"$e2e/$backend-$size.log" 2>&1 || { status=1; tail -3 "$e2e/$backend-$size.log"; }
            grep -h 'wrote' "$e2e/$backend-$size.log"
        done
        "$python" - "$e2e/cpu-$size.png" "$e2e/cuda-$size.png" <<'PY' 2>&1 | tee -a "$logs/e2e.txt"
import sys
import numpy as np
from PIL import Image
a, b = (np.asarray(Image.open(p).convert("RGB"), dtype=np.int16) for p in sys.argv[1:3])
d = np.abs(a - b)
print(f"e2e {a.shape[1]}x{a.shape[0]}: CPU vs CUDA, mean |diff| {d.mean():.2f} of 255, "
      f"largest {d.max()}, pixels off by more than 16: {(d.max(axis=2) > 16).mean() * 100:.2f} %")
PY
    done
    save
fi

# The demo model's ablation (bench/bench-demo.c) over 32 seeds on CUDA: 4x, 8x and 1:2 at 4x
# the area, each in seconds here against hours on a 2-core CPU. DEMO_DATA: data folders (':'
# between them) whose models/resdit-demo are the ones to measure (default the tree's data/).
if [ "$have_bin" = 1 ] && grep -q '^cuda  usable' "$logs/backends.txt" 2>/dev/null &&
    part "the demo model's ablation on CUDA (bench-demo, 32 seeds)" 60; then
    IFS=: read -r -a demo_dirs <<<"${DEMO_DATA:-$top/data}"
    for data in "${demo_dirs[@]}"; do
        case $data in /*) ;; *) data="$top/$data" ;; esac
        name=$(basename "$(dirname "$data")")-$(basename "$data")
        demo="$logs/demo-$name"
        mkdir -p "$demo"
        echo "demo model of $data" | tee -a "$logs/demo.txt"
        for run in "1024x1024 direct,pe-interp,resdit,no-pes,no-pipe,no-psf,no-gws" \
            "2048x2048 direct,pe-interp,resdit" "512x1024 direct,pe-interp,resdit" \
            "1024x512 direct,pe-interp,resdit" "256x256 resdit"; do
            set -- $run
            [ "$(left)" -lt 40 ] && { echo "demo $name $1: out of time" | tee -a "$logs/skipped.txt"; continue; }
            RESDIT_DATA_DIR="$data" ours timeout "$(cap 90)" "$bin/bench-demo" --backend cuda \
                --seeds 32 --size "$1" --variants "$2" --grid "$demo/grid-$1.png" \
                --grid-seeds 8 --thumb 128 >"$demo/demo-$1.txt" 2>&1 ||
                { status=1; tail -3 "$demo/demo-$1.txt"; }
            tee -a "$logs/demo.txt" <"$demo/demo-$1.txt"
        done
    done
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

if [ "$have_bin" = 1 ] && part "fp8 weights: FLUX.1-dev at 4096^2 (bench-gpu-step --dev --fp8)" 60; then
    limit=$(cap 100)
    ours timeout "$limit" "$bin/bench-gpu-step" --dev --fp8 --budget $((limit - 30)) \
        >"$logs/fluxdev-fp8.txt" 2>"$logs/fluxdev-fp8.err"
    rc=$?
    [ "$rc" != 0 ] && [ "$rc" != 77 ] && { status=1; tail -5 "$logs/fluxdev-fp8.err"; }
    cat "$logs/fluxdev-fp8.txt"
    grep '^fluxdev-fp8' "$logs/fluxdev-fp8.txt" >>"$logs/ours.txt"
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
            60 "$(cap 120)" attention linear norms elementwise grid memory image-ops fp8 vae flux sd3
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
