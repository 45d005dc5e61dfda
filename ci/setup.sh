#!/usr/bin/env bash
# ci/setup.sh — install what wsk needs to build, test and run, on Debian 12 or
# Ubuntu. Installs only the packages that are missing; a second run does
# nothing (no apt-get update) and takes a second.
#
# usage: bash ci/setup.sh [--cross]
#   --cross   also the aarch64 cross toolchain, qemu-user and the :arm64
#             libraries (adds the arm64 dpkg architecture if it is missing)
#
# Runs as root, or through sudo when not root.
set -euo pipefail

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; }

cross=0
for arg in "$@"; do
  case "$arg" in
    --cross) cross=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "setup.sh: unknown argument '$arg'" >&2; usage >&2; exit 2 ;;
  esac
done

log() { printf 'setup: %s\n' "$*"; }

# ---- privilege ------------------------------------------------------------
# Checked only when something must be installed: with everything present the
# script succeeds for any user.
as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    env DEBIAN_FRONTEND=noninteractive "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo env DEBIAN_FRONTEND=noninteractive "$@"
  else
    echo "setup.sh: must run as root, or as a user with sudo (sudo not found), to run: $*" >&2
    exit 1
  fi
}

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup.sh: needs a Debian or Ubuntu system (dpkg + apt-get)" >&2
  exit 1
fi

# ---- the package lists ------------------------------------------------------
native_pkgs=(
  build-essential cmake pkg-config
  libsleef-dev libcmocka-dev libhwloc-dev hwloc libbenchmark-dev libcjson-dev zlib1g-dev
  dataset-fashion-mnist gnuplot-nox libopenblas-dev python3-venv
)
cross_pkgs=(
  gcc-aarch64-linux-gnu g++-aarch64-linux-gnu qemu-user libbenchmark-dev:arm64
  libsleef-dev:arm64 libcmocka-dev:arm64 libhwloc-dev:arm64 libcjson-dev:arm64 zlib1g-dev:arm64
)

host_arch=$(dpkg --print-architecture)

# is_installed PKG[:ARCH] — installed for ARCH, or for the host (or "all") when
# no architecture is given.
is_installed() {
  local pkg=$1 status arch
  if [[ $pkg == *:* ]]; then
    [[ $(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null) == installed ]]
    return
  fi
  while read -r status arch; do
    if [[ $status == installed && ($arch == "$host_arch" || $arch == all) ]]; then
      return 0
    fi
  done < <(dpkg-query -W -f='${db:Status-Status} ${Architecture}\n' "$pkg" 2>/dev/null || true)
  return 1
}

# ---- arm64 multiarch ----------------------------------------------------------
# On Ubuntu the arm64 packages live on ports.ubuntu.com, not on the primary
# mirror: add a ports source for arm64 and pin the existing sources to the host
# architecture, or apt-get update fails with 404s.
ubuntu_arm64_sources() {
  # shellcheck disable=SC1091
  . /etc/os-release
  [[ ${ID:-} == ubuntu ]] || return 0
  grep -rqs 'ports.ubuntu.com' /etc/apt/sources.list /etc/apt/sources.list.d/ && return 0
  local codename=${VERSION_CODENAME:?}
  log "Ubuntu: adding ports.ubuntu.com for arm64, pinning other sources to $host_arch"
  if [[ -f /etc/apt/sources.list.d/ubuntu.sources ]]; then
    as_root sed -i "/^Architectures:/d; /^Types:/a Architectures: $host_arch" \
      /etc/apt/sources.list.d/ubuntu.sources
  fi
  if [[ -f /etc/apt/sources.list ]]; then
    as_root sed -i -E "s/^deb (http|https|mirror)/deb [arch=$host_arch] \1/" /etc/apt/sources.list
  fi
  printf 'deb [arch=arm64] http://ports.ubuntu.com/ubuntu-ports %s main universe\n' \
    "$codename" "$codename-updates" "$codename-security" |
    as_root tee /etc/apt/sources.list.d/wsk-arm64-ports.list >/dev/null
}

wanted=("${native_pkgs[@]}")
if ((cross)); then
  wanted+=("${cross_pkgs[@]}")
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    log "adding the arm64 dpkg architecture"
    ubuntu_arm64_sources
    as_root dpkg --add-architecture arm64
  fi
fi

missing=()
for pkg in "${wanted[@]}"; do
  is_installed "$pkg" || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
  log "all ${#wanted[@]} packages already installed"
  exit 0
fi

log "installing: ${missing[*]}"
as_root apt-get update -q
as_root apt-get install -y -q --no-install-recommends "${missing[@]}"

# Check, so that a package apt skipped is reported here and not as a confusing
# configure error later.
still=()
for pkg in "${missing[@]}"; do
  is_installed "$pkg" || still+=("$pkg")
done
if ((${#still[@]})); then
  echo "setup.sh: still not installed: ${still[*]}" >&2
  exit 1
fi
log "done"
