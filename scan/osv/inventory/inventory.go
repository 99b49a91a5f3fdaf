package inventory

import (
	"context"
	"fmt"
	"io"

	digest "github.com/opencontainers/go-digest"
)

// Layer is one layer of an image, in the order of the image manifest.
type Layer struct {
	// Digest identifies the layer; it keys the LayerCache.
	Digest digest.Digest
	// MediaType is the layer's media type from the manifest. An empty media
	// type is accepted; the compression is always sniffed from the content.
	MediaType string
	// Open returns the layer's (usually compressed) blob. The registry has
	// already verified its digest; ReadLayer does not hash it again.
	Open func(ctx context.Context) (io.ReadCloser, error)
}

// Kind says which detector found a package.
type Kind string

// Package kinds.
const (
	KindDpkg     Kind = "dpkg"      // var/lib/dpkg/status, status.d/*
	KindApk      Kind = "apk"       // lib/apk/db/installed
	KindGoMain   Kind = "go-main"   // the main module of a Go binary
	KindGoModule Kind = "go-module" // a dependency of a Go binary
	KindGoStdlib Kind = "go-stdlib" // the standard library a Go binary was built with
	KindPython   Kind = "python"    // *.dist-info/METADATA, *.egg-info/PKG-INFO
	KindNPM      Kind = "npm"       // node_modules/**/package.json
)

// OSV ecosystems of language packages.
const (
	EcosystemGo   = "Go"
	EcosystemPyPI = "PyPI"
	EcosystemNPM  = "npm"
)

// Package is one installed package.
type Package struct {
	// Name is the package name as the package manager spells it. Go
	// modules use the module path, and the standard library is "stdlib" (as
	// in the Go vulnerability database).
	Name string `json:"name"`
	// Version is the installed version as the package manager spells it
	// (Debian versions keep their epoch). Go versions are module versions
	// ("v0.17.0"); the standard library's is derived from the toolchain
	// ("go1.22.1" becomes "v1.22.1").
	Version string `json:"version"`
	// Ecosystem is the OSV ecosystem: "Debian:12", "Alpine:v3.19", "Go",
	// "PyPI", "npm"… OS packages get theirs from the image's OS; it is
	// empty when the OS is unknown.
	Ecosystem string `json:"ecosystem,omitempty"`
	// Kind says which detector found the package.
	Kind Kind `json:"kind"`
	// SourceName is the source package OS advisories are filed against:
	// dpkg's Source field or apk's origin, else Name. Empty for language
	// packages.
	SourceName string `json:"sourceName,omitempty"`
	// SourceVersion is the source package's version: the version in
	// parentheses of dpkg's Source field, else Version.
	SourceVersion string `json:"sourceVersion,omitempty"`
	// Arch is the package architecture (dpkg, apk) or the Go binary's
	// GOARCH.
	Arch string `json:"arch,omitempty"`
	// GOOS is the Go binary's target operating system (Go packages only).
	GOOS string `json:"goos,omitempty"`
	// Replaces is, for a Go module that replaces another through a replace
	// directive, the path of the replaced module. Name and Version are then
	// the replacement's (as govulncheck matches them); a replacement by a
	// local directory has the directory as Name and version "(devel)".
	Replaces string `json:"replaces,omitempty"`
	// Path is the file the package was found in, relative to the image root
	// (the package database, binary or manifest).
	Path string `json:"path"`
	// Layer is the digest of the layer that introduced the file at Path.
	Layer digest.Digest `json:"layer"`
}

// OS is the operating system named by the image's os-release file.
type OS struct {
	ID              string `json:"id"`                        // ID, e.g. "debian", "alpine"
	VersionID       string `json:"versionId,omitempty"`       // VERSION_ID, e.g. "12", "3.19.1"
	VersionCodename string `json:"versionCodename,omitempty"` // VERSION_CODENAME, e.g. "bookworm"
	PrettyName      string `json:"prettyName,omitempty"`      // PRETTY_NAME
	Version         string `json:"version,omitempty"`         // VERSION, e.g. "12 (bookworm)"
	// Path is the os-release file that was read and Layer the layer that
	// introduced it.
	Path  string        `json:"path"`
	Layer digest.Digest `json:"layer"`
}

