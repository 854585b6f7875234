#!/usr/bin/env bash
# Builds, on a machine without a GPU, what a GPU machine without Go or
# network needs to check the CUDA backend, into one folder (default
# build/cuda-device, ignored by git), under 64 MiB:
#
#   run-on-device.sh   the script to run there (see its header)
#   payload.tar.gz     cuda.test (go test -c -tags cuda ./compute/cuda/),
#                      saescope-cuda (go build -tags cuda ./app), both
#                      stripped and -trimpath; the parity fixtures at the
#                      path the trimmed test binary looks for them
#                      (github.com/saescope/saescope/testdata/fixtures,
#                      relative to its working folder); the app's window
#                      libraries (lib-app/) in case the machine lacks them;
#                      MANIFEST
#
# Usage: packaging/cuda/build-device-bundle.sh [OUTDIR]
# Then, on the GPU machine: OUTDIR/run-on-device.sh
# CUDA headers: as for ci-compile.sh (CUDA_CHECK=1|light|full).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
out="${1:-build/cuda-device}"
limit=$((64 << 20))
mode="${CUDA_CHECK:-1}"
[ "$mode" = "0" ] && mode=1
. "$here/cuda-env.sh"

rm -rf "$out"
mkdir -p "$out/payload"
pl="$out/payload"
ver=$(git describe --always --dirty 2>/dev/null || echo unknown)

echo "== cuda.test"
go test -tags cuda -c -trimpath -ldflags "-s -w" -o "$pl/cuda.test" ./compute/cuda/
echo "== saescope-cuda"
if ! go build -tags cuda -trimpath -ldflags "-s -w -X main.version=$ver-cuda" -o "$pl/saescope-cuda" ./app; then
  echo "warning: saescope-cuda did not build; the bundle has the test binary only" >&2
fi

echo "== fixtures"
fx="$pl/github.com/saescope/saescope/testdata"
mkdir -p "$fx"
cp -r testdata/fixtures "$fx/"

# Shared libraries of the app other than the C library and the driver,
# shipped for machines without X11/OpenGL (only used there if missing).
if [ -x "$pl/saescope-cuda" ]; then
  mkdir -p "$pl/lib-app"
  ldd "$pl/saescope-cuda" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }' | while read -r name path; do
    case "$name" in
      libc.so.* | libm.so.* | libdl.so.* | libpthread.so.* | librt.so.* | ld-linux* | libcuda.so.*) ;;
      *) cp -L "$path" "$pl/lib-app/$name" ;;
    esac
  done
fi

{
  echo "SAE Scope CUDA device bundle"
  echo "source        $ver"
  echo "built         $(date -u +%Y-%m-%dT%H:%M:%SZ) with $(go env GOVERSION), CUDA headers $(grep -m1 -o 'CUDA_VERSION [0-9]*' "${CPATH%%:*}/cuda.h" 2>/dev/null || echo '?')"
  echo "ptx           $(head -1 compute/cuda/kernels/kernels.ptx)"
  echo "glibc needed  $(objdump -T "$pl/cuda.test" 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sort -Vu | tail -1)"
  (cd "$pl" && find . -type f -printf '%8s  %p\n' | sort -k2)
} >"$pl/MANIFEST"

echo "== packing"
tar -C "$pl" -czf "$out/payload.tar.gz" .
rm -rf "$pl"
cp "$here/run-on-device.sh" "$out/"
chmod +x "$out/run-on-device.sh"
size=$(du -cb "$out"/* | tail -1 | cut -f1)
ls -l "$out"
echo "bundle: $out, $((size >> 20)) MiB (limit 64 MiB)"
if [ "$size" -gt "$limit" ]; then
  echo "bundle too large for the device machine" >&2
  exit 1
fi
