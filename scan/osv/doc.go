// Package osv is Berth's built-in, offline vulnerability scanner: it lists
// the packages of an image and matches them against vulnerability data in
// the OSV format (https://ossf.github.io/osv-schema/).
//
// The work is split in two steps so that continuous scanning can re-match
// stored inventories without reading layers again:
//
//   - package [github.com/berth-dev/berth/scan/osv/inventory] reads each
//     layer once as a stream and produces the image's package inventory
//     (OS, dpkg, apk, Go binaries, Python, npm);
//   - a [Database] matches an inventory against OSV records.
//
// # Vulnerability data
//
// A [DB] holds the current [Database] and loads it from a [Source]:
// directories walked for *.json records (and *.zip archives), or zip files
// laid out as osv.dev's per-ecosystem all.zip. Reads are capped per file,
// per load and in number of records. Records are indexed by ecosystem and
// package name; withdrawn records are skipped. [DB.Reload] swaps the data
// atomically once the new data parsed fully: on error (wrapping
// [ErrInvalidDatabase]) the old data stays in force. [Database.Version] is
// a SHA-256 over the record files, so it changes whenever a record does;
// reports carry it as DatabaseVersion and the Scanner reports it through
// scan.DatabaseVersioner. [NewDatabase] indexes records built in memory.
//
// # Matching
//
// [Target] says under which ecosystem, name and version a package is
// looked up: dpkg packages under "Debian:<major>" by source package and
// source version (Debian's records are per source package), apk packages
// under "Alpine:v<major>.<minor>" by origin, Go modules under "Go" with the
// version's "v" removed (the standard library is "stdlib"; a main module
// without version, "(devel)", is not matched), Python packages under
// "PyPI" by PEP 503 name, npm packages under "npm".
//
// Versions are compared with each ecosystem's rules by
// github.com/google/osv-scalibr/semantic. ECOSYSTEM and SEMVER ranges are
// evaluated as the OSV schema says (events sorted; introduced, fixed and
// last_affected), GIT ranges are ignored, and explicit versions lists
// match exactly. A finding's fixed version is the first fixed event above
// the installed version. Ecosystems whose parser accepts any string (Go,
// npm) compare a malformed version as a very old one, that is
// conservatively.
//
// Go advisories are filtered by platform as govulncheck does: an entry
// whose ecosystem_specific.imports all name GOOS/GOARCH lists matches
// only binaries built for one of them. The inventory gives each Go
// package its binary's GOOS and GOARCH (scan.Package.GOOS and Arch); when
// either is missing, every value of it matches.
//
// Severity comes from the first CVSS vector of the affected entry, else of
// the record (CVSS_V4, then CVSS_V3, then CVSS_V2), scored with
// github.com/pandatix/go-cvss and mapped to ECR's names (v3/v4 ratings,
// "None" as INFORMATIONAL; NVD's ranges for v2); else from a "severity"
// word in ecosystem_specific or database_specific (GitHub's MODERATE is
// MEDIUM); else UNDEFINED. Findings are sorted by severity, id, package,
// installed version and path.
//
// # Scanning
//
// [Scanner] implements scan.Scanner, scan.Rematcher and
// scan.DatabaseVersioner. It reads OCI image manifests and Docker schema 2
// manifests. An index, a non-image artifact (an artifactType, or a config
// media type other than an image config), a layer media type that is not a
// tar layer, an image without layers or without any package it knows are
// reported UNSUPPORTED_IMAGE with a Description. A manifest that does not
// parse or exceeds its cap, and a layer that is truncated, is not a tar
// archive or is too large (decompression bombs) are reported FAILED with a
// Description. Layers are read through a LayerCache shared by the
// scanner's scans. Errors are kept for what may succeed later: no data
// loaded yet ([ErrNoDatabase]), the content reader's errors, the context's.
//
// # Performance
//
// BenchmarkMatchGoVulnDB matches an inventory of 500 packages (400 Go
// modules with advisories at old versions, the standard library, 99 Debian
// packages) against the whole Go vulnerability database (about 4,800
// records); the target is at most 50 ms per match. Measured on a 2-core
// shared machine: about 8–9 ms per match (2,431 findings); loading and
// indexing the database from its directory takes about 0.33 s:
//
//	go test -run '^$' -bench . ./scan/osv/
//
// Test data: testdata/debian holds records derived by hand from Debian
// changelogs for the shared Debian 12 fixture; testdata/gobin is a program
// built against old golang.org/x/net and x/text, and
// testdata/govulncheck-expected.json govulncheck's findings for it, written
// by scripts/govulncheck-fixture.sh.
package osv
