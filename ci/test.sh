#!/usr/bin/env bash
# ci/test.sh — the full test run of wsk (what CI and `.ci/run` execute).
#
# usage: bash ci/test.sh [--no-setup]
#   --no-setup   skip `ci/setup.sh --cross` (packages already installed)
#
# Installs what is missing (ci/setup.sh --cross), builds the release preset,
# then runs the test suite in legs, each recorded on its own:
#   native       the best tier this CPU has (no WSK_ISA)
#   <tier>       once per lower tier, with WSK_ISA=<tier> (e.g. avx2, scalar)
#   aarch64      the cross build, its suite under qemu-aarch64
#   sanitizers   the asan preset (ASan + UBSan)
# A failing leg does not stop the others. The run ends with one line per leg
# and `legs: N passed, M failed`; the exit status is 1 when any leg failed.
# Safe to run again: build/<preset> dirs are reused. Logs: build/ci-logs/.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

setup=1
for arg in "$@"; do
  case "$arg" in
    --no-setup) setup=0 ;;
    -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "test.sh: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done

jobs=$(nproc 2>/dev/null || echo 2)
logs=build/ci-logs
unset WSK_ISA # the native leg must see every tier
start=$SECONDS

section() { printf '\n==== %s ====\n' "$*"; }

leg_lines=()
legs_passed=0
legs_failed=0

# record LEG-LABEL OK(0/1) TEXT — remember one leg's result line.
record() {
  leg_lines+=("leg $1: $3")
  if (($2)); then legs_passed=$((legs_passed + 1)); else legs_failed=$((legs_failed + 1)); fi
}

# build PRESET — configure + build one preset; output in $logs/build-PRESET.log.
build() {
  local preset=$1 log="$logs/build-$1.log"
  section "build $preset"
  if { cmake --preset "$preset" && cmake --build --preset "$preset" -j "$jobs"; } >"$log" 2>&1; then
    tail -n 3 "$log"
    return 0
  fi
  tail -n 40 "$log"
  echo "build of preset $preset failed; full log: $log" >&2
  return 1
}

# run_leg LEG-LABEL LOG-NAME PRESET [VAR=VALUE...] — run ctest for PRESET with
# the given environment and record the counts from ctest's summary line.
run_leg() {
  local label=$1 name=$2 preset=$3 rc=0 line passed failed total
  shift 3
  local log="$logs/test-$name.log" t0=$SECONDS
  section "leg $label"
  env "$@" ctest --preset "$preset" --output-on-failure -j "$jobs" 2>&1 | tee "$log" || rc=$?
  # e.g. "86% tests passed, 1 tests failed out of 7"
  line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1 || true)
  echo "(leg $label: exit $rc, $((SECONDS - t0)) s)"
  if [[ $line =~ ([0-9]+)\ tests?\ failed\ out\ of\ ([0-9]+) ]]; then
    failed=${BASH_REMATCH[1]}
    total=${BASH_REMATCH[2]}
    passed=$((total - failed))
    if ((rc == 0 && failed == 0 && total > 0)); then
      record "$label" 1 "$passed passed, $failed failed"
    elif ((failed > 0)); then
      record "$label" 0 "$passed passed, $failed failed"
    else
      record "$label" 0 "$passed passed, $failed failed (ctest exit $rc, see $log)"
    fi
  else
    record "$label" 0 "no test results (ctest exit $rc, see $log)"
  fi
}

if ((setup)); then
  section "setup"
  bash ci/setup.sh --cross
fi
mkdir -p "$logs"

# ---- Python interop (optional) --------------------------------------------------
# A venv over the system python (its numpy, and python3-torch when installed)
# with the safetensors package from PyPI, for the safetensors_interop test;
# without network the venv stays incomplete and that test skips.
if [[ ! -x build/venv/bin/python ]] && command -v /usr/bin/python3 >/dev/null; then
  /usr/bin/python3 -m venv --system-site-packages build/venv >/dev/null 2>&1 || rm -rf build/venv
fi
if [[ -x build/venv/bin/python ]]; then
  build/venv/bin/python -c 'import safetensors, numpy' 2>/dev/null ||
    timeout 180 build/venv/bin/pip install -q safetensors numpy >/dev/null 2>&1 ||
    echo "(safetensors could not be installed from PyPI: the interop test will skip)"
  export PATH="$PWD/build/venv/bin:$PATH"
fi

# ---- native legs: best tier, then every lower tier forced -------------------
if build release; then
  if isas=$(build/release/wsk info --isas) && [[ -n $isas ]]; then
    read -r -a tiers <<<"$isas"
    echo "tiers on this CPU, best first: ${tiers[*]}"
    echo "best tier: ${tiers[0]}"
    run_leg "native (${tiers[0]})" native release
    for tier in "${tiers[@]:1}"; do
      run_leg "$tier (WSK_ISA=$tier)" "$tier" release "WSK_ISA=$tier"
    done
  else
    echo "'build/release/wsk info --isas' failed or printed nothing" >&2
    record "native" 0 "wsk info --isas failed"
  fi
else
  record "native" 0 "build failed (see $logs/build-release.log)"
fi

# ---- aarch64 under qemu ---------------------------------------------------------
if build aarch64; then
  run_leg aarch64 aarch64 aarch64
else
  record aarch64 0 "build failed (see $logs/build-aarch64.log)"
fi

# ---- sanitizers -----------------------------------------------------------------------
if build asan; then
  run_leg sanitizers sanitizers asan
else
  record sanitizers 0 "build failed (see $logs/build-asan.log)"
fi

section "summary ($((SECONDS - start)) s)"
printf '%s\n' "${leg_lines[@]}"
echo "legs: $legs_passed passed, $legs_failed failed"
((legs_failed == 0))
