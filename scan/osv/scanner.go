package osv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/scan"
	"github.com/berth-dev/berth/scan/osv/inventory"
)

// Media types the scanner tells apart. Docker's are from the image
// manifest v2, schema 2 specification.
const (
	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeDockerConfig       = "application/vnd.docker.container.image.v1+json"
	mediaTypeDockerLayer        = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	mediaTypeDockerForeign      = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
)

var layerMediaTypes = map[string]bool{
	ocispec.MediaTypeImageLayer:                     true,
	ocispec.MediaTypeImageLayerGzip:                 true,
	ocispec.MediaTypeImageLayerZstd:                 true,
	ocispec.MediaTypeImageLayerNonDistributable:     true, //nolint:staticcheck // still found in images
	ocispec.MediaTypeImageLayerNonDistributableGzip: true, //nolint:staticcheck
	ocispec.MediaTypeImageLayerNonDistributableZstd: true, //nolint:staticcheck
	mediaTypeDockerLayer:                            true,
	mediaTypeDockerForeign:                          true,
}

// Scanner is Berth's built-in scan.Scanner: it reads an image's layers with
// package inventory and matches the inventory against the current Database
// of a DB. It also implements scan.Rematcher and scan.DatabaseVersioner.
// It is safe for concurrent use.
type Scanner struct {
	db     *DB
	opts   options
	invOpt inventory.Options
}

var (
	_ scan.Scanner           = (*Scanner)(nil)
	_ scan.Rematcher         = (*Scanner)(nil)
	_ scan.DatabaseVersioner = (*Scanner)(nil)
)

type options struct {
	clock           func() time.Time
	logger          *slog.Logger
	cache           inventory.LayerCache
	inv             inventory.Options
	maxManifestSize int
	maxLayers       int
}

// Option configures a Scanner.
type Option func(*options) error

// WithClock sets the clock that stamps reports' CompletedAt. The default is
// time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return fmt.Errorf("%w: nil clock", ErrInvalidOption)
		}
		o.clock = now
		return nil
	}
}

// WithLogger makes the scanner log skipped files and failed scans at
// debug and warning level. The default is not to log.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		o.logger = l
		return nil
	}
}

// WithLayerCache sets the cache of layer contents shared by all scans of
// the scanner. The default is an inventory.MemoryCache of 64 MiB.
func WithLayerCache(c inventory.LayerCache) Option {
	return func(o *options) error {
		if c == nil {
			return fmt.Errorf("%w: nil layer cache", ErrInvalidOption)
		}
		o.cache = c
		return nil
	}
}

// WithInventoryOptions sets the caps of reading layers (its Cache field is
// ignored; see WithLayerCache). The default is inventory.DefaultOptions.
func WithInventoryOptions(opts inventory.Options) Option {
	return func(o *options) error {
		o.inv = opts
		return nil
	}
}

// WithMaxManifestSize caps the size of the manifest read. The default is
// 4 MiB.
func WithMaxManifestSize(n int) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("%w: manifest size cap %d", ErrInvalidOption, n)
		}
		o.maxManifestSize = n
		return nil
	}
}

// WithMaxLayers caps the number of layers of a scanned image; an image with
// more is reported FAILED. The default is 1000.
func WithMaxLayers(n int) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("%w: layer cap %d", ErrInvalidOption, n)
		}
		o.maxLayers = n
		return nil
	}
}

// New returns a Scanner matching against db's current data. It starts no
// goroutine and reads nothing; db may be loaded later. Errors wrap
// ErrInvalidOption.
func New(db *DB, opts ...Option) (*Scanner, error) {
	if db == nil {
		return nil, fmt.Errorf("%w: nil DB", ErrInvalidOption)
	}
	o := options{clock: time.Now, maxManifestSize: 4 << 20, maxLayers: 1000}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.cache == nil {
		o.cache = inventory.NewMemoryCache(64 << 20)
	}
	invOpt := o.inv
	invOpt.Cache = o.cache
	return &Scanner{db: db, opts: o, invOpt: invOpt}, nil
}

// DatabaseVersion implements scan.DatabaseVersioner: the version of the
// DB's current data, "" before it is loaded.
func (s *Scanner) DatabaseVersion() string { return s.db.Version() }