// Image is the inventory of an image: the merged view of its layers.
type Image struct {
	// OS is nil when the image has no os-release file.
	OS *OS `json:"os,omitempty"`
	// Packages are sorted by Path, then Name and Version.
	Packages []Package `json:"packages"`
	// Warnings name files that were skipped (too large, unreadable) or
	// other problems that did not stop the inventory.
	Warnings []string `json:"warnings,omitempty"`
}

// Options tune reading layers. The zero value of each field means its
// default, so Options{} is valid; DefaultOptions spells the defaults out.
type Options struct {
	// Cache, when set, keeps each layer's contents by digest across calls
	// of Read. The default is no cache.
	Cache LayerCache
	// MaxLayerSize caps the uncompressed bytes read from one layer. The
	// default is 8 GiB.
	MaxLayerSize int64
	// MaxRatio caps the ratio of uncompressed to compressed bytes, checked
	// once RatioGrace uncompressed bytes have been read. A negative value
	// disables the check. The default is 1000.
	MaxRatio int64
	// RatioGrace is the number of uncompressed bytes read before MaxRatio
	// applies. The default is 8 MiB.
	RatioGrace int64
	// MaxDatabaseSize caps the size of a package database (dpkg status,
	// apk installed) read into memory; larger ones are skipped with a
	// warning. The default is 64 MiB.
	MaxDatabaseSize int64
	// MaxBinarySize caps the size of an executable read into memory to look
	// for Go build information; larger ones are skipped with a warning. The
	// default is 256 MiB.
	MaxBinarySize int64
	// MaxManifestSize caps the size of small metadata files (os-release,
	// package.json, the header of Python metadata); larger ones are skipped
	// with a warning. The default is 1 MiB.
	MaxManifestSize int64
	// MaxSymlinks caps the symbolic links recorded per layer; the rest are
	// ignored with a warning. The default is 1<<16.
	MaxSymlinks int
}

// DefaultOptions are the defaults used for zero-valued fields of Options.
var DefaultOptions = Options{
	MaxLayerSize:    8 << 30,
	MaxRatio:        1000,
	RatioGrace:      8 << 20,
	MaxDatabaseSize: 64 << 20,
	MaxBinarySize:   256 << 20,
	MaxManifestSize: 1 << 20,
	MaxSymlinks:     1 << 16,
}

func (o Options) withDefaults() Options {
	d := DefaultOptions
	if o.MaxLayerSize <= 0 {
		o.MaxLayerSize = d.MaxLayerSize
	}
	if o.MaxRatio == 0 {
		o.MaxRatio = d.MaxRatio
	}
	if o.RatioGrace <= 0 {
		o.RatioGrace = d.RatioGrace
	}
	if o.MaxDatabaseSize <= 0 {
		o.MaxDatabaseSize = d.MaxDatabaseSize
	}
	if o.MaxBinarySize <= 0 {
		o.MaxBinarySize = d.MaxBinarySize
	}
	if o.MaxManifestSize <= 0 {
		o.MaxManifestSize = d.MaxManifestSize
	}
	if o.MaxSymlinks <= 0 {
		o.MaxSymlinks = d.MaxSymlinks
	}
	return o
}

// Read reads the layers of an image, in manifest order, and merges them
// into the image's inventory. Each distinct layer digest is read at most
// once per call, and not at all when opts.Cache holds it.
//
// Errors wrap the layer's digest and one of ErrUnsupportedLayer,
// ErrCorruptLayer or ErrLayerTooLarge, or the error of Layer.Open or of
// the context.
func Read(ctx context.Context, layers []Layer, opts Options) (*Image, error) {
	contents := make([]*LayerContents, len(layers))
	seen := make(map[digest.Digest]*LayerContents, len(layers))
	for i, l := range layers {
		if c, ok := seen[l.Digest]; ok && l.Digest != "" {
			contents[i] = c
			continue
		}
		c, err := ReadLayer(ctx, l, opts)
		if err != nil {
			return nil, fmt.Errorf("layer %d (%s): %w", i, l.Digest, err)
		}
		seen[l.Digest] = c
		contents[i] = c
	}
	return Merge(contents), nil
}
