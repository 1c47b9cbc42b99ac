#!/usr/bin/env bash
# docs/method.md documents every rule id the code can print: each id listed by
# `muE explain --rules` must occur in it in code font (`id`), and each section the
# catalog names (§N, §9.N = row N of §9's table, §11.N) must exist in the document.
set -u
mue=$1 doc=${2:-}/docs/method.md
[ -f "$doc" ] || { echo "FAIL: $doc does not exist" >&2; exit 1; }
rules=$("$mue" explain --rules) || { echo "FAIL: muE explain --rules exited $?" >&2; exit 1; }
fails=0 n=0
while read -r id sections; do
  [ -n "$id" ] || continue
  n=$((n + 1))
  if ! grep -qF "\`$id\`" "$doc"; then
    echo "FAIL: rule id '$id' does not occur in $doc as \`$id\`" >&2
    fails=$((fails + 1))
  fi
  # The section column is the words after the id that start with §, e.g. "§4 / §9.1".
  for s in $(grep -oE '§[0-9]+(\.[0-9]+)?' <<<"$sections"); do
    num=${s#§} main=${num%%.*} sub=${num#*.}
    [ "$num" = "$main" ] && sub=""
    if ! grep -qE "^## $main\. " "$doc"; then
      echo "FAIL: rule '$id' cites $s, but $doc has no section '## $main.'" >&2
      fails=$((fails + 1))
    elif [ -n "$sub" ] && [ "$main" = 9 ] && ! grep -qE "^\| $sub \|" "$doc"; then
      echo "FAIL: rule '$id' cites $s, but §9's table has no row $sub" >&2
      fails=$((fails + 1))
    elif [ -n "$sub" ] && [ "$main" != 9 ] && ! grep -qF "**$main.$sub " "$doc"; then
      echo "FAIL: rule '$id' cites $s, but $doc has no paragraph **$main.$sub" >&2
      fails=$((fails + 1))
    fi
  done
done < <(awk '{id=$1; $1=""; n=split($0, w, " "); s=""; for (i=1;i<=n;i++) if (w[i] ~ /^§/ || w[i] == "/") s=s" "w[i]; else break; print id, s}' <<<"$rules")
if [ "$n" -lt 10 ]; then
  echo "FAIL: only $n rule ids parsed from muE explain --rules (format changed?)" >&2
  exit 1
fi
[ "$fails" -eq 0 ] || { echo "$fails problem(s) in $doc" >&2; exit 1; }
echo "ok: all $n rule ids of muE explain --rules are documented in $doc"
