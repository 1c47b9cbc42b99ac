#!/usr/bin/env bash
# `muE --help` exits 0 and lists every subcommand with its description.
set -eu
help=$("$1" --help)
for sub in sweep fit transfer explain verify train coord-check validate trial env import report; do
  echo "$help" | grep -qE "^  $sub " || { echo "--help does not list '$sub'" >&2; exit 1; }
done
echo "$help" | grep -q -- "--device" || { echo "--help does not show --device" >&2; exit 1; }
