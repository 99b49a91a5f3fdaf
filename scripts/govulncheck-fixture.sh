#!/bin/sh
# govulncheck-fixture.sh regenerates scan/osv/testdata/govulncheck-expected.json,
# the govulncheck results scan/osv's TestGoBinaryMatchesGovulncheck compares
# the built-in scanner with.
#
# Usage (from the repository root; needs the Go toolchain and the module
# proxy):
#
#   sh scripts/govulncheck-fixture.sh
#
# It
#   1. downloads the pinned Go vulnerability database module (the same one
#      the test loads: its data/osv/*.json records);
#   2. builds govulncheck's local database from it with the module's own
#      cmd/indexdb (the v1 layout govulncheck reads through -db file://:
#      index/db.json, index/modules.json, ID/<id>.json);
#   3. builds scan/osv/testdata/gobin for linux/amd64 exactly as the test
#      does (CGO_ENABLED=0, -trimpath, -buildvcs=false);
#   4. runs govulncheck -mode=binary -json on it and keeps the module-level
#      findings (those whose trace has a module and version but no package):
#      the vulnerabilities whose affected versions and platforms include
#      the binary's module versions, which is what an inventory-based
#      scanner can express. Package- and symbol-level findings (which
#      symbols are reachable) are not compared.
set -eu

VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018
GOVULNCHECK_VERSION=v1.9.0
GOOS_TARGET=linux
GOARCH_TARGET=amd64

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/scan/osv/testdata/govulncheck-expected.json"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cd "$tmp"
dir=$(go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
test -d "$dir/data/osv"

go run "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION" -vulns "$dir/data/osv" -out "$tmp/db"

(cd "$root/scan/osv/testdata/gobin" &&
	CGO_ENABLED=0 GOOS=$GOOS_TARGET GOARCH=$GOARCH_TARGET GOFLAGS=-mod=mod \
		go build -trimpath -buildvcs=false -o "$tmp/vulnapp" .)

go run "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION" \
	-db "file://$tmp/db" -mode=binary -json "$tmp/vulnapp" >"$tmp/govulncheck.json"

mkdir "$tmp/conv"
cat >"$tmp/conv/main.go" <<'GO'
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

type trace struct {
	Module, Version, Package, Function string
}

func main() {
	dec := json.NewDecoder(os.Stdin)
	type key struct{ ID, Module, Version, Fixed string }
	seen := map[key]bool{}
	var keys []key
	for {
		var m struct {
			Finding *struct {
				OSV          string  `json:"osv"`
				FixedVersion string  `json:"fixed_version"`
				Trace        []trace `json:"trace"`
			} `json:"finding"`
		}
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			panic(err)
		}
		f := m.Finding
		if f == nil || len(f.Trace) == 0 || f.Trace[0].Package != "" {
			continue
		}
		k := key{f.OSV, f.Trace[0].Module, f.Trace[0].Version, f.FixedVersion}
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.Module != b.Module {
			return a.Module < b.Module
		}
		return a.ID < b.ID
	})
	var lines []string
	for _, k := range keys {
		lines = append(lines, fmt.Sprintf("    {\"id\": %q, \"module\": %q, \"version\": %q, \"fixed\": %q}", k.ID, k.Module, k.Version, k.Fixed))
	}
	fmt.Printf("{\n  \"generator\": \"scripts/govulncheck-fixture.sh\",\n  \"vulndb\": %q,\n  \"govulncheck\": %q,\n  \"go\": %q,\n  \"goos\": %q,\n  \"goarch\": %q,\n  \"findings\": [\n%s\n  ]\n}\n",
		os.Args[1], os.Args[2], os.Args[3], os.Args[4], os.Args[5], strings.Join(lines, ",\n"))
}
GO
(cd "$tmp/conv" && go mod init conv >/dev/null 2>&1 && go run . "$VULNDB_VERSION" "$GOVULNCHECK_VERSION" "$(go env GOVERSION)" "$GOOS_TARGET" "$GOARCH_TARGET") \
	<"$tmp/govulncheck.json" >"$out"
echo "wrote $out"
