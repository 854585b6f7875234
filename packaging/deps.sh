#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages SAE Scope needs to build, run and test.
# Usage: packaging/deps.sh run|test      (idempotent; uses sudo when not root)
set -euo pipefail

# fonts-dejavu-core: Fyne's bundled Noto Sans has no ∂ − ≥ ≤ ∞ (the
# attribution graph's and the patch pane's texts, some error messages);
# Fyne then looks in the system's fonts, and a minimal install may have none.
need_run=(gcc pkg-config ca-certificates libgl1-mesa-dev libx11-dev libxcursor-dev libxrandr-dev
  libxinerama-dev libxi-dev libxxf86vm-dev libopenblas-dev fonts-dejavu-core)
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
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "deps.sh: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  echo "Installing: ${missing[*]}"
  $sudo apt-get update -qq
  # env: sudo's env_reset would drop the variable; the lock timeout waits
  # out unattended-upgrades on a freshly booted machine.
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 "${missing[@]}" >/dev/null
fi

# go.mod asks for a newer Go than Debian 12 (1.19) or Ubuntu 22.04 (1.18)
# ship. A Go of 1.21 or newer fetches that toolchain itself (GOTOOLCHAIN);
# an older one fetches it here, once, from the Go module proxy (the module
# golang.org/toolchain, as a newer go command would) into
# ~/.local/share/saescope/go<version>, which then comes first on PATH.
version_lt() { # version_lt A B: A < B, for "1.19.8" style versions
  [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$1" ]
}
want_go=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$(dirname "${BASH_SOURCE[0]}")/../go.mod")
gov=$(cd / && GOTOOLCHAIN=local go env GOVERSION 2>/dev/null | sed 's/^go//')
if [ -z "$gov" ]; then
  echo "deps.sh: the go command does not run" >&2
  exit 1
fi
if version_lt "$gov" 1.21; then
  gohome="${XDG_DATA_HOME:-$HOME/.local/share}/saescope/go$want_go"
  if [ ! -x "$gohome/bin/go" ]; then
    echo "Go $gov is older than 1.21: fetching Go $want_go from the Go module proxy into $gohome"
    tmp=$(mktemp -d)
    dir=$(cd "$tmp" && GOFLAGS= GO111MODULE=on GOMODCACHE="$tmp/mod" \
      go mod download -json "golang.org/toolchain@v0.0.1-go$want_go.$(go env GOOS)-$(go env GOARCH)" |
      sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    if [ -z "$dir" ] || [ ! -f "$dir/bin/go" ]; then
      echo "deps.sh: could not fetch Go $want_go (network or proxy?); install Go $want_go or any Go 1.21+ and run again" >&2
      chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"
      exit 1
    fi
    mkdir -p "$(dirname "$gohome")"
    rm -rf "$gohome.partial"
    cp -r "$dir" "$gohome.partial"
    chmod -R u+w "$gohome.partial"
    chmod +x "$gohome.partial"/bin/* "$gohome.partial"/pkg/tool/*/*
    mv "$gohome.partial" "$gohome"
    chmod -R u+w "$tmp"; rm -rf "$tmp"
  fi
  export PATH="$gohome/bin:$PATH"
fi
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
# Check (and with GOTOOLCHAIN=auto, fetch) the toolchain go.mod asks for
# now, saying so, rather than fail silently inside the first build.
if ! (cd "$(dirname "${BASH_SOURCE[0]}")/.." && go version >/dev/null); then
  echo "deps.sh: the Go toolchain go.mod asks for (Go $want_go) could not be fetched: check the network, a proxy, or ca-certificates" >&2
  exit 1
fi
