# Sourced by the native checks: copies this package (tracked and unignored files) into a fresh
# temp folder, links node_modules and the compiled contracts, and cds there, so a build into its
# build/ never touches this checkout's addon. Sets $root and $work.
#   KEEP=1 keeps the copy (its path is printed).
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/quackmesh-${1:-copy}.XXXXXX")
if [ "${KEEP:-}" = 1 ]; then echo "copy kept in $work"; else trap 'rm -rf "$work"' EXIT; fi

cd "$root"
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
  tar --null -T - -cf - | tar -xf - -C "$work"
ln -s "$root/node_modules" "$work/node_modules"
# Built outputs some tests read (compiled contracts, which the bench test's imports load).
[ -d "$root/artifacts" ] && ln -s "$root/artifacts" "$work/artifacts"
cd "$work"
