#!/bin/bash
# Trains the demo model on a GPU machine in one call and measures it there (issue 23): the
# committed tokenizers and text encoders, a VAE (VAE_DIR: a candidate trained here, carried;
# default the committed one), latents at the base size and at other sizes encoded on the GPU,
# the transformer resumed from the committed one for MINUTES with multi-size, PES-view and
# crop-view batches, exported, then bench-demo on CUDA over 32 seeds at 4x, 8x and 1:2 (and 4x
# with --lowfreq-noise 0.75).
#
# Needs the demo pack (bench/gpu/pack.sh with PACK_SET=demo: resdit, bench-demo, their libraries
# and the pinned pure-Python stack that the device's PyTorch lacks). Results under $OUT:
#   train.txt          every phase's log and bench-demo's tables
#   resdit-demo.tar.gz the exported model folder (copy into data/models/ to use it)
#   grid-*.png         bench-demo's picture grids (4x, 8x, 1:2, 4x with low-frequency noise)
# Usage (HACKING.md, "Training the demo model on a device"):
#   PACK=build-gpu-pack/demo-pack.tar.gz [VAE_DIR=...] [MINUTES=5] tools/demo/device-train.sh
set -u
cd "$(dirname "$0")/../.."
top=$(pwd)
out=${OUT:-/tmp/demo-out}
mkdir -p "$out"
work=$(mktemp -d)
python=${PYTHON:-python3}
minutes=${MINUTES:-5}
device=${DEVICE:-cuda} # DEVICE=cpu with small COUNT / SIZES_COUNT / MINUTES: a dry run here
count=${COUNT:-4000}
sizes_count=${SIZES_COUNT:-600}
log="$out/train.txt"
say() { echo "== $(date +%T) $*" | tee -a "$log"; }

tar -C "$work" -xzf "${PACK:?PACK=demo-pack.tar.gz}" || { echo "cannot unpack $PACK"; exit 1; }
export PYTHONPATH="$work/demo-pack/python${PYTHONPATH:+:$PYTHONPATH}"
export RESDIT_DEMO_WORK="$work/train"
data="$work/data"
model="$data/models/resdit-demo"
export RESDIT_DEMO_OUT="$model"
train() { say "train_demo.py $*"; "$python" tools/demo/train_demo.py "$@" --threads 8 >>"$log" 2>&1; }

vae_opt=()
[ -n "${VAE_DIR:-}" ] && vae_opt=(--vae "$VAE_DIR")
train from-model --source "$top/data/models/resdit-demo" "${vae_opt[@]}" &&
    train latents --count "$count" --device "$device" &&
    train sizes --count "$sizes_count" --device "$device" &&
    train transformer --resume --minutes "$minutes" --batch 256 --lr 1e-3 --sizes-share 0.5 \
        --pes-share 0.5 --crop-share 0.5 --caption-dropout 0.1 --device "$device" &&
    train export --cfg-scale 4 || { tail -20 "$log"; exit 1; }
tar -C "$data/models" -czf "$out/resdit-demo.tar.gz" resdit-demo
cp -r "$top/data/tokenizers" "$data/"

say "bench-demo on $device"
libs=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu:$work/demo-pack/lib:/usr/local/cuda/lib64
status=0
for run in "1024x1024 direct,pe-interp,resdit,no-pes,no-pipe,no-psf,no-gws" \
    "2048x2048 direct,pe-interp,resdit" "512x1024 direct,pe-interp,resdit" \
    "1024x1024 direct,pe-interp,resdit 0.75" "256x256 resdit"; do
    set -- $run # size, variants, low-frequency noise (0: plain noise)
    grid=()
    [ "$1" != 256x256 ] && grid=(--grid "$out/grid-$1${3:+-lowfreq}.png" --grid-seeds 8 --thumb 128)
    RESDIT_DATA_DIR="$data" LD_LIBRARY_PATH="$libs" timeout 90 "$work/demo-pack/bin/bench-demo" \
        --backend "$device" --seeds "${SEEDS:-32}" --size "$1" --variants "$2" \
        --lowfreq-noise "${3:-0}" "${grid[@]}" \
        >>"$log" 2>&1 ||
        { status=1; tail -3 "$log"; }
done
tail -40 "$log"
rm -rf "$work"
exit $status
