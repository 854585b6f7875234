#!/usr/bin/env bash
# Installs a built package (packaging/build-linux.sh) for the current user
# (~/.local/bin, ~/.local/share/applications, ~/.local/share/icons), or
# into a prefix: packaging/install.sh [--prefix DIR] [PACKAGE.tar.xz]
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=""
pkg=""
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix)
      [ $# -ge 2 ] && [ -n "$2" ] || { echo "install.sh: --prefix needs a folder" >&2; exit 2; }
      prefix="$2"; shift 2 ;;
    *) pkg="$1"; shift ;;
  esac
done
if [ -z "$pkg" ]; then
  pkg=$(ls -t dist/saescope-*-linux-*.tar.xz 2>/dev/null | head -1 || true)
  [ -n "$pkg" ] || { echo "no package in dist/: run packaging/build-linux.sh first" >&2; exit 1; }
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar xJf "$pkg" -C "$work"
case "$prefix$HOME" in
  *[[:space:]]*) echo "install.sh: the prefix or home folder contains a space, which the package's Makefile (made by fyne) cannot handle" >&2; exit 2 ;;
esac
if [ -n "$prefix" ]; then
  make -s -C "$work/saescope" install DESTDIR="" PREFIX="$prefix"
  echo "installed into $prefix"
else
  make -s -C "$work/saescope" user-install
  echo "installed for $(id -un): ~/.local/bin/saescope and its launcher"
fi
