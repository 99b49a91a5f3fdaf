#!/usr/bin/env bash
# Uses Berth the way people do: pushes, copies, attaches, discovers, pulls
# and deletes with the crane, oras, regctl and skopeo command-line tools
# against a running registry.
#
#   scripts/clients.sh HOST:PORT
#
# Expects the tools on PATH (scripts/test.sh's clients stage installs them).
# Every step must succeed and every check must hold; the first failure ends
# the script with a non-zero status.
set -euo pipefail

R=${1:?usage: clients.sh HOST:PORT}
W=$(mktemp -d "${TMPDIR:-/tmp}/berth-clients.XXXXXX")
trap 'rm -rf "$W"' EXIT
cd "$W"

step() { printf -- '--- %s\n' "$*" >&2; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
eq() { [[ $1 == "$2" ]] || fail "$3: got '$1', want '$2'"; }

echo "hello from a layer" >hello.txt
tar cf layer.tar hello.txt

step "crane: push an image, list, copy across repositories (mount), delete"
crane append --insecure -f layer.tar -t "$R/clients/app:v1" 2>/dev/null
digest=$(crane digest --insecure "$R/clients/app:v1")
eq "$(crane ls --insecure "$R/clients/app")" v1 "crane ls"
crane copy --insecure "$R/clients/app:v1" "$R/clients/copy:v1" 2>copy.log
grep -q "mounted blob" copy.log || fail "crane copy did not mount blobs across repositories"
eq "$(crane digest --insecure "$R/clients/copy:v1")" "$digest" "digest after copy"
crane catalog --insecure "$R" | grep -qx clients/copy || fail "catalog lacks clients/copy"
crane tag --insecure "$R/clients/app:v1" v2
eq "$(crane ls --insecure "$R/clients/app" | tr '\n' ' ')" "v1 v2 " "tags after crane tag"

step "oras: push and pull an artifact, attach to the image, discover"
oras push --plain-http "$R/clients/notes:1" hello.txt:text/plain >/dev/null
oras pull --plain-http "$R/clients/notes:1" -o pulled >/dev/null
cmp hello.txt pulled/hello.txt || fail "oras pull returned other bytes"
echo '{"signed":true}' >sig.json
oras attach --plain-http "$R/clients/app:v1" --artifact-type application/vnd.example.sig sig.json >/dev/null
oras discover --plain-http --format json "$R/clients/app:v1" >discover.json
grep -q '"artifactType": *"application/vnd.example.sig"' discover.json || fail "oras discover does not show the attached artifact: $(cat discover.json)"
oras discover --plain-http --artifact-type application/vnd.other "$R/clients/app:v1" --format json | grep -q application/vnd.example.sig && fail "artifactType filter ignored"

step "regctl: tags, copy, referrers, manifest"
regctl registry set "$R" --tls disabled
eq "$(regctl tag ls "$R/clients/app" | tr '\n' ' ')" "v1 v2 " "regctl tag ls"
regctl image copy "$R/clients/app:v1" "$R/clients/regctl:v1" >/dev/null
eq "$(regctl manifest head "$R/clients/regctl:v1")" "$digest" "regctl manifest head"
regctl artifact list "$R/clients/app:v1" --format '{{range .Descriptors}}{{.ArtifactType}}{{end}}' | grep -q application/vnd.example.sig ||
	fail "regctl artifact list does not show the referrer"

tools="crane, oras, regctl"
if command -v skopeo >/dev/null; then
	tools+=", skopeo"
	step "skopeo: inspect, copy between repositories and to a directory"
	skopeo inspect --tls-verify=false "docker://$R/clients/app:v1" | grep -q "\"Digest\": \"$digest\"" || fail "skopeo inspect digest"
	skopeo copy -q --src-tls-verify=false --dest-tls-verify=false "docker://$R/clients/app:v1" "docker://$R/clients/skopeo:v1"
	skopeo copy -q --src-tls-verify=false "docker://$R/clients/skopeo:v1" "dir:$W/skopeo-dir"
	[[ -f $W/skopeo-dir/manifest.json ]] || fail "skopeo copy to dir wrote no manifest"
else
	step "skopeo: not installed, skipped"
fi

step "crane: delete by digest removes every tag"
crane delete --insecure "$R/clients/app@$digest"
[[ -z $(crane ls --insecure "$R/clients/app") ]] || fail "tags left after deleting the manifest"
crane manifest --insecure "$R/clients/copy:v1" >/dev/null || fail "the copy went with the original"
echo "clients: $tools all worked" >&2
