#!/usr/bin/env bash
# Remakes the screenshots in docs/screenshots/ that README.md shows, and the
# other window shots kept next to them, from the demo workspace (a tiny GPT-2
# trained by SAE Scope on the corpus shipped with the app, a TopK and a ReLU
# SAE trained on it: no download, no network). The window runs under Xvfb with its own
# temporary settings and caches, so the user's settings, labels, recent
# workspaces and Hugging Face cache neither show nor change, and two runs give
# the same pictures (but for the analysis in progress, caught where it is).
#
# Usage: bash docs/screenshots/remake.sh [-o DIR] [-b BINARY] [-l] [NAME...]
#   NAME       remake only these (file names without .png, e.g. contexts-light
#              plot-density); default: all of them
#   -o DIR     write the PNGs to DIR instead of docs/screenshots
#   -b BINARY  use this saescope binary instead of building one with go build
#   -l         list the names and exit
#   -h         this help
#
# Needs: Go (and the GL/X11 build headers, as packaging/run.sh installs them),
# Xvfb (Debian package xvfb), import and convert (imagemagick) and xdotool
# (xdotool). One app instance runs at a time; the whole set takes a few
# minutes.
#
# What each shot shows, and with which window flags, is in the list at the
# bottom. Two shots need a state that flags alone do not give:
#   firstrun-*  the Get started screen: no workspace, empty settings and an
#               empty Hugging Face cache, with HF_HUB_OFFLINE=1 so that the
#               picture does not depend on this machine's network (the screen
#               then says that downloads are off, and why).
#   analysis-*  an analysis in progress: the trained SAE's analysis at 2,000
#               rows is made first with `saescope analyze`, then the window
#               opens it with the TopK SAE, whose analysis starts at once;
#               frames are grabbed while it runs and the first one whose
#               progress bar is between 25% and 75% full is kept. The window is
#               closed before that analysis finishes.
# The exported plots (plot-*.png) come from the headless `saescope plot`
# command on the trained SAE's analysis.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=$here
bin=
while getopts "o:b:lh" opt; do
	case $opt in
	o) out=$OPTARG ;;
	b) bin=$OPTARG ;;
	l) list_only=1 ;;
	h) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "usage: bash docs/screenshots/remake.sh [-o DIR] [-b BINARY] [-l] [NAME...]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
only=("$@")

W=1280 H=800 # screen and window size, pixels

