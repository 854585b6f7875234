#!/usr/bin/env bash
# Compiles — never runs — the code behind the cuda build tag, so that it
# cannot rot on machines without a GPU: go vet -tags cuda on the CUDA
# backend and the app, and the CUDA test binary (go test -c). Needs only
# CUDA's cuda.h and the link stub libcuda.so (the binaries link libcuda.so.1,
# which gorgonia.org/cu requires; cuBLAS is loaded at run time).
#
#   CUDA_CHECK=0      skip entirely
#   CUDA_CHECK=1      (default) take cuda.h and the libcuda stub from the
#                     system if present, else from the nvidia-cuda-dev .deb
#                     of Debian's non-free component: downloaded once (~770 MB,
#                     not installed) and only those two files kept, in
#                     $CUDA_HEADERS_DIR (default ~/.cache/saescope/cuda-headers;
#                     keep it between CI runs and nothing is downloaded again)
#   CUDA_CHECK=light  the same, ignoring a system installation
#   CUDA_CHECK=full   apt-get install nvidia-cuda-dev (~1.5 GB download,
#                     ~2.8 GB installed; the headers and stubs land in /usr)
#
# The non-free component is enabled by adding a sources entry for the
# release's main suite with "contrib non-free", on the same mirror (and
# keyring) as the system's existing Debian entry.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."

mode="${CUDA_CHECK:-1}"
if [ "$mode" = "0" ]; then
  echo "cuda: CUDA_CHECK=0, cuda build not checked"
  exit 0
fi

. "$here/cuda-env.sh"

echo "== go vet -tags cuda"
go vet -tags cuda ./compute/... ./app/
echo "== go test -tags cuda -c (compile only: the test binary needs a GPU to run)"
out=$(mktemp)
go test -tags cuda -c -o "$out" ./compute/cuda/
rm -f "$out"
echo "cuda: the cuda build compiles"
