#!/bin/sh
# Resource usage of every kernel of the CUDA backend as ptxas reports it (nvcc -Xptxas -v):
# registers per thread, then static shared memory, stack and spill stores/loads in bytes where not
# zero, per architecture. Prints a Markdown table (kernels/README.md keeps one). Needs nvcc and
# c++filt, no GPU. A kernel defined in a header is listed once per file that compiles it.
#   kernels/dev/ptxas-usage.sh BUILD_DIR [ARCH...]      (default archs: 80 86 89 90)
# BUILD_DIR is a configured build folder (for config.h).
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "$1" && pwd)
shift
archs=${*:-80 86 89 90}
gencode=""
for a in $archs; do
    gencode="$gencode -gencode arch=compute_$a,code=sm_$a"
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$top/kernels"
for cu in *.cu; do
    # shellcheck disable=SC2086,SC2046 # $gencode and pkg-config are lists of words
    nvcc -std=c++17 --expt-relaxed-constexpr -diag-suppress=1217 -O2 $gencode \
        $(pkg-config --cflags glib-2.0) -I"$build" -I"$top/engine" -I"$top/engine/resdit" -I"$top/kernels" \
        -Xptxas -v -c "$cu" -o "$tmp/out.o" 2>&1 | sed "s|^|$cu |"
done | c++filt | awk -v archs="$archs" '
    / Compiling entry function / {
        file = $1
        match($0, /function .* for /)
        name = substr($0, RSTART + 10, RLENGTH - 16)
        sub(/\([^()]*\)$/, "", name) # the parameter list
        sub(/^void /, "", name)
        match($0, /for .sm_[0-9a-z]+/)
        arch = substr($0, RSTART + 8, RLENGTH - 8)
        stack = spst = spld = 0
        next
    }
    / bytes stack frame/ {
        stack = $2; spst = $6; spld = $10
        next
    }
    / Used [0-9]+ registers/ {
        regs = $0; sub(/.*Used /, "", regs); sub(/ registers.*/, "", regs)
        cell = regs
        if (match($0, /[0-9]+ bytes smem/)) {
            smem = substr($0, RSTART, RLENGTH); sub(/ bytes smem/, "", smem)
            if (smem > 0) cell = cell ", smem " smem
        }
        if (stack > 0) cell = cell ", stack " stack
        if (spst > 0 || spld > 0) cell = cell ", **spills " spst "/" spld "**"
        key = "`" name "` | " file
        if (!(key in seen)) { seen[key] = 1; keys[n++] = key }
        usage[key, arch] = cell
    }
    END {
        na = split(archs, a, " ")
        head = "| kernel | file |"; rule = "|---|---|"
        for (i = 1; i <= na; i++) { head = head " sm_" a[i] " |"; rule = rule "---|" }
        print head; print rule
        for (k = 0; k < n; k++) {
            line = "| " keys[k] " |"
            for (i = 1; i <= na; i++) line = line " " usage[keys[k], a[i]] " |"
            print line
        }
    }
'
