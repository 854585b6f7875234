#!/usr/bin/env bash
# Builds the Linux package, installs it into a temporary prefix, validates
# the launcher and the icon, then starts the installed app through its
# launcher's Exec line under Xvfb, waits for its window and takes a
# screenshot. Usage: packaging/test-package.sh [SCREENSHOT.png]
set -euo pipefail
cd "$(dirname "$0")/.."
shot="${1:-}"
pkg=$(bash packaging/build-linux.sh | tail -1)
prefix=$(mktemp -d)
xvfb_pid=""
app_pid=""
cleanup() {
  # Stop the app and wait for it before removing its home: it may still be
  # writing its preferences there.
  if [ -n "$app_pid" ]; then kill "$app_pid" 2>/dev/null || true; wait "$app_pid" 2>/dev/null || true; fi
  if [ -n "$xvfb_pid" ]; then kill "$xvfb_pid" 2>/dev/null || true; wait "$xvfb_pid" 2>/dev/null || true; fi
  rm -rf "$prefix" 2>/dev/null || { sleep 1; rm -rf "$prefix" || true; }
}
trap cleanup EXIT

bash packaging/install.sh --prefix "$prefix/usr" "$pkg"
desktop=$(ls "$prefix"/usr/share/applications/*.desktop)
echo "== desktop-file-validate $(basename "$desktop")"
desktop-file-validate "$desktop"
icon_name=$(sed -n 's/^Icon=//p' "$desktop")
icon="$prefix/usr/share/pixmaps/$icon_name.png"
[ -f "$icon" ] || { echo "icon $icon missing" >&2; exit 1; }
size=$(identify -format '%wx%h' "$icon")
echo "icon $icon_name.png: $size"
[ "$size" = "512x512" ] || { echo "icon is $size, want 512x512" >&2; exit 1; }

echo "== launching through the .desktop Exec line under Xvfb"
exec_line=$(sed -n 's/^Exec=//p' "$desktop")
display=":$((90 + RANDOM % 9))"
Xvfb "$display" -screen 0 1280x860x24 >/dev/null 2>&1 &
xvfb_pid=$!
sleep 1
start=$(date +%s.%N)
DISPLAY="$display" LANG=C.UTF-8 PATH="$prefix/usr/bin:$PATH" HOME="$prefix/home" \
  sh -c "exec $exec_line" >"$prefix/app.log" 2>&1 &
app_pid=$!
for _ in $(seq 1 100); do
  if DISPLAY="$display" xdotool search --name "SAE Scope" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$app_pid" 2>/dev/null; then cat "$prefix/app.log" >&2; echo "the app exited" >&2; exit 1; fi
  sleep 0.1
done
DISPLAY="$display" xdotool search --name "SAE Scope" >/dev/null || { cat "$prefix/app.log" >&2; echo "no window" >&2; exit 1; }
ready=$(date +%s.%N)
awk -v a="$start" -v b="$ready" 'BEGIN { printf "window mapped %.2f s after launch\n", b - a }'
sleep 2
if [ -n "$shot" ]; then
  DISPLAY="$display" import -window root "$shot"
  echo "screenshot: $shot"
fi
echo "package test passed"
