#!/usr/bin/env bash
# Every bad fixture has an expectation in manifest.json, and every entry has a file.
set -eu
dir=$1
status=0
for f in "$dir"/*.json; do
  n=$(basename "$f" .json)
  [ "$n" = manifest ] && continue
  grep -q "\"$n\":" "$dir/manifest.json" || { echo "not in manifest: $n" >&2; status=1; }
done
for n in $(grep -o '^ *"[^"]*": {' "$dir/manifest.json" | sed 's/^ *"\([^"]*\)".*/\1/'); do
  [ -f "$dir/$n.json" ] || { echo "manifest entry without a file: $n" >&2; status=1; }
done
count=$(ls "$dir"/*.json | grep -vc manifest.json)
[ "$count" -ge 15 ] || { echo "only $count bad fixtures; at least 15 expected" >&2; status=1; }
exit $status
