#!/usr/bin/env bash
# ctest runs each doctest case by name (doctest_discover_tests); CMake splits a name at ';'
# into two filters that match no case, so such a case passes without running. Every case
# name of every unit-test binary must be free of ';'.
set -u
fails=0
for bin in "$@"; do
  names=$("$bin" --list-test-cases --no-version) || { echo "FAIL: $bin --list-test-cases" >&2; exit 1; }
  bad=$(grep -F ';' <<<"$names")
  if [ -n "$bad" ]; then
    echo "FAIL: $bin has test case names with ';' (ctest would not run them):" >&2
    echo "$bad" >&2
    fails=$((fails + 1))
  fi
done
[ "$fails" -eq 0 ] && echo "ok: no ';' in the case names of $# test binaries"
exit "$fails"