// manifest is the union of the fields of OCI image manifests and indexes
// and Docker schema 2 manifests and manifest lists that the scanner reads.
type manifest struct {
	SchemaVersion int                  `json:"schemaVersion"`
	MediaType     string               `json:"mediaType"`
	ArtifactType  string               `json:"artifactType"`
	Config        *ocispec.Descriptor  `json:"config"`
	Layers        []ocispec.Descriptor `json:"layers"`
	Manifests     []json.RawMessage    `json:"manifests"`
}

// Scan implements scan.Scanner. Images it cannot scan are reported with
// status UNSUPPORTED_IMAGE (an index, a non-image artifact, a layer media
// type that is not a tar layer, an image without any package it knows) or
// FAILED (a manifest that does not parse, a layer that is damaged, not a
// tar archive, or too large), each with a Description. It returns an error
// wrapping ErrNoDatabase when the DB was never loaded, and the errors of
// the content reader and the context, after which the scan may be retried.
func (s *Scanner) Scan(ctx context.Context, req scan.Request) (scan.Report, error) {
	db := s.db.Current()
	if db == nil {
		return scan.Report{}, ErrNoDatabase
	}
	if req.Content == nil {
		return scan.Report{}, fmt.Errorf("%w: request without content reader", ErrInvalidOption)
	}
	raw, mediaType, err := req.Content.ReadManifest(ctx, req.Manifest.Digest)
	if err != nil {
		return scan.Report{}, fmt.Errorf("scan %s@%s: read manifest: %w", req.Repository, req.Manifest.Digest, err)
	}
	if len(raw) > s.opts.maxManifestSize {
		return s.stop(req, scan.StatusFailed, fmt.Sprintf("manifest of %d bytes exceeds the cap of %d", len(raw), s.opts.maxManifestSize)), nil
	}
	var m manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return s.stop(req, scan.StatusFailed, "manifest is not valid JSON: "+err.Error()), nil
	}
	if mediaType == "" {
		mediaType = req.Manifest.MediaType
	}
	if mediaType == "" {
		mediaType = m.MediaType
	}
	if status, reason := classify(mediaType, &m); status != "" {
		return s.stop(req, status, reason), nil
	}
	if len(m.Layers) > s.opts.maxLayers {
		return s.stop(req, scan.StatusFailed, fmt.Sprintf("image has %d layers, more than the cap of %d", len(m.Layers), s.opts.maxLayers)), nil
	}
	layers := make([]inventory.Layer, len(m.Layers))
	for i, l := range m.Layers {
		if err := l.Digest.Validate(); err != nil {
			return s.stop(req, scan.StatusFailed, fmt.Sprintf("layer %d: invalid digest %q", i, l.Digest)), nil
		}
		dgst := l.Digest
		layers[i] = inventory.Layer{
			Digest:    dgst,
			MediaType: l.MediaType,
			Open: func(ctx context.Context) (io.ReadCloser, error) {
				return req.Content.OpenBlob(ctx, dgst)
			},
		}
	}
	img, err := inventory.Read(ctx, layers, s.invOpt)
	switch {
	case err == nil:
	case errors.Is(err, inventory.ErrUnsupportedLayer),
		errors.Is(err, inventory.ErrCorruptLayer),
		errors.Is(err, inventory.ErrLayerTooLarge):
		return s.stop(req, scan.StatusFailed, err.Error()), nil
	default: // the content reader's or the context's error
		return scan.Report{}, fmt.Errorf("scan %s@%s: %w", req.Repository, req.Manifest.Digest, err)
	}
	if s.opts.logger != nil {
		for _, w := range img.Warnings {
			s.opts.logger.DebugContext(ctx, "osv scan: skipped content", "repository", req.Repository, "manifest", req.Manifest.Digest, "warning", w)
		}
	}
	inv := convert(img)
	if len(inv.Packages) == 0 {
		reason := "no packages found (supported: dpkg, apk, Go binaries, Python and npm packages)"
		if inv.OS != nil {
			reason = fmt.Sprintf("no packages found on %s %s (supported: dpkg, apk, Go binaries, Python and npm packages)", inv.OS.ID, inv.OS.VersionID)
		}
		r := s.stop(req, scan.StatusUnsupportedImage, reason)
		r.Inventory = &inv
		return r, nil
	}
	return s.match(ctx, db, inv)
}

