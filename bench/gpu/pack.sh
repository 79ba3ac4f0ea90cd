#!/bin/bash
# Builds the gpu test and benchmark programs for one GPU architecture here (a Debian build machine
# with the project's -dev packages and CUDA 13) and packs them, with the shared libraries a bare
# CUDA image lacks (GLib, json-glib, OpenBLAS, FFTW, ...), into one archive that bench/gpu.sh
# runs with PACK=... on a machine where the project cannot be built (no -dev packages there).
#
# Usage: bench/gpu/pack.sh [ARCHS]   (default 90) -> build-gpu-pack/gpu-pack.tar.gz
# Left out on purpose, expected on the GPU machine: glibc, libstdc++, libgcc_s, the driver
# (libcuda), the CUDA 13 toolkit libraries (cudart, cuBLAS, cuBLASLt, cuFFT) and cuDNN 9
# (dlopen'ed; PyTorch's wheels bring it).
# The pack travels with the tree to the device machine, 64 MiB for both: the binaries are
# stripped, and the script fails when pack + tracked tree exceed LIMIT_MIB (default 64).
# PACK_SET=demo packs only resdit and bench-demo with the wheels in WHEELS (default
# build-gpu-pack/wheels-demo): build-gpu-pack/demo-pack.tar.gz for tools/demo/device-train.sh.
# Pure-Python wheels in build-gpu-pack/wheels/ are unpacked into the pack's python/ (for the
# diffusers column, which the CUDA image lacks):
#   pip download diffusers==0.42.1 --no-deps -d build-gpu-pack/wheels
set -eu
cd "$(dirname "$0")/../.."
top=$(pwd)
archs=${1:-90}
build="$top/build-gpu-pack"
[ -d /usr/local/cuda/bin ] && PATH="/usr/local/cuda/bin:$PATH" && export PATH
if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" -Dcuda=enabled -Dgpu_archs="$archs" -Dgui=disabled -Dbuildtype=release
fi
# the gpu suite as bench/gpu.sh runs it
tests="memory linear fp8 norms elementwise attention attention-cudnn grid image-ops vae flux sd3"
targets=""
for t in $tests; do targets="$targets tests/gpu/test-gpu-$t"; done
# shellcheck disable=SC2086 # a list of targets
# the text encoders' tests, run there on the CUDA backend (RESDIT_TEST_BACKEND=cuda)
text_tests="text-encoders text-pipeline sd3-text"
for t in $text_tests; do targets="$targets tests/text/test-$t"; done
set_name=${PACK_SET:-gpu}
stage="$build/$set_name-pack"
rm -rf "$stage"
mkdir -p "$stage/bin" "$stage/lib"
if [ "$set_name" = demo ]; then
    ninja -C "$build" bench/bench-demo app/cli/resdit
    wheels=${WHEELS:-$build/wheels-demo}
else
    ninja -C "$build" $targets bench/gpu/bench-gpu-ops bench/gpu/bench-gpu-step bench/bench-demo \
        kernels/dev/dev-attention kernels/dev/dev-cudnn-graph app/cli/resdit
    wheels=${WHEELS:-$build/wheels}
    for t in $tests; do
        cp "$build/tests/gpu/test-gpu-$t" "$stage/bin/"
    done
    for t in $text_tests; do
        cp "$build/tests/text/test-$t" "$stage/bin/test-gpu-$t"
    done
    cp "$build"/bench/gpu/bench-gpu-ops "$build"/bench/gpu/bench-gpu-step "$stage/bin/"
    cp "$build"/kernels/dev/dev-attention "$build"/kernels/dev/dev-cudnn-graph "$stage/bin/"
fi
cp "$build"/app/cli/resdit "$build"/bench/bench-demo "$stage/bin/"
strip --strip-unneeded "$stage"/bin/*
keep='^(linux-vdso|ld-linux|libc\.so|libm\.so|libdl\.so|libpthread\.so|librt\.so|libstdc\+\+|libgcc_s|libcuda\.so|libcudart|libcublas|libcublasLt|libcufft)'
for bin in "$stage"/bin/*; do
    ldd "$bin" | awk '$3 ~ /^\// {print $1, $3}' | while read -r name path; do
        if ! echo "$name" | grep -Eq "$keep"; then
            cp -L -n "$path" "$stage/lib/$name"
        fi
    done
done
if ls "$wheels"/*.whl >/dev/null 2>&1; then
    mkdir -p "$stage/python"
    for whl in "$wheels"/*.whl; do
        python3 -m zipfile -e "$whl" "$stage/python"
        echo "python: $(basename "$whl")" >>"$stage/INFO.python"
    done
fi
echo "archs $archs, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')" >"$stage/INFO"
strip --strip-unneeded "$stage"/lib/* 2>/dev/null || true
pack="$build/$set_name-pack.tar.gz"
tar -C "$build" -czf "$pack" "$set_name-pack"
ls -la "$pack"
du -sh "$stage/bin" "$stage/lib"
pack_bytes=$(stat -c %s "$pack")
tree_bytes=$(git ls-files -z | xargs -0 stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}')
limit=$((${LIMIT_MIB:-64} * 1048576))
echo "pack $((pack_bytes / 1048576)) MiB + tracked tree $((tree_bytes / 1048576)) MiB" \
    "= $(((pack_bytes + tree_bytes) / 1048576)) MiB of $((limit / 1048576)) MiB"
if [ $((pack_bytes + tree_bytes)) -gt "$limit" ]; then
    echo "too large to travel with the tree"
    exit 1
fi
