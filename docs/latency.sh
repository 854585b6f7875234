#!/usr/bin/env bash
# Measures how long the window takes from a click or keystroke to the
# screen, as README.md's latency table reports it: the demo workspace at
# 1280×800 under Xvfb (its ReLU SAE's tab, Contexts shown), driven with
# xdotool, the app logging its timings (SAESCOPE_TIMING=1). Prints, per
# kind of action, the median and maximum of the UI thread's work ("every
# pane updated") and of the time until the main loop runs again after the
# update ("drawn on screen").
#
# Usage: bash docs/latency.sh [-b BINARY]
#   -b BINARY  use this saescope binary instead of building one
#
# Needs Xvfb and xdotool (Debian packages xvfb, xdotool). Runs with its
# own temporary settings and caches; takes about two and a half minutes.
# The clicks aim at fixed places of the 1280×800 layout (ranking rows,
# the search field, the Neuroscope tab and its text): move them if the
# layout changes.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
bin=
while getopts "b:h" opt; do
	case $opt in
	b) bin=$OPTARG ;;
	h) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "usage: bash docs/latency.sh [-b BINARY]" >&2; exit 2 ;;
	esac
done
for c in Xvfb xdotool; do command -v $c >/dev/null || { echo "latency.sh: $c is missing" >&2; exit 1; }; done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/saescope-latency.XXXXXX")
xvfb_pid='' app_pid=''
cleanup() {
	[[ -z $app_pid ]] || { kill "$app_pid" 2>/dev/null || true; wait "$app_pid" 2>/dev/null || true; }
	[[ -z $xvfb_pid ]] || { kill "$xvfb_pid" 2>/dev/null || true; wait "$xvfb_pid" 2>/dev/null || true; }
	rm -rf "$tmp"
}
trap cleanup EXIT
if [[ -z $bin ]]; then
	echo "building saescope…" >&2
	(cd "$repo" && go build -o "$tmp/saescope" ./app)
	bin=$tmp/saescope
fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
mkdir -p "$tmp/home" "$tmp/config" "$tmp/cache" "$tmp/hf"
Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3>"$tmp/display" >"$tmp/xvfb.log" 2>&1 &
xvfb_pid=$!
for _ in $(seq 100); do [[ -s $tmp/display ]] && break; sleep 0.1; done
DISPLAY=:$(tr -d '[:space:]' <"$tmp/display")
export DISPLAY
log=$tmp/app.log
(cd "$repo" && exec env -u FYNE_THEME HOME="$tmp/home" XDG_CONFIG_HOME="$tmp/config" XDG_CACHE_HOME="$tmp/cache" \
	HF_HOME="$tmp/hf" HF_HUB_OFFLINE=1 FYNE_SCALE=1 FYNE_DISABLE_DPI_DETECTION=1 LANG=en_US.UTF-8 LC_ALL=en_US.UTF-8 \
	SAESCOPE_TIMING=1 "$bin" --demo --theme dark --tab 1 --pane contexts --size 1280x800) >"$log" 2>&1 &
app_pid=$!
for _ in $(seq 600); do
	grep -q "saescope: workspace ready" "$log" && break
	kill -0 "$app_pid" 2>/dev/null || { echo "latency.sh: the app exited: $(cat "$log")" >&2; exit 1; }
	sleep 0.2
done
grep -q "saescope: workspace ready" "$log" || { echo "latency.sh: the workspace did not open" >&2; exit 1; }
sleep 15 # past the suggested labels computed after opening

marks=$tmp/marks # "LINE NAME": the log's length when each kind of action began
mark() { echo "$(wc -l <"$log") $1" >>"$marks"; }
click() { xdotool mousemove "$1" "$2"; sleep 0.3; xdotool mousedown 1; sleep 0.04; xdotool mouseup 1; }
mark "click a ranking row"
for i in 0 1 2 3 4 5 6 7 8 9 3 5 7 1 0 2 4 6 8 10; do click 160 $((302 + 40 * i)); sleep 1.5; done
mark "arrow key in the ranking"
for _ in $(seq 30); do xdotool key Down; sleep 1.2; done
for _ in $(seq 10); do xdotool key Up; sleep 1.2; done
mark "search an id, Enter"
for f in 200 17 455 90 311 208 324 141 5 250; do
	click 350 129; sleep 0.3; xdotool key ctrl+a; xdotool type --delay 40 "$f"; sleep 0.1; xdotool key Return; sleep 1.5
done
mark "neuroscope keystroke"
click 712 129; sleep 2; click 1230 357; sleep 0.5; xdotool key End; sleep 0.5
for c in space a n d space t h e space s h i p s; do xdotool key "$c"; sleep 1.5; done
mark end
sleep 1

# The timings, by the kind of action whose lines they follow.
awk -v marks="$marks" '
function ms(s) { if (s ~ /µs$/) return s / 1000; if (s ~ /ms$/) return s + 0; return s * 1000 }
function stat(k,   n, i, j, t, a) {
	n = cnt[k]; if (n == 0) return "—"
	for (i = 1; i <= n; i++) a[i] = v[k, i]
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j > 0 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	return sprintf("%.0f / %.0f ms (%d)", (n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2), a[n], n)
}
BEGIN { while ((getline l < marks) > 0) { split(l, f, " "); nm++; at[nm] = f[1]; name[nm] = substr(l, length(f[1]) + 2) } }
{
	k = ""
	for (i = 1; i < nm; i++) if (NR > at[i] && NR <= at[i + 1]) k = name[i]
	if (k == "") next
	if (match($0, /every pane updated in [^ ]+/)) { x = substr($0, RSTART + 23, RLENGTH - 23); cnt[k "|ui"]++; v[k "|ui", cnt[k "|ui"]] = ms(x) }
	if (match($0, /drawn after [^ ]+/)) { x = substr($0, RSTART + 12, RLENGTH - 12); cnt[k "|screen"]++; v[k "|screen", cnt[k "|screen"]] = ms(x) }
	if (match($0, /keystroke to colours set [^ ]+/)) { x = substr($0, RSTART + 25, RLENGTH - 25); cnt[k "|ui"]++; v[k "|ui", cnt[k "|ui"]] = ms(x) }
	if (match($0, /keystroke to colours painted [^ ]+/)) { x = substr($0, RSTART + 29, RLENGTH - 29); cnt[k "|screen"]++; v[k "|screen", cnt[k "|screen"]] = ms(x) }
}
END {
	printf "%-28s %-28s %s\n", "action", "UI thread, median / max", "on screen, median / max"
	for (i = 1; i < nm; i++) printf "%-28s %-28s %s\n", name[i], stat(name[i] "|ui"), stat(name[i] "|screen")
}' "$log"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
