#!/bin/sh
# tests/cli_bench_compare.sh — end-to-end checks of `wsk bench-compare`.
#
#   sh tests/cli_bench_compare.sh [--data DIR] WSK [EMULATOR [EMULATOR-ARGS...]]
#
# WSK       the wsk program
# DIR       the test inputs a.json and b.json (default: data/bench next to
#           this script)
# EMULATOR  a prefix to run WSK with, e.g. "qemu-aarch64 -L /usr/aarch64-linux-gnu"
#           (ctest passes ${CMAKE_CROSSCOMPILING_EMULATOR}: empty natively)
#
# Checks: the merged report of two machines (both labels, "—" for a case one
# machine lacks, "skipped (reason)", the tier-gain lines), -o (atomic, same
# text as stdout), --label and de-duplicated labels, a file that is not JSON,
# a wrong format and a missing file (exit 1, the file named), no input and an
# unknown option (exit 2), --help; the roofline PNGs when gnuplot is on PATH,
# and the note (exit 0, no PNG) when it is not. POSIX sh; exit 0 when every
# check passes, 1 otherwise (each failure is printed).
set -u

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

data=$(dirname "$0")/data/bench
if [ "${1-}" = "--data" ]; then
  [ $# -ge 2 ] || usage
  data=$2
  shift 2
fi
[ $# -ge 1 ] || usage
wsk=$1
shift
case $wsk in /*) ;; *) wsk=$(pwd)/$wsk ;; esac
[ -f "$wsk" ] || { echo "cli_bench_compare: no wsk program at '$wsk'" >&2; exit 1; }
for f in a.json b.json; do
  [ -f "$data/$f" ] || { echo "cli_bench_compare: no test input '$data/$f'" >&2; exit 1; }
done
a=$data/a.json
b=$data/b.json

tmp=${TMPDIR:-/tmp}/cli_bench_compare.$$
rm -rf "$tmp"
mkdir "$tmp" || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

# quote WORD — WORD as one single-quoted sh word.
quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

# The runner $tmp/wsk.sh: [EMULATOR...] WSK "$@", with the emulator resolved
# now, so that a test may run it with another PATH (WSK_TEST_PATH).
{
  echo '[ -n "${WSK_TEST_PATH-}" ] && { PATH=$WSK_TEST_PATH; export PATH; }'
  printf 'exec'
  if [ $# -gt 0 ]; then
    emu=$1
    case $emu in
      */*) ;;
      *) emu=$(command -v "$emu") || { echo "cli_bench_compare: emulator '$1' not found" >&2; exit 1; } ;;
    esac
    printf ' %s' "$(quote "$emu")"
    shift
    for arg in "$@"; do printf ' %s' "$(quote "$arg")"; done
  fi
  printf ' %s "$@"\n' "$(quote "$wsk")"
} >"$tmp/wsk.sh" || exit 1

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
ok() { echo "ok: $*"; }

# run NAME EXPECTED-STATUS ARGS... — runs wsk; stdout in $tmp/NAME.out,
# stderr in $tmp/NAME.err; checks the exit status.
run() {
  name=$1
  want=$2
  shift 2
  sh "$tmp/wsk.sh" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
  got=$?
  if [ "$got" -ne "$want" ]; then
    fail "$name: exit status $got, expected $want (wsk $*)"
    sed 's/^/  stderr: /' "$tmp/$name.err" | head -n 20 >&2
    return 1
  fi
  return 0
}

# has NAME FILE TEXT — FILE contains the fixed string TEXT.
has() {
  if grep -F -q -e "$3" "$2"; then
    ok "$1"
  else
    fail "$1: '$3' not found in $(basename "$2")"
  fi
}

# is_png FILE — FILE is a non-empty PNG (magic bytes 89 50 4E 47 0D 0A 1A 0A).
is_png() {
  [ -s "$1" ] || return 1
  magic=$(od -An -tx1 -N8 "$1" | tr -d ' \n')
  [ "$magic" = "89504e470d0a1a0a" ]
}

# ---- the report of two machines ------------------------------------------------------
if run report 0 bench-compare "$a" "$b"; then
  out=$tmp/report.out
  has "label of a.json" "$out" "| zen4 | alder |"
  has "missing case reads —" "$out" \
    "| eqpool | forward | 256x256 | model | 2 | avx512 | 42.0 µs | 200 GFLOP/s | 83.2% | — | — | — |"
  has "case only in b.json" "$out" "| peer | sgemm | 256x256x256 | L2 | 1 | openblas | — | — | — | 350 µs | 95.9 GFLOP/s | 63.8% |"
  has "skipped with its reason" "$out" "skipped (this CPU lacks avx512)"
  has "GB/s for a bandwidth-bound case" "$out" "| 1.23 µs | 106 GB/s | 91.2% |"
  has "machine table: FMA peaks" "$out" "| FMA peak avx512, GFLOP/s (1 core / all) | 121 / 240 | — |"
  has "machine table: caches" "$out" "L1d 32 KiB ×2, L2 1 MiB ×2, L3 32 MiB ×1"
  has "tier-gain line (zen4)" "$out" "| permsum | rows | 64x32x16 | L2 | 1 | 7.94× | 1.70× | 1.00× | avx512 | 7.94× |"
  has "tier-gain line with a skipped tier (alder)" "$out" \
    "| eqpool | forward | 256x256 | model | 1 | 6.39× | 1.00× | skipped | avx2 | 6.39× |"
  if [ -s "$tmp/report.err" ]; then
    fail "report: unexpected stderr: $(head -n 3 "$tmp/report.err")"
  fi
