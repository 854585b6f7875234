#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages SAE Scope needs to build, run and test.
# Usage: packaging/deps.sh run|test      (idempotent; uses sudo when not root)
set -euo pipefail

need_run=(gcc pkg-config libgl1-mesa-dev libx11-dev libxcursor-dev libxrandr-dev
  libxinerama-dev libxi-dev libxxf86vm-dev libopenblas-dev)
need_test=("${need_run[@]}" xvfb libgl1-mesa-dri imagemagick desktop-file-utils xdotool xz-utils make)

case "${1:-run}" in
  run) want=("${need_run[@]}") ;;
  test) want=("${need_test[@]}") ;;
  *) echo "usage: $0 run|test" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! command -v go >/dev/null 2>&1; then
  missing+=(golang-go)
fi

if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "Installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# go.mod asks for Go 1.26; a Go of 1.21 or newer fetches that toolchain itself.
gov=$(go env GOVERSION 2>/dev/null | sed 's/^go//')
major=${gov%%.*}; rest=${gov#*.}; minor=${rest%%.*}
if [ "${major:-0}" -lt 1 ] || { [ "${major:-0}" -eq 1 ] && [ "${minor:-0}" -lt 21 ]; }; then
  echo "Go $gov is too old: install Go 1.21 or newer (it then fetches the Go 1.26 toolchain go.mod asks for)." >&2
  exit 1
fi
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
