// Package inventory lists the software installed in an OCI image by reading
// its layers: the OS (etc/os-release), OS packages (dpkg, apk) and language
// packages (Go binaries, Python distributions, npm packages). The result is
// the input of vulnerability matching; package and ecosystem names follow
// OSV (https://ossf.github.io/osv-schema/#affectedpackage-field).
//
// # Reading layers
//
// [ReadLayer] reads one layer once, as a stream, without touching the
// filesystem: it sniffs the compression (gzip, zstd or none; the media type
// is only used to reject blobs that are not tar layers), walks the tar and
// keeps, for each layer, only what later steps need (a [LayerContents]):
//
//   - the parsed contents of the files of interest: package databases
//     (var/lib/dpkg/status, var/lib/dpkg/status.d/*, lib/apk/db/installed),
//     os-release files, Python metadata (*.dist-info/METADATA,
//     *.egg-info/PKG-INFO), npm manifests (node_modules/**/package.json) and
//     executables that carry Go build information;
//   - symbolic links, whiteouts (.wh.<name>) and opaque directories
//     (.wh..wh..opq);
//   - a hash of every non-directory path, so that a file replaced by
//     something uninteresting in a later layer disappears from the image.
//
// Layers are hostile input. Entry names are cleaned; absolute names are made
// relative and names that escape the root with ".." are skipped. Symbolic
// links are recorded, never followed while reading, and resolved later with
// a bound on the number of hops. The uncompressed size of a layer and its
// compression ratio are capped ([Options.MaxLayerSize], [Options.MaxRatio]),
// and each file of interest is read into memory only below its own cap.
// Errors wrap one of the package's sentinels: [ErrUnsupportedLayer] for a
// blob that is not a tar layer, [ErrCorruptLayer] for a damaged one and
// [ErrLayerTooLarge] when a cap is hit. A scan service maps the first to
// ECR's UNSUPPORTED_IMAGE status and the others to FAILED.
//
// # Merging layers
//
// [Merge] applies the layers' contents in order as a container runtime
// would (OCI image-spec v1.1.1, layer.md "Whiteouts"): a whiteout deletes a
// path and everything below it from the lower layers, an opaque directory
// hides everything below it from the lower layers, and an entry replaces the
// lower layers' entry at the same path (a replaced package database replaces
// all of its packages). The result is an [Image]: its OS and its packages,
// each with the digest of the layer that introduced it and the OSV
// ecosystem it belongs to ("Debian:12", "Alpine:v3.19", "Go", "PyPI",
// "npm").
//
// [Read] does both, consulting an optional [LayerCache] keyed by layer
// digest so that base layers shared between images are read once.
// [NewMemoryCache] is an in-memory LRU implementation.
//
// Reference: https://github.com/opencontainers/image-spec/blob/v1.1.1/layer.md
package inventory
