#!/usr/bin/env bash
# Builds the addon's C++ with AddressSanitizer + UndefinedBehaviorSanitizer (cmake -DQM_SANITIZE=ON)
# in a copy of the package and runs the native tests against it. Any sanitizer report fails the
# check, as does a failing test.
#   scripts/check-sanitizers.sh         build, test, print the number of findings
#   KEEP=1 scripts/check-sanitizers.sh  keep the copy and its log (paths printed)
set -euo pipefail
source "$(dirname "$0")/lib/package-copy.sh" asan

npx --no-install cmake-js compile --out build --CDQM_SANITIZE=ON --CDQUACKMESH_NO_CUDA=ON >cmake.log 2>&1 || { tail -n 40 cmake.log; exit 1; }
grep -q "C++ built with -fsanitize" cmake.log || { echo "the sanitizer build flags were not applied"; exit 1; }

# Node itself is not instrumented: the ASan runtime must be loaded first. Leak checking is off
# (V8 keeps memory until exit); allocator_may_return_null lets the addon's bad_alloc paths run.
asan=$(gcc -print-file-name=libasan.so)
ubsan=$(gcc -print-file-name=libubsan.so)
log="$work/sanitizers.log"
status=0
LD_PRELOAD="$asan:$ubsan" \
  ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1:halt_on_error=1:abort_on_error=0 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  npx --no-install tap --disable-coverage -R tap native/*.test.ts >"$log" 2>&1 || status=$?
findings=$(grep -cE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$log" || true)
grep -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|^# \{ total" "$log" | head -n 20 || true
echo "sanitizer findings: $findings; native tests exit status: $status"
[ "$findings" -eq 0 ] && [ "$status" -eq 0 ]