all_names=()
want() { # want NAME: whether NAME is to be made (and records it for -l)
	all_names+=("$1")
	[[ -z ${list_only:-} ]] || return 1
	((${#only[@]} == 0)) && return 0
	local n
	for n in "${only[@]}"; do [[ $n == "$1" ]] && return 0; done
	return 1
}

die() { echo "remake.sh: $*" >&2; exit 1; }

if [[ -z ${list_only:-} ]]; then
	missing=()
	command -v Xvfb >/dev/null || missing+=("Xvfb (apt-get install xvfb)")
	command -v import >/dev/null && command -v convert >/dev/null || missing+=("import/convert (apt-get install imagemagick)")
	command -v xdotool >/dev/null || missing+=("xdotool (apt-get install xdotool)")
	[[ -n $bin ]] || command -v go >/dev/null || missing+=("go (apt-get install golang-go, or pass -b BINARY)")
	((${#missing[@]} == 0)) || die "missing: ${missing[*]}"
	mkdir -p "$out"
	out=$(cd "$out" && pwd)
fi

tmp=
xvfb_pid=
app_pid=
cleanup() {
	if [[ -n $app_pid ]]; then kill "$app_pid" 2>/dev/null || true; wait "$app_pid" 2>/dev/null || true; fi
	if [[ -n $xvfb_pid ]]; then kill "$xvfb_pid" 2>/dev/null || true; wait "$xvfb_pid" 2>/dev/null || true; fi
	if [[ -n $tmp ]]; then rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# setup: build the app, start Xvfb and make the temporary home.
setup() {
	[[ -z $tmp ]] || return 0
	start_time=$SECONDS
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/saescope-shots.XXXXXX")
	if [[ -z $bin ]]; then
		echo "building saescope…"
		(cd "$repo" && go build -o "$tmp/saescope" ./app) || die "go build failed (the GL/X11 headers: see packaging/run.sh)"
		bin=$tmp/saescope
	fi
	bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
	mkdir -p "$tmp/home" "$tmp/config" "$tmp/cache" "$tmp/hf" "$tmp/frames"
	# Xvfb picks a free display and writes its number to fd 3.
	Xvfb -displayfd 3 -screen 0 "${W}x${H}x24" -nolisten tcp 3>"$tmp/display" >"$tmp/xvfb.log" 2>&1 &
	xvfb_pid=$!
	for _ in $(seq 100); do [[ -s $tmp/display ]] && break; sleep 0.1; done
	[[ -s $tmp/display ]] || die "Xvfb did not start: $(cat "$tmp/xvfb.log")"
	export DISPLAY=:$(tr -d '[:space:]' <"$tmp/display")
	echo "Xvfb on $DISPLAY; temporary home $tmp"
	app_env=(env -u FYNE_THEME -u FYNE_FONT -u FYNE_FONT_MONOSPACE -u FYNE_FONT_SYMBOL
		HOME="$tmp/home" XDG_CONFIG_HOME="$tmp/config" XDG_CACHE_HOME="$tmp/cache"
		HF_HOME="$tmp/hf" HF_HUB_OFFLINE=1 FYNE_SCALE=1 FYNE_DISABLE_DPI_DETECTION=1
		LANG=en_US.UTF-8 LC_ALL=en_US.UTF-8 "$bin")
}

# app ARGS…: runs saescope in the temporary home (no network, fixed
# locale and scale), in the repository root so that relative paths work;
# start_app LOG ARGS… starts it in the background (app_pid is its pid).
app() { (cd "$repo" && exec "${app_env[@]}" "$@"); }
start_app() {
	local log=$1
	shift
	(cd "$repo" && exec "${app_env[@]}" "$@") >"$log" 2>&1 &
	app_pid=$!
}

grab() { import -window root -depth 8 "rgb:$1"; } # raw pixels of the screen

# settle FILE: grabs the screen every 0.5 s until five grabs in a row are
# the same as the one before them (the window has finished drawing), at
# most 60 s; leaves the last in FILE. Two equal grabs were not enough: under
# Xvfb with Mesa on a 2-core AMD EPYC the window showed the same
# half-opened workspace for 2.6 s before the first frame of the open one.
settle() {
	local a=$tmp/frames/a.rgb b=$tmp/frames/b.rgb i same=0
	sleep 1
	grab "$a"
	for i in $(seq 120); do
		sleep 0.5
		grab "$b"
		if cmp -s "$a" "$b"; then
			same=$((same + 1))
			if ((same >= 5)); then mv "$b" "$1"; return 0; fi
		else
			same=0
			mv "$b" "$a"
		fi
	done
	echo "  warning: the window kept changing for 60 s; keeping the last frame" >&2
	mv "$a" "$1"
}

save() { convert -size "${W}x${H}" -depth 8 "rgb:$1" -strip "png:$2"; } # save RAW PNG

# wait_ready LOG SECONDS: waits for the app to print that its workspace
# is open (after the demo's analysis on a first run).
wait_ready() {
	local i
	for i in $(seq $((${2} * 5))); do
		grep -q "saescope: workspace ready" "$1" && return 0
		kill -0 "$app_pid" 2>/dev/null || die "the app exited: $(cat "$1")"
		sleep 0.2
	done
	die "the workspace did not open in $2 s: $(cat "$1")"
}

# wait_window LOG: waits for the window to be mapped.
wait_window() {
	local i
	for i in $(seq 150); do
		xdotool search --onlyvisible --name "SAE Scope" >/dev/null 2>&1 && return 0
		kill -0 "$app_pid" 2>/dev/null || die "the app exited: $(cat "$1")"
		sleep 0.2
	done
	die "no window after 30 s: $(cat "$1")"
}

stop_app() {
	kill "$app_pid" 2>/dev/null || true
	wait "$app_pid" 2>/dev/null || true
	app_pid=
}

# shot NAME WAIT FLAGS…: opens the window with FLAGS (WAIT: ready = until
# the workspace is open, window = until the window shows), then with CLICK
# and HOVER ("x y", set by the caller) clicks and points there, waits for
# the window to settle and saves NAME.png. The pointer rests on the status
# line when no HOVER is given, where it highlights nothing.
shot() {
	local name=$1 wait=$2 t0=$SECONDS
	shift 2
	local log=$tmp/$name.log
	echo "$name: saescope $*"
	start_app "$log" "$@" --size "${W}x${H}"
	if [[ $wait == ready ]]; then wait_ready "$log" 300; else wait_window "$log"; fi
	xdotool mousemove 700 $((H - 8))
	if [[ -n ${CLICK:-} ]]; then
		# shellcheck disable=SC2086
		xdotool mousemove $CLICK click 1
		sleep 0.5
		xdotool mousemove 700 $((H - 8))
	fi
	# The pointer moves again a moment later: a pane still being drawn
	# when it first arrives sees no motion under it.
	# shellcheck disable=SC2086
	[[ -z ${HOVER:-} ]] || { xdotool mousemove $HOVER; sleep 2; xdotool mousemove_relative 1 1; }
	settle "$tmp/frames/$name.rgb"
	stop_app
	save "$tmp/frames/$name.rgb" "$out/$name.png"
	echo "  $out/$name.png ($((SECONDS - t0)) s)"
}

# analysis_shot NAME FLAGS…: FLAGS open a workspace whose first SAE has
# its analysis and whose second SAE is analysed at once. Once the first
# SAE's pane is shown (the app logs it with SAESCOPE_TIMING=1), frames are
# grabbed while the second is analysed, and the first whose progress bar
# (bottom right, in the status line) is between 25% and 75% full is kept:
# the bar's middle row then has two colours, the filled and the unfilled
# part, each over a quarter of it.
analysis_shot() {
	local name=$1 t0=$SECONDS
	shift
	local log=$tmp/$name.log f=$tmp/frames/$name.rgb n=0 found=
	echo "$name: saescope $*"
	SAESCOPE_TIMING=1 start_app "$log" "$@" --size "${W}x${H}"
	wait_window "$log"
	xdotool mousemove 700 $((H - 8))
	for _ in $(seq 300); do
		grep -q "first pane in the widget tree" "$log" && break
		kill -0 "$app_pid" 2>/dev/null || die "the app exited: $(cat "$log")"
		sleep 0.1
	done
	while ((n < 400)); do
		n=$((n + 1))
		grab "$f"
		# the bar's middle row: x 930-1180, 10 px above the window's bottom
		if convert -size "${W}x${H}" -depth 8 "rgb:$f" -crop 250x1+930+$((H - 10)) +repage txt:- |
			awk 'NR > 1 { c[$3]++ } END { k = 0; for (x in c) if (c[x] >= 62) k++; exit !(k == 2) }'; then
			found=1
			break
		fi
		grep -q "saescope: workspace ready" "$log" && break
		kill -0 "$app_pid" 2>/dev/null || die "the app exited: $(cat "$log")"
		sleep 0.1
	done
	stop_app
	[[ -n $found ]] || die "$name: no frame with the analysis half-way (the analysis ended, or the progress bar moved)"
	save "$f" "$out/$name.png"
	echo "  $out/$name.png ($((SECONDS - t0)) s, frame $n)"
}

# analyze ROWS SAE: the analysis of SAE on the shipped corpus (analyze's
# default when the Hugging Face cache, here the empty temporary one, has no
# OpenWebText) in the temporary cache, where the window finds it (stores
# are keyed by content); prints the store's path.
analyze() {
	app analyze --model assets/demo/tiny-gpt2 --sae "$2" --rows "$1" --quiet |
		sed -n 's/.*"store":"\([^"]*\)".*/\1/p'
}

# The demo's files, as the workspace bar shows them (relative to the
# repository root); tab 0 is the TopK SAE at blocks.1.hook_resid_pre, tab 1 the ReLU one at blocks.0.hook_mlp_out.
model=assets/demo/tiny-gpt2
resid_sae=assets/demo/tiny-gpt2-saelens-topk-resid_pre-1
trained_sae=assets/demo/tiny-gpt2-saelens-mlp_out-0
# Prose in the style of the corpus (Newton's Opticks): ' and' (feature 208
# of the ReLU SAE) and sentence-ending full stops (324) in it.
newton=$'Heat is a Motion of the Parts of Bodies, and Light is refracted and reflected by them. The Rays of Light are of several Colours. Compare the Colours of the Rainbow.'

for theme in light dark; do
	# The first demo shot opens the demo on a first run: it writes the demo
	# files to the temporary cache and analyses both SAEs (seconds); every
	# later one reopens those analyses.
	if want "contexts-$theme"; then setup; shot "contexts-$theme" ready --demo --theme "$theme" --tab 1 --pane contexts --feature 324; fi
	# The pointer on the top context's activating token: what ablating the
	# feature there does to the next token's log-probabilities.
	if want "contexts-ablation-$theme"; then setup; HOVER="812 480" shot "contexts-ablation-$theme" ready --demo --theme "$theme" --tab 1 --pane contexts --feature 208; fi
	if want "demo-$theme"; then setup; shot "demo-$theme" ready --demo --theme "$theme" --tab 1 --pane contexts --feature 208; fi
	if want "intervals-$theme"; then setup; shot "intervals-$theme" ready --demo --theme "$theme" --tab 1 --pane intervals --feature 324; fi
	if want "neuroscope-$theme"; then setup; HOVER="808 531" shot "neuroscope-$theme" ready --demo --theme "$theme" --tab 1 --pane neuroscope --feature 324 --text "$newton"; fi
	# The pointer on the neuroscope's strongest token: below the text, what
	# ablating the feature there does to the next token's log-probabilities.
	if want "neuroscope-ablation-$theme"; then setup; HOVER="942 554" shot "neuroscope-ablation-$theme" ready --demo --theme "$theme" --tab 1 --pane neuroscope --feature 324 --text "$newton"; fi
	if want "elicitation-$theme"; then setup; shot "elicitation-$theme" ready --demo --theme "$theme" --tab 1 --pane elicitation --text "$newton" --feature 324; fi
	if want "detail-$theme"; then setup; shot "detail-$theme" ready --demo --theme "$theme" --tab 1 --pane detail --feature 324; fi
	if want "statistics-$theme"; then setup; shot "statistics-$theme" ready --demo --theme "$theme" --tab 1 --pane statistics --plot frequency; fi
	# The feature density: log10 of each feature's activation frequency
	# (the frequency plot's default x axis), features that never fire counted
	# in the note.
	if want "feature-density-$theme"; then setup; shot "feature-density-$theme" ready --demo --theme "$theme" --tab 1 --pane statistics --plot frequency; fi
	if want "demo-statistics-$theme"; then setup; shot "demo-statistics-$theme" ready --demo --theme "$theme" --tab 1 --pane statistics --plot features_per_token; fi
	if want "compare-$theme"; then setup; shot "compare-$theme" ready --demo --theme "$theme" --tab 1 --pane compare --pin "208,324,0:141"; fi
	# Statistics and Compare reached through Contexts (a click on their
	# tab): the same place and size as when shown first, no band where the
	# feature header was (issue 20). The tabs sit at y 130; Statistics
	# spans x ~905-990 and Compare ~990-1075 whatever the split's width.
	if want "via-contexts-statistics-$theme"; then setup; CLICK="950 130" shot "via-contexts-statistics-$theme" ready --demo --theme "$theme" --tab 1 --pane contexts --feature 208; fi
	if want "via-contexts-compare-$theme"; then setup; CLICK="1035 130" shot "via-contexts-compare-$theme" ready --demo --theme "$theme" --tab 1 --pane contexts --feature 208 --pin "208,324,0:141"; fi
	# The ranking after a search inside a rank range: the fields, the rows
	# and the status line say the same (the demo has no labels: the search
	# finds suggested labels, as many as are computed when it runs).
	if want "ranking-search-in-range-$theme"; then setup; shot "ranking-search-in-range-$theme" ready --demo --theme "$theme" --tab 1 --pane contexts --ranks 0-40 --find "·and" --feature 208; fi
	# The Patch pane after its example (indirect object identification:
	# " Mary" − " John" from the clean prompt into the corrupted one) has run.
	if want "patch-$theme"; then setup; shot "patch-$theme" ready --demo --theme "$theme" --tab 1 --pane patch --patch-example; fi
	# The Flow pane after its example: the resid_pre 1 feature most active
	# at the example's last token (picked by the pane, whatever the demo's
	# weights), its mlp_out 0 inputs ranked, and what block 0 adds to it.
	if want "flow-$theme"; then setup; shot "flow-$theme" ready --demo --theme "$theme" --tab 0 --pane flow --flow-example; fi
	# The Attribution graph pane after its example (" Mary" − " John" at
	# the last position) over both demo SAEs.
	if want "graph-$theme"; then setup; shot "graph-$theme" ready --demo --theme "$theme" --tab 0 --pane graph --graph-example; fi
	if want "steer-$theme"; then setup; shot "steer-$theme" ready --demo --theme "$theme" --tab 1 --pane steer --steer "324 add 10" --text "The history of the city"; fi
	# The workspace bar, unfolded by a click on its header: the demo's files
	# opened as local files (so the bar shows their paths in the repository
	# rather than the temporary cache's), ranked by the largest activation.
	if want "workspace-$theme"; then
		setup
		CLICK="60 50" shot "workspace-$theme" ready --model "$model" --sae "$resid_sae" --sae "$trained_sae" --analyze \
			--theme "$theme" --tab 1 --sort max --feature 208 --pane contexts
	fi
	# A first start: no settings, nothing in the Hugging Face cache, offline.
	if want "firstrun-$theme"; then
		setup
		rm -rf "$tmp/config.firstrun" && mv "$tmp/config" "$tmp/config.firstrun" && mkdir "$tmp/config"
		shot "firstrun-$theme" window --theme "$theme"
		rm -rf "$tmp/config" && mv "$tmp/config.firstrun" "$tmp/config"
	fi
	if want "analysis-$theme"; then
		setup
		[[ -n $(analyze 2000 "$trained_sae") ]] || die "saescope analyze failed"
		analysis_shot "analysis-$theme" --model "$model" --sae "$trained_sae" --sae "$resid_sae" --rows 2000 --analyze --theme "$theme"
	fi
done

# SAE families (the second fixture set's TopK, attn.hook_z and transcoder
# SAEs on the fixtures' tiny GPT-2, testdata/fixtures/v2; random weights,
# so the features mean nothing): each one's tab analysed on 500 rows of
# the shipped corpus, with its detail pane (the family beside the SAE's
# name; a hook_z feature's decoder norm by head).
fam=testdata/fixtures/v2
fixmodel=testdata/fixtures/tiny-gpt2
for f in "topk:saelens-topk-hook_resid_post-1:0:detail" "hookz:saelens-attn-hook_z-1:1:detail" "transcoder:saelens-transcoder-mlp-0:2:statistics"; do
	IFS=: read -r tag dir tab pane <<<"$f"
	if want "family-$tag-light"; then
		setup
		shot "family-$tag-light" ready --model "$fixmodel" --sae "$fam/saelens-topk-hook_resid_post-1" --sae "$fam/saelens-attn-hook_z-1" \
			--sae "$fam/saelens-transcoder-mlp-0" --rows 500 --analyze --theme light --tab "$tab" --sort max --feature 7 --pane "$pane"
	fi
done

# The exported plots: the trained SAE (features per token, learnt vs random
# directions; the activation density of feature 324, the full stop), as `saescope plot`
# draws them without a window.
if want plot-features-per-token; then
	setup
	store=$(analyze 1000 "$trained_sae")
	echo "plot-features-per-token: saescope plot --kind features_per_token"
	app plot --store "$store" --kind features_per_token --out "$out/plot-features-per-token.png" >/dev/null
fi
if want plot-density; then
	setup
	store=$(analyze 1000 "$trained_sae")
	echo "plot-density: saescope plot --kind density --feature 324"
	app plot --store "$store" --kind density --feature 324 --out "$out/plot-density.png" >/dev/null
fi

if [[ -n ${list_only:-} ]]; then
	printf '%s\n' "${all_names[@]}"
	exit 0
fi
if [[ -z $tmp ]]; then
	die "no shot is named ${only[*]} (bash docs/screenshots/remake.sh -l lists them)"
fi
echo "done in $((SECONDS - start_time)) s"
