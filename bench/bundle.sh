#!/usr/bin/env bash
# bench/bundle.sh — packs a built `wsk` (and the test programs) with the shared
# libraries it needs that a bare machine may lack, to benchmark a CPU where
# the Debian packages cannot be installed. The target needs the same
# architecture and a glibc and libstdc++ at least as new as the build's.
#
# usage: bash bench/bundle.sh BUILD_DIR OUT_DIR
#   then, on the other machine:  OUT_DIR/run info | OUT_DIR/run bench --out x.json
#   and OUT_DIR/run-tests runs the unit tests there.
set -euo pipefail
build=${1:?usage: bench/bundle.sh BUILD_DIR OUT_DIR}
out=${2:?usage: bench/bundle.sh BUILD_DIR OUT_DIR}
[ -x "$build/wsk" ] || { echo "bundle.sh: no $build/wsk (build first)" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out/bin" "$out/lib"
cp "$build/wsk" "$out/bin/"
for t in "$build"/test_*; do [ -x "$t" ] && cp "$t" "$out/bin/"; done

# every shared library the programs load, except the C and C++ runtimes
# that any machine with a compiler has
for f in "$out"/bin/*; do
  ldd "$f" | awk '/=> \// {print $3}'
done | sort -u | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so.* | libm.so.* | libpthread.so.* | libdl.so.* | librt.so.* | ld-linux*) ;;
    libgcc_s.so.* | libstdc++.so.*) ;;
    *) cp -L "$lib" "$out/lib/" ;;
  esac
done

cat >"$out/run" <<'SH'
#!/bin/sh
here=$(cd "$(dirname "$0")" && pwd)
LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$here/bin/wsk" "$@"
SH
cat >"$out/run-tests" <<'SH'
#!/bin/sh
# runs every unit test of the bundle; exit status 1 if any failed
here=$(cd "$(dirname "$0")" && pwd)
export LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
failed=0
for t in "$here"/bin/test_*; do
  [ -x "$t" ] || continue
  if "$t" >"$t.log" 2>&1; then echo "passed $(basename "$t")"; else echo "FAILED $(basename "$t")"; tail -20 "$t.log"; failed=1; fi
done
exit $failed
SH
chmod +x "$out/run" "$out/run-tests"
echo "bundle.sh: $(du -sh "$out" | cut -f1) in $out"
