# Sourced by ci-compile.sh and build-device-bundle.sh: makes CUDA's cuda.h
# and the link stub libcuda.so available to cgo (exports CPATH and
# LIBRARY_PATH), fetching them when the system lacks them. $mode is
# CUDA_CHECK's value: 1 (system, else light), light or full; see
# ci-compile.sh.
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
arch_dir="/usr/lib/$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)"

# add_nonfree_source writes a sources entry for <codename> contrib non-free
# on the mirror of the existing Debian entry, and refreshes the index.
add_nonfree_source() {
  local entry=/etc/apt/sources.list.d/saescope-cuda-nonfree.sources
  local codename
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
  if [ ! -f "$entry" ] && ! apt-cache policy 2>/dev/null | grep -q " $codename/non-free "; then
    local found uri signed
    # deb822 entries (.sources): the first stanza of <codename> that is not the security archive.
    found=$(awk -v want="$codename" 'BEGIN { RS = ""; FS = "\n" }
      { uris = ""; suites = ""; signed = ""
        for (i = 1; i <= NF; i++) {
          l = $i
          if (l ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", l); uris = l }
          else if (l ~ /^Suites:/) { sub(/^Suites:[ \t]*/, "", l); suites = l }
          else if (l ~ /^Signed-By:[ \t]*\//) { sub(/^Signed-By:[ \t]*/, "", l); signed = l }
        }
        if ((" " suites " ") ~ (" " want " ") && uris !~ /security/) { split(uris, u, " "); print u[1] "\t" signed; exit }
      }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    uri=${found%%$'\t'*}
    signed=""
    [[ "$found" == *$'\t'* ]] && signed=${found#*$'\t'}
    if [ -z "$uri" ]; then
      # One-line entries: deb [options] URI SUITE COMPONENTS...
      uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        sed -E 's/\[[^]]*\]//' | awk -v want="$codename" '$1 == "deb" && $3 == want && $2 !~ /security/ { print $2; exit }' || true)
    fi
    if [ -z "$uri" ]; then
      echo "cuda: no Debian $codename entry found in the apt sources to add non-free to" >&2
      return 1
    fi
    {
      echo "Types: deb"
      echo "URIs: $uri"
      echo "Suites: $codename"
      echo "Components: contrib non-free"
      [ -n "$signed" ] && echo "Signed-By: $signed"
    } | $sudo tee "$entry" >/dev/null
    echo "cuda: added $codename contrib non-free from the existing mirror ($entry)"
  fi
  $sudo apt-get update -qq
}

if [ "$mode" = "full" ]; then
  if [ ! -f /usr/include/cuda.h ] || [ ! -f "$arch_dir/stubs/libcuda.so" ]; then
    add_nonfree_source
    t0=$(date +%s)
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nvidia-cuda-dev >/dev/null
    echo "cuda: installed nvidia-cuda-dev in $(($(date +%s) - t0)) s"
  fi
  inc=/usr/include
  stubs="$arch_dir/stubs"
elif [ "$mode" != "light" ] && [ -f /usr/include/cuda.h ] && [ -f "$arch_dir/stubs/libcuda.so" ]; then
  inc=/usr/include
  stubs="$arch_dir/stubs"
else
  dir="${CUDA_HEADERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/saescope/cuda-headers}"
  if [ ! -f "$dir/include/cuda.h" ] || [ ! -f "$dir/stubs/libcuda.so" ]; then
    add_nonfree_source
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    chmod 755 "$tmp"
    t0=$(date +%s)
    (cd "$tmp" && apt-get download -qq nvidia-cuda-dev 2>&1 | grep -v "unsandboxed" >&2 || true)
    deb=$(ls "$tmp"/nvidia-cuda-dev_*.deb)
    mkdir -p "$dir/include" "$dir/stubs" "$tmp/x"
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp/x" ./usr/include/cuda.h ".${arch_dir}/stubs/libcuda.so"
    cp "$tmp/x/usr/include/cuda.h" "$dir/include/"
    cp "$tmp/x${arch_dir}/stubs/libcuda.so" "$dir/stubs/"
    echo "cuda: fetched cuda.h and the libcuda stub from $(basename "$deb") ($(du -m "$deb" | cut -f1) MB) in $(($(date +%s) - t0)) s, kept in $dir"
  fi
  inc="$dir/include"
  stubs="$dir/stubs"
fi

# Through gcc's CPATH and LIBRARY_PATH rather than CGO_CFLAGS/CGO_LDFLAGS:
# those are part of Go's build-cache keys, and changing them recompiles
# every cgo package (Fyne's OpenGL binding alone takes ~3 minutes).
export CPATH="$inc${CPATH:+:$CPATH}"
export LIBRARY_PATH="$stubs${LIBRARY_PATH:+:$LIBRARY_PATH}"

