#!/usr/bin/env bash
# deploy/: the manifests are valid fleets (the cluster-wide install and the namespaced variant), and
# deploy/Dockerfile's runtime stage installs exactly the Debian packages of the shared libraries the
# binary needs (readelf -d NEEDED, resolved by ldd, owned per dpkg -S), and what they pull in covers
# every library ldd reports. Containers cannot be built here; this keeps the recipe honest.
source "$(dirname "$0")/../e2e/lib.sh"
# Both manifest folders validate as fleets (committed, as Meridian only reads commits).
for fleet in fleet namespaced; do
  rm -rf "$REPO"
  mkdir -p "$REPO"
  git -C "$REPO" init -q -b main
  cp -r "$ROOT/deploy/$fleet/." "$REPO/"
  commit "deploy/$fleet"
  run 0 "$MERIDIAN" validate --repo "$REPO"
done

command -v dpkg >/dev/null && command -v readelf >/dev/null || { echo "skipped: needs dpkg and readelf (Debian)"; exit 77; }
DOCKERFILE="$ROOT/deploy/Dockerfile"

# The runtime stage: everything after the last FROM; its apt-get install line(s), lib* packages.
installed=$(awk '/^FROM /{stage=""} {stage=stage $0 "\n"} END{printf "%s", stage}' "$DOCKERFILE" |
  sed -n '/apt-get install/,/rm -rf/p' | tr ' \\' '\n\n' | grep -E '^lib[a-z0-9.+-]+$' | sort -u)
[[ -n $installed ]] || fail "no runtime apt-get install of lib* packages found in $DOCKERFILE"

package_of() { # a library path → its Debian package
  local owner
  owner=$(dpkg -S "$(readlink -f "$1")" 2>/dev/null || dpkg -S "$1" 2>/dev/null) || fail "no Debian package owns $1"
  echo "${owner%%:*}"
}
declare -A path_of
while read -r name arrow path _; do
  if [[ $arrow == "=>" ]]; then
    [[ $path == /* ]] && path_of[$name]=$path
  elif [[ $name == /* ]]; then
    path_of[${name##*/}]=$name # the dynamic loader: "/lib64/ld-linux-x86-64.so.2 (0x...)"; NEEDED when libc's TLS calls it
  fi
done < <(ldd "$MERIDIAN")
needed=$(readelf -d "$MERIDIAN" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | while read -r soname; do
  [[ -n ${path_of[$soname]:-} ]] || fail "ldd does not resolve $soname"
  package_of "${path_of[$soname]}"
done | sort -u)

OUT=$(diff <(echo "$needed") <(echo "$installed") || true)
CHECKS=$((CHECKS + 1))
[[ -z $OUT ]] || fail "deploy/Dockerfile's runtime packages differ from the binary's needs (< needed, > installed):
$OUT"

# Every library ldd loads (transitively) comes with those packages' dependencies.
all=$(for path in "${path_of[@]}"; do package_of "$path"; done | sort -u)
if closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances \
    $installed 2>/dev/null | grep -v '^ ' | sort -u) && [[ -n $closure ]]; then
  missing=$(comm -23 <(echo "$all") <(echo "$closure"))
  CHECKS=$((CHECKS + 1))
  [[ -z $missing ]] || fail "libraries ldd loads that the runtime packages do not pull in: $missing"
else
  echo "note: apt-cache has no package lists; the transitive check was skipped"
fi
# A non-root user runs it.
OUT=$(cat "$DOCKERFILE")
expect_in "USER 65532:65532"
expect_in "FROM debian:bookworm AS build"
expect_in "FROM debian:bookworm-slim"
echo "runtime packages: $(echo $installed)"
done_ok
