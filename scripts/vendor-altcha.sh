#!/usr/bin/env bash
# Vendors the ALTCHA proof-of-work widget (npm package "altcha") into
# static/altcha/, from where wxcas serves it under /static/altcha/.
#
# Only the "external" build (dist_external/) is copied: it is the one that
# runs under wxcas's strict Content-Security-Policy. The default build
# (dist/) injects a <style> element and starts its worker from a blob: URL,
# both of which "style-src 'self'" and "script-src 'self'" refuse. The
# external build keeps its CSS in altcha.css and its worker in worker.js,
# which altcha.js starts as new Worker(new URL("./worker.js",
# import.meta.url)): the three files must stay side by side, under these
# names, and altcha.js must be loaded as a module script.
#
# What it does, every time from scratch (re-runnable; the result is the same
# for the same version):
#   1. npm pack altcha@VERSION into a temporary directory, through the
#      machine's own npm configuration (no registry is named here);
#   2. checks the tarball against the integrity the registry publishes
#      (npm view altcha@VERSION dist.integrity, a sha512 SRI string);
#   3. replaces static/altcha/ with altcha.js, altcha.css, worker.js and
#      LICENSE.txt from the tarball;
#   4. writes static/altcha/VERSION: the package and version, the tarball's
#      integrity, then the sha256 of each vendored file (sha256sum format).
#      static/altcha_test.go checks the files against it, so a hand edit of a
#      vendored file fails the tests: change a file only by re-running this.
#
# Usage: scripts/vendor-altcha.sh [version]   (default 2.3.0; a different
# version must be read and tested first: see docs/challenge.md)
set -euo pipefail

pkg=altcha
version=${1:-2.3.0}
root=$(cd "$(dirname "$0")/.." && pwd)
dest=$root/static/altcha

for tool in npm tar openssl base64 sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || { echo "vendor-altcha: $tool is needed" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "vendor-altcha: fetching $pkg@$version"
want=$(npm view "$pkg@$version" dist.integrity)
case $want in
  sha512-*) ;;
  *) echo "vendor-altcha: the registry gives no sha512 integrity for $pkg@$version: '$want'" >&2; exit 1 ;;
esac
(cd "$tmp" && npm pack --silent "$pkg@$version" >/dev/null)
tarball=$tmp/$pkg-$version.tgz
[ -f "$tarball" ] || { echo "vendor-altcha: npm pack made no $tarball" >&2; exit 1; }

got=sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)
if [ "$got" != "$want" ]; then
  echo "vendor-altcha: integrity mismatch for $pkg@$version: tarball $got, registry $want" >&2
  exit 1
fi
echo "vendor-altcha: integrity $got verified"

# tarball path -> name under static/altcha/
files=(
  "package/dist_external/altcha.js:altcha.js"
  "package/dist_external/altcha.css:altcha.css"
  "package/dist_external/worker.js:worker.js"
  "package/LICENSE.txt:LICENSE.txt"
)
members=()
for f in "${files[@]}"; do members+=("${f%%:*}"); done
mkdir "$tmp/x"
tar -xzf "$tarball" -C "$tmp/x" "${members[@]}"

actual=$(tar -xzOf "$tarball" package/package.json | grep -m1 '"version"' | sed 's/.*"version": *"\([^"]*\)".*/\1/')
[ "$actual" = "$version" ] || { echo "vendor-altcha: tarball says version '$actual', want $version" >&2; exit 1; }
grep -q 'new URL(e || "./worker.js", import.meta.url)' "$tmp/x/package/dist_external/altcha.js" || {
  echo "vendor-altcha: altcha.js no longer starts its worker from ./worker.js; read the new build before vendoring it" >&2
  exit 1
}

rm -rf "$dest"
mkdir -p "$dest"
names=()
for f in "${files[@]}"; do
  install -m 0644 "$tmp/x/${f%%:*}" "$dest/${f#*:}"
  names+=("${f#*:}")
done
{
  echo "$pkg@$version"
  echo "integrity $got"
  (cd "$dest" && LC_ALL=C sha256sum -- $(printf '%s\n' "${names[@]}" | LC_ALL=C sort))
} >"$dest/VERSION"

echo "vendor-altcha: wrote $(realpath --relative-to="$root" "$dest"):"
sed 's/^/  /' "$dest/VERSION"
