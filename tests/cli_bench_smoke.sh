#!/bin/sh
# tests/cli_bench_smoke.sh — `wsk bench` end to end on a tiny filter.
#
# usage: sh tests/cli_bench_smoke.sh WSK [EMULATOR ARGS...]
# Runs the roofline plus the permsum total means of one small L1 shape on
# every tier, with the shortest measurements; checks the table (roofline
# lines, one line per tier, a % of roofline), the JSON (format, machine,
# results) and that `wsk bench-compare` reads it back.
set -u
wsk=$1
shift
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "cli_bench_smoke: $*" >&2; exit 1; }

"$@" "$wsk" bench --filter 'permsum/total/[a-z0-9]+/4x64x16/L1' --min-time 0.001 \
  --repetitions 1 --out "$tmp/b.json" >"$tmp/out.txt" 2>"$tmp/err.txt" ||
  { cat "$tmp/err.txt" >&2; fail "wsk bench exited non-zero"; }
cat "$tmp/out.txt"
grep -q '^roofline  FMA peak' "$tmp/out.txt" || fail "no roofline line"
grep -q '^roofline read' "$tmp/out.txt" || fail "no roofline read cases"
grep -Eq '^permsum +total +scalar +4x64x16 +L1' "$tmp/out.txt" || fail "no scalar line"
# the tier the kernels use here (the best one, or WSK_ISA's cap)
best=$("$@" "$wsk" info | awk '$1 == "permsum" && $2 == "->" {print $3}')
[ -n "$best" ] || fail "wsk info names no tier for permsum"
grep -Eq "^permsum +total +$best +4x64x16 +L1 .*bandwidth" "$tmp/out.txt" ||
  fail "no $best line with a roofline fraction"
[ -s "$tmp/b.json" ] || fail "no JSON written"
grep -Eq '"format":[[:space:]]*"wsk-bench/1"' "$tmp/b.json" || fail "JSON lacks the format tag"
grep -q '"read_gbs"' "$tmp/b.json" || fail "JSON lacks the roofline"
ls "$tmp"/b.json.tmp.* >/dev/null 2>&1 && fail "a temporary file was left behind"

"$@" "$wsk" bench-compare --no-plots "$tmp/b.json" >"$tmp/cmp.md" 2>"$tmp/err.txt" ||
  { cat "$tmp/err.txt" >&2; fail "bench-compare could not read the JSON"; }
grep -q 'permsum' "$tmp/cmp.md" || fail "bench-compare table lacks the permsum rows"

"$@" "$wsk" bench --bogus-flag >/dev/null 2>&1 && fail "an unknown option was accepted"
echo "cli_bench_smoke: ok"
