#!/usr/bin/env bash
# ci/main.sh — the main job: install what is missing, build the release preset
# and run the hyper-representation pipeline (`wsk pipeline`: zoo -> SSL ->
# probes on FashionMNIST, about 10 minutes on 2 cores), which
# prints the results table and writes wsk-pipeline/report.md.
#
# usage: bash ci/main.sh [ARGS...]    (ARGS are passed on to `wsk pipeline`,
#                                      e.g. --smoke, --out DIR, --full)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The command this job runs.
main_cmd=(build/release/wsk pipeline)

bash ci/setup.sh
cmake --preset release
cmake --build --preset release -j "$(nproc 2>/dev/null || echo 2)"
"${main_cmd[@]}" "$@"
