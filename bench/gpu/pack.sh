#!/bin/bash
# Builds the gpu test and benchmark programs for one GPU architecture here (a Debian build machine
# with the project's -dev packages and CUDA 13) and packs them, with the shared libraries a bare
# CUDA image lacks (GLib, json-glib, OpenBLAS, FFTW, ...), into one archive that bench/gpu.sh
# runs with PACK=... on a machine where the project cannot be built (no -dev packages there).
#
# Usage: bench/gpu/pack.sh [ARCHS]   (default 90) -> build-gpu-pack/gpu-pack.tar.gz
# Left out on purpose, expected on the GPU machine: glibc, libstdc++, libgcc_s, the driver
# (libcuda) and the CUDA 13 toolkit libraries (cudart, cuBLAS, cuBLASLt, cuFFT).
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
ninja -C "$build" tests/gpu/test-gpu-memory tests/gpu/test-gpu-linear tests/gpu/test-gpu-norms \
    tests/gpu/test-gpu-elementwise tests/gpu/test-gpu-attention tests/gpu/test-gpu-grid \
    tests/gpu/test-gpu-flux bench/gpu/bench-gpu-ops bench/gpu/bench-gpu-step \
    kernels/dev/dev-attention kernels/dev/dev-norms kernels/dev/dev-elementwise

stage="$build/gpu-pack"
rm -rf "$stage"
mkdir -p "$stage/bin" "$stage/lib"
for t in memory linear norms elementwise attention grid flux; do
    cp "$build/tests/gpu/test-gpu-$t" "$stage/bin/"
done
cp "$build"/bench/gpu/bench-gpu-ops "$build"/bench/gpu/bench-gpu-step "$stage/bin/"
cp "$build"/kernels/dev/dev-attention "$build"/kernels/dev/dev-norms \
    "$build"/kernels/dev/dev-elementwise "$stage/bin/"
keep='^(linux-vdso|ld-linux|libc\.so|libm\.so|libdl\.so|libpthread\.so|librt\.so|libstdc\+\+|libgcc_s|libcuda\.so|libcudart|libcublas|libcublasLt|libcufft)'
for bin in "$stage"/bin/*; do
    ldd "$bin" | awk '$3 ~ /^\// {print $1, $3}' | while read -r name path; do
        if ! echo "$name" | grep -Eq "$keep"; then
            cp -L -n "$path" "$stage/lib/$name"
        fi
    done
done
if ls "$build"/wheels/*.whl >/dev/null 2>&1; then
    mkdir -p "$stage/python"
    for whl in "$build"/wheels/*.whl; do
        python3 -m zipfile -e "$whl" "$stage/python"
        echo "python: $(basename "$whl")" >>"$stage/INFO.python"
    done
fi
echo "archs $archs, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')" >"$stage/INFO"
tar -C "$build" -czf "$build/gpu-pack.tar.gz" gpu-pack
ls -la "$build/gpu-pack.tar.gz"
du -sh "$stage/bin" "$stage/lib"
