#!/bin/sh
# tests/cli_unf_smoke.sh — `wsk unf` end to end.
#
# usage: sh tests/cli_unf_smoke.sh WSK [EMULATOR ARGS...]
# terms: the basis of built-in and JSON specs (a spec written with --json
# reads back to the same basis; a spec whose id sizes disagree is refused with
# the tensor and axis named). With FashionMNIST (Debian dataset-fashion-mnist;
# else those parts are skipped): meta-train of SGDM, Adam and the UNF learned
# optimizer on a tiny budget, a rerun that reuses them, a rerun with other
# settings that is refused, and eval's table.
set -u
wsk=$1
shift
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "cli_unf_smoke: $*" >&2; exit 1; }
run() { "$@" >"$tmp/out.txt" 2>"$tmp/err.txt"; }

run "$@" "$wsk" unf terms --spec mlp || { cat "$tmp/err.txt" >&2; fail "terms --spec mlp failed"; }
grep -q '^0.weight \[32\]\[64\] (h1, in): ' "$tmp/out.txt" || fail "terms: no line for 0.weight"
grep -q '0.weight\[ab\] <- 0.weight\[ab\]' "$tmp/out.txt" || fail "terms: no pointwise term"
run "$@" "$wsk" unf terms --spec rnn --summary || fail "terms --spec rnn failed"
grep -q 'terms in .* fusion groups' "$tmp/out.txt" || fail "terms: no summary line"

# a spec written as JSON reads back to the same basis
"$@" "$wsk" unf terms --spec transformer --json >"$tmp/t.json" || fail "terms --json failed"
"$@" "$wsk" unf terms --spec transformer --summary >"$tmp/a.txt" || fail "summary failed"
"$@" "$wsk" unf terms --spec "$tmp/t.json" --summary >"$tmp/b.txt" || fail "the JSON spec failed"
cmp -s "$tmp/a.txt" "$tmp/b.txt" || fail "the JSON spec's basis differs from the built-in's"

# a bad spec: an id with two sizes is named with its tensor and axis
cat >"$tmp/bad.json" <<'JSON'
{"name": "bad", "tensors": [
  {"name": "w1", "shape": [32, 8], "perm": ["h", "in"]},
  {"name": "w2", "shape": [10, 16], "perm": ["out", "h"]}]}
JSON
run "$@" "$wsk" unf terms --spec "$tmp/bad.json"
[ $? -eq 1 ] || fail "a bad spec did not exit 1"
grep -q 'w2' "$tmp/err.txt" && grep -q 'axis 1' "$tmp/err.txt" ||
  { cat "$tmp/err.txt" >&2; fail "the bad spec's message does not name tensor w2, axis 1"; }

# usage errors are exit status 2
run "$@" "$wsk" unf meta-train --opt sgd
[ $? -eq 2 ] || fail "--opt sgd is not a usage error"
run "$@" "$wsk" unf bogus
[ $? -eq 2 ] || fail "an unknown subcommand is not a usage error"

data=${WSK_DATA_DIR:-/usr/share/datasets/fashion-mnist}
if [ ! -r "$data/train-images-idx3-ubyte.gz" ]; then
  echo "cli_unf_smoke: ok (terms only: no FashionMNIST in $data)"
  exit 0
fi
small="--horizon 20 --meta-steps 2 --tasks 2 --truncation 10 --train-images 256 --quiet"
# shellcheck disable=SC2086
run "$@" "$wsk" unf meta-train --opt sgdm,adam,unf $small --out "$tmp/u" ||
  { cat "$tmp/err.txt" >&2; fail "meta-train failed"; }
cat "$tmp/out.txt"
for f in sgdm adam unf; do
  [ -s "$tmp/u/mlp/$f.meta.safetensors" ] || fail "no $f.meta.safetensors"
  [ -e "$tmp/u/mlp/$f.es" ] && fail "the ES checkpoint of $f was left behind"
done
[ -s "$tmp/u/mlp/adam_grid.csv" ] || fail "no adam_grid.csv"
# shellcheck disable=SC2086
run "$@" "$wsk" unf meta-train --opt sgdm,adam,unf $small --out "$tmp/u" || fail "the rerun failed"
[ "$(grep -c reused "$tmp/out.txt")" -eq 3 ] || { cat "$tmp/out.txt"; fail "the rerun retrained"; }
# shellcheck disable=SC2086
run "$@" "$wsk" unf meta-train --opt unf $small --sigma 0.02 --out "$tmp/u"
[ $? -eq 1 ] && grep -q 'other settings' "$tmp/err.txt" || fail "other settings were not refused"
run "$@" "$wsk" unf eval --horizon 20 --seeds 2 --train-images 256 --quiet --no-plots --out "$tmp/u" ||
  { cat "$tmp/err.txt" >&2; fail "eval failed"; }
cat "$tmp/out.txt"
grep -q '^| UNF (learned) | [0-9.]* ± ' "$tmp/out.txt" || fail "eval: no UNF row"
grep -q '^| Deep Set (learned) | — ' "$tmp/out.txt" || fail "eval: Deep Set should be absent"
[ -s "$tmp/u/mlp/eval.md" ] && [ -s "$tmp/u/mlp/curves.csv" ] || fail "eval wrote no files"
echo "cli_unf_smoke: ok"