// Rematch implements scan.Rematcher: it matches a stored inventory against
// the DB's current data. It returns an error wrapping ErrNoDatabase when
// the DB was never loaded, or the context's error.
func (s *Scanner) Rematch(ctx context.Context, inv scan.Inventory) (scan.Report, error) {
	db := s.db.Current()
	if db == nil {
		return scan.Report{}, ErrNoDatabase
	}
	return s.match(ctx, db, inv)
}

func (s *Scanner) match(ctx context.Context, db *Database, inv scan.Inventory) (scan.Report, error) {
	findings, err := db.Match(ctx, inv)
	if err != nil {
		return scan.Report{}, err
	}
	return scan.Report{
		Status:          scan.StatusComplete,
		CompletedAt:     s.opts.clock().UTC(),
		DatabaseVersion: db.Version(),
		Inventory:       &inv,
		Findings:        findings,
		SeverityCounts:  scan.CountSeverities(findings),
	}, nil
}

func (s *Scanner) stop(req scan.Request, status, reason string) scan.Report {
	if s.opts.logger != nil {
		s.opts.logger.Warn("osv scan: image not scanned", "repository", req.Repository, "manifest", req.Manifest.Digest, "status", status, "reason", reason)
	}
	return scan.Report{Status: status, Description: reason, CompletedAt: s.opts.clock().UTC(), DatabaseVersion: s.db.Version()}
}

// classify returns a status and reason for a manifest that is not an image
// the scanner reads, and "" for one it reads.
func classify(mediaType string, m *manifest) (string, string) {
	switch mediaType {
	case ocispec.MediaTypeImageIndex, mediaTypeDockerManifestList:
		return scan.StatusUnsupportedImage, "manifest is an image index (" + mediaType + "); scan each platform's image manifest"
	case ocispec.MediaTypeImageManifest, mediaTypeDockerManifest:
	case "":
		if len(m.Manifests) > 0 {
			return scan.StatusUnsupportedImage, "manifest is an image index; scan each platform's image manifest"
		}
		if m.SchemaVersion != 2 || m.Config == nil {
			return scan.StatusUnsupportedImage, "manifest has no media type and is not an image manifest"
		}
	default:
		return scan.StatusUnsupportedImage, "unsupported manifest media type " + mediaType
	}
	if m.Config == nil {
		return scan.StatusFailed, "image manifest has no config"
	}
	switch cfg := m.Config.MediaType; {
	case m.ArtifactType != "":
		return scan.StatusUnsupportedImage, "not a container image: artifact type " + m.ArtifactType
	case cfg != ocispec.MediaTypeImageConfig && cfg != mediaTypeDockerConfig:
		return scan.StatusUnsupportedImage, "not a container image: config media type " + cfg
	}
	if len(m.Layers) == 0 {
		return scan.StatusUnsupportedImage, "image has no layers"
	}
	for i, l := range m.Layers {
		if !layerMediaTypes[l.MediaType] {
			return scan.StatusUnsupportedImage, fmt.Sprintf("layer %d has unsupported media type %q", i, l.MediaType)
		}
	}
	return "", ""
}

// convert turns an inventory.Image into a scan.Inventory.
func convert(img *inventory.Image) scan.Inventory {
	inv := scan.Inventory{Packages: make([]scan.Package, 0, len(img.Packages))}
	if img.OS != nil {
		inv.OS = &scan.OS{ID: img.OS.ID, VersionID: img.OS.VersionID, Codename: img.OS.VersionCodename, Name: img.OS.PrettyName}
	}
	for _, p := range img.Packages {
		sp := scan.Package{
			Name:           p.Name,
			Version:        p.Version,
			Ecosystem:      p.Ecosystem,
			PackageManager: packageManager(p.Kind),
			SourceName:     p.SourceName,
			SourceVersion:  p.SourceVersion,
			Arch:           p.Arch,
			GOOS:           p.GOOS,
			Path:           p.Path,
			Layer:          p.Layer,
		}
		inv.Packages = append(inv.Packages, sp)
	}
	return inv
}

func packageManager(k inventory.Kind) string {
	switch k {
	case inventory.KindGoMain, inventory.KindGoModule, inventory.KindGoStdlib:
		return "go"
	case inventory.KindPython:
		return "python"
	default:
		return string(k) // dpkg, apk, npm
	}
}
