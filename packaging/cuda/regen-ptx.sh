#!/bin/sh
# Regenerates compute/cuda/kernels/kernels.ptx from kernels.cu with nvcc
# (CUDA 11.8 from Debian bookworm's non-free component: apt-get install
# nvidia-cuda-toolkit). The PTX targets compute_60 so that every driver new
# enough for CUDA 11.8 JIT-compiles it, for Pascal to Hopper and later.
# The first line of kernels.ptx records the SHA-256 of the kernels.cu it was
# made from; the kernels package's tests check it.
set -eu
cd "$(dirname "$0")/../../compute/cuda/kernels"
NVCC="${NVCC:-nvcc}"
command -v "$NVCC" >/dev/null 2>&1 || { echo "regen-ptx: $NVCC not found (Debian: apt-get install nvidia-cuda-toolkit)" >&2; exit 1; }
sum=$(sha256sum kernels.cu | cut -d' ' -f1)
"$NVCC" -ptx -arch=compute_60 -O3 -o kernels.ptx.tmp kernels.cu
{ echo "// kernels.cu sha256 $sum"; echo "// $("$NVCC" --version | tail -1)"; echo "// nvcc -ptx -arch=compute_60 -O3 -o kernels.ptx kernels.cu"; cat kernels.ptx.tmp; } > kernels.ptx
rm -f kernels.ptx.tmp
echo "regen-ptx: wrote compute/cuda/kernels/kernels.ptx ($(wc -c < kernels.ptx) bytes) from kernels.cu $sum"