fi

# ---- -o: the same text, written atomically (no temporary file left) ---------------------
mkdir "$tmp/o"
if run output 0 bench-compare --no-plots -o "$tmp/o/report.md" "$a" "$b"; then
  if [ -f "$tmp/report.out" ] && cmp -s "$tmp/report.out" "$tmp/o/report.md"; then
    ok "-o writes the same report as stdout"
  else
    fail "-o: $tmp/o/report.md differs from the report on stdout"
  fi
  left=$(ls "$tmp/o" | grep -v '^report\.md$')
  [ -z "$left" ] && ok "-o leaves no temporary file" || fail "-o left: $left"
fi

# ---- labels ----------------------------------------------------------------------------------
if run labels 0 bench-compare --label "box one" --label=two "$a" "$b"; then
  has "--label names the columns" "$tmp/labels.out" "| box one | two |"
fi
if run dup 0 bench-compare "$a" "$a"; then
  has "equal labels get the file name" "$tmp/dup.out" "zen4 (a.json) #2"
fi

# ---- errors -----------------------------------------------------------------------------------
printf '{ "format": "wsk-bench/1", "results": [ \n' >"$tmp/bad.json"
if run bad_json 1 bench-compare "$a" "$tmp/bad.json"; then
  has "bad JSON names the file" "$tmp/bad_json.err" "bad.json"
fi
printf '{"format": "something-else/2", "results": []}\n' >"$tmp/other.json"
if run bad_format 1 bench-compare "$tmp/other.json"; then
  has "wrong format names the file" "$tmp/bad_format.err" "other.json"
fi
if run missing_file 1 bench-compare "$a" "$tmp/no-such-file.json"; then
  has "missing file is named" "$tmp/missing_file.err" "no-such-file.json"
fi
run no_args 2 bench-compare && ok "no input: exit 2"
run bad_option 2 bench-compare --no-such-option "$a" && ok "unknown option: exit 2"
run too_many_labels 2 bench-compare --label x --label y "$a" && ok "more labels than inputs: exit 2"
if run help 0 bench-compare --help; then
  has "--help describes --plot-dir" "$tmp/help.out" "--plot-dir"
fi
# Minimal and odd inputs must not crash.
printf '{"format": "wsk-bench/1"}\n' >"$tmp/min.json"
printf '{"format": "wsk-bench/1", "machine": 3, "roofline": {"fma_gflops": [1]}, "results": [1, {"family": 2}, {"skipped": true}]}\n' >"$tmp/odd.json"
run odd_inputs 0 bench-compare "$tmp/min.json" "$tmp/odd.json" "$a" && ok "minimal and odd inputs"

# ---- plots -------------------------------------------------------------------------------------
if command -v gnuplot >/dev/null 2>&1; then
  if run plots 0 bench-compare --plot-dir "$tmp/plots" "$a" "$b"; then
    for m in zen4 alder; do
      if is_png "$tmp/plots/roofline-$m.png"; then
        ok "roofline-$m.png is a PNG"
      else
        fail "plots: $tmp/plots/roofline-$m.png missing, empty or not a PNG"
      fi
    done
    has "report links the plots" "$tmp/plots.out" "roofline-zen4.png"
  fi
  mkdir "$tmp/rep"
  if run plots_next_to_o 0 bench-compare -o "$tmp/rep/r.md" "$a" "$b"; then
    if is_png "$tmp/rep/roofline-alder.png"; then
      ok "-o puts the plots next to the report"
    else
      fail "-o: no $tmp/rep/roofline-alder.png"
    fi
    has "report links the plots relative to itself" "$tmp/rep/r.md" "](roofline-alder.png)"
  fi
else
  echo "skip: gnuplot not on PATH, PNG checks skipped"
fi
# Without gnuplot: a note on stderr, exit 0, no PNG.
WSK_TEST_PATH=/nonexistent-dir
export WSK_TEST_PATH
run no_gnuplot 0 bench-compare --plot-dir "$tmp/noplots" "$a" "$b"
no_gnuplot_rc=$?
unset WSK_TEST_PATH
if [ "$no_gnuplot_rc" -eq 0 ]; then
  has "note without gnuplot" "$tmp/no_gnuplot.err" "gnuplot not found: no plots written (install gnuplot-nox); the table is complete"
  if ls "$tmp/noplots"/*.png >/dev/null 2>&1; then
    fail "no_gnuplot: a PNG was written"
  else
    ok "no PNG without gnuplot"
  fi
fi

if [ "$failures" -gt 0 ]; then
  echo "cli_bench_compare: $failures check(s) failed" >&2
  exit 1
fi
echo "cli_bench_compare: all checks passed"
exit 0
