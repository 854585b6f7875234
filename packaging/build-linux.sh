#!/usr/bin/env bash
# Builds the Linux package of SAE Scope with the Fyne tooling:
#   dist/saescope-<version>-linux-<arch>.tar.xz
# holding usr/local/bin/saescope, the .desktop launcher, the icon and a
# Makefile (make user-install / sudo make install). See packaging/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source packaging/deps.sh run

FYNE_TOOLS="fyne.io/tools/cmd/fyne@v1.7.4"
field() { sed -n "s/^$1 = \"\{0,1\}\([^\"]*\)\"\{0,1\}$/\1/p" FyneApp.toml | head -1; }
VERSION=$(field Version)
NAME=$(field Name)
APPID=$(field ID)
ARCH=$(go env GOARCH)

mkdir -p build dist
echo "Building saescope $VERSION"
go build -trimpath -ldflags "-s -w -X main.version=$VERSION" -o build/saescope ./app

# fyne package reads FyneApp.toml next to the main package and bumps its
# build number there: give it a throw-away copy instead of the real file.
cp FyneApp.toml app/FyneApp.toml
trap 'rm -f app/FyneApp.toml "app/$NAME.tar.xz"' EXIT
(cd app && go run "$FYNE_TOOLS" package --os linux --release \
  --exe ../build/saescope --name "$NAME" --app-id "$APPID" --app-version "$VERSION" \
  --icon ../assets/icon/saescope.png)
out="dist/saescope-$VERSION-linux-$ARCH.tar.xz"
mv "app/$NAME.tar.xz" "$out"
echo "$out"
