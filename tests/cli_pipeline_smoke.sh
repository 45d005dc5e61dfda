#!/bin/sh
# tests/cli_pipeline_smoke.sh — `wsk pipeline --smoke` end to end.
#
# usage: sh tests/cli_pipeline_smoke.sh WANT_DIGEST WSK [EMULATOR ARGS...]
# Runs the smoke pipeline (zoo -> SSL -> probes, then the learned optimizers
# and the UNF predictor -> report) into a fresh
# directory and checks: the results table, the report, and the result digest,
# which must equal WANT_DIGEST (recorded on x86-64) on every CPU, ISA tier
# (WSK_ISA) and thread count — under qemu-aarch64 this proves NEON gives the
# x86 bits end to end. Then runs it again: every stage must be reused (the
# zoo's members kept, the SSL epochs resumed) with the same digest, and the
# PNG plots are drawn when gnuplot is installed. Needs
# FashionMNIST (Debian dataset-fashion-mnist); skips (77) without it.
set -u
want=$1
wsk=$2
shift 2
data=${WSK_DATA_DIR:-/usr/share/datasets/fashion-mnist}
[ -r "$data/train-images-idx3-ubyte.gz" ] ||
  { echo "SKIP: no FashionMNIST in $data (apt-get install dataset-fashion-mnist)"; exit 77; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "cli_pipeline_smoke: $*" >&2; exit 1; }

"$@" "$wsk" pipeline --smoke --no-plots --quiet --out "$tmp/p" >"$tmp/out.txt" 2>"$tmp/err.txt" ||
  { cat "$tmp/err.txt" >&2; fail "wsk pipeline --smoke exited non-zero"; }
cat "$tmp/out.txt"
grep -q '^| test accuracy ' "$tmp/out.txt" || fail "no results table"
grep -q '^| optimizer ' "$tmp/out.txt" || fail "the table lacks the optimizer row"
grep -q '^| UNF (learned) | [0-9.]* ± ' "$tmp/out.txt" || fail "no learned-optimizer table"
grep -q '^| Adam (tuned lr) | [0-9.]* ± ' "$tmp/out.txt" || fail "the learned-optimizer table lacks Adam"
grep -q '^Test accuracy, Kendall tau on .*UNF predictor' "$tmp/out.txt" || fail "no predictor line"
for f in report.md probe.md probe.csv zoo/zoo.csv ssl/embeddings.safetensors ssl/ssl_loss.csv \
  unf/mlp/unf.meta.safetensors unf/mlp/deepset.meta.safetensors unf/mlp/eval.md; do
  [ -s "$tmp/p/$f" ] || fail "no $f"
done
grep -q '^## Results' "$tmp/p/report.md" || fail "report.md lacks the results"
grep -q 'hyper-representation' "$tmp/p/report.md" || fail "report.md lacks the table"
grep -q '^## Universal neural functionals' "$tmp/p/report.md" || fail "report.md lacks the UNF half"
grep -q '^| UNF (invariant) | ' "$tmp/p/report.md" || fail "report.md lacks the predictor"
got=$(sed -n 's/^pipeline digest: //p' "$tmp/out.txt")
[ "$got" = "$want" ] || fail "digest $got, recorded $want (WSK_ISA=${WSK_ISA:-best})"

# again: everything is reused, and the result is the same; with gnuplot
# installed, this run also draws the plots
"$@" "$wsk" pipeline --smoke --quiet --out "$tmp/p" >"$tmp/out2.txt" 2>"$tmp/err2.txt" ||
  { cat "$tmp/err2.txt" >&2; fail "the second run exited non-zero"; }
if command -v gnuplot >/dev/null 2>&1; then
  for f in ssl_loss.png acc_pred.png; do
    [ -s "$tmp/p/$f" ] || fail "gnuplot is installed but $f was not drawn"
    grep -q "($f)" "$tmp/p/report.md" || fail "report.md does not show $f"
  done
fi
got2=$(sed -n 's/^pipeline digest: //p' "$tmp/out2.txt")
[ "$got2" = "$want" ] || fail "the rerun's digest is $got2"
grep -q 'members kept: 8 of 8' "$tmp/p/report.md" || fail "the rerun retrained zoo members"
grep -q 'SSL epochs resumed: 2 of 2' "$tmp/p/report.md" || fail "the rerun retrained the SSL model"
grep -q 'Meta-training: unf reused; deepset reused; sgdm reused; adam reused;' "$tmp/p/report.md" ||
  fail "the rerun meta-trained again"

# a usage error is exit status 2
"$@" "$wsk" pipeline --smoke --full >/dev/null 2>&1
[ $? -eq 2 ] || fail "--smoke --full is not a usage error"
echo "cli_pipeline_smoke: ok ($got)"
