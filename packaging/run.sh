#!/usr/bin/env bash
# Builds SAE Scope from this checkout and opens its window.
# Usage: bash packaging/run.sh [saescope arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
source packaging/deps.sh run
mkdir -p build
go build -o build/saescope ./app
exec build/saescope "$@"
