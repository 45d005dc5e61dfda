#!/usr/bin/env bash
# ci/main.sh — the main job: install what is missing, build the release preset
# and run the wsk program.
#
# usage: bash ci/main.sh [ARGS...]    (ARGS are passed on to the program)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The command this job runs; swap this one line for `wsk pipeline`.
main_cmd=(build/release/wsk info)

bash ci/setup.sh
cmake --preset release
cmake --build --preset release -j "$(nproc 2>/dev/null || echo 2)"
"${main_cmd[@]}" "$@"
