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
//   - matching an inventory against OSV records (per-ecosystem version
//     comparison, severities) is not implemented yet.
package osv
