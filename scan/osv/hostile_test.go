package osv_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/scan"
	"github.com/berth-dev/berth/scan/osv"
	"github.com/berth-dev/berth/scan/osv/inventory"
)

func alpineLayer(t testing.TB) []byte {
	return gzipped(t, tarLayer(t,
		tarFile{name: "etc/os-release", body: []byte("ID=alpine\nVERSION_ID=3.19.1\n")},
		tarFile{name: "lib/apk/db/installed", body: []byte("P:libssl3\nV:3.1.4-r0\nA:x86_64\no:openssl\n")},
	))
}

// TestHostile checks that images the scanner cannot scan are reported with
// a status and a reason, never a panic or an error.
func TestHostile(t *testing.T) {
	db := loadDB(t, writeRecords(t, alpineRecords))
	c := newContent()
	cfg := []byte(`{}`)
	cfgDigest := c.putBlob(cfg)
	good := alpineLayer(t)
	goodDigest := c.putBlob(good)
	truncated := good[:len(good)/2]
	notTar := gzipped(t, bytes.Repeat([]byte("this is not a tar archive\n"), 100))
	bomb := gzipped(t, tarLayer(t, tarFile{name: "zeros", body: make([]byte, 4<<20)}))

	image := func(artifactType, configType string, layers ...ocispec.Descriptor) scan.Request {
		m := ocispec.Manifest{
			Versioned:    specs.Versioned{SchemaVersion: 2},
			MediaType:    ocispec.MediaTypeImageManifest,
			ArtifactType: artifactType,
			Config:       ocispec.Descriptor{MediaType: configType, Digest: cfgDigest, Size: int64(len(cfg))},
			Layers:       layers,
		}
		return scan.Request{Repository: "hostile", Manifest: c.putManifest(t, m, ocispec.MediaTypeImageManifest), Content: c}
	}
	layer := func(b []byte) ocispec.Descriptor {
		return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: c.putBlob(b), Size: int64(len(b))}
	}
	index := ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{image("", ocispec.MediaTypeImageConfig, layer(good)).Manifest},
	}
	raw := func(body, mediaType string) scan.Request {
		d := c.putManifestRaw([]byte(body), mediaType)
		return scan.Request{Repository: "hostile", Manifest: ocispec.Descriptor{MediaType: mediaType, Digest: d}, Content: c}
	}

	tests := []struct {
		name       string
		req        scan.Request
		opts       []osv.Option
		wantStatus string
		wantReason string
	}{
		{"sbom artifact", image("application/spdx+json", "application/vnd.oci.empty.v1+json", layer([]byte("{}"))), nil, scan.StatusUnsupportedImage, "artifact type application/spdx+json"},
		{"helm chart", image("", "application/vnd.cncf.helm.config.v1+json", ocispec.Descriptor{MediaType: "application/vnd.cncf.helm.chart.content.v1.tar+gzip", Digest: goodDigest}), nil, scan.StatusUnsupportedImage, "config media type application/vnd.cncf.helm.config.v1+json"},
		{"oci index", scan.Request{Repository: "hostile", Manifest: c.putManifest(t, index, ocispec.MediaTypeImageIndex), Content: c}, nil, scan.StatusUnsupportedImage, "image index"},
		{"docker manifest list", raw(`{"schemaVersion":2,"manifests":[]}`, "application/vnd.docker.distribution.manifest.list.v2+json"), nil, scan.StatusUnsupportedImage, "image index"},
		{"untyped index", raw(`{"schemaVersion":2,"manifests":[{"digest":"sha256:00"}]}`, ""), nil, scan.StatusUnsupportedImage, "image index"},
		{"foreign layer type", image("", ocispec.MediaTypeImageConfig, ocispec.Descriptor{MediaType: "application/x-shellscript", Digest: goodDigest}), nil, scan.StatusUnsupportedImage, "unsupported media type"},
		{"no layers", image("", ocispec.MediaTypeImageConfig), nil, scan.StatusUnsupportedImage, "no layers"},
		{"nothing to scan", image("", ocispec.MediaTypeImageConfig, layer(gzipped(t, tarLayer(t, tarFile{name: "srv/index.html", body: []byte("<p>hi</p>")})))), nil, scan.StatusUnsupportedImage, "no packages found"},
		{"truncated gzip", image("", ocispec.MediaTypeImageConfig, layer(truncated)), nil, scan.StatusFailed, "corrupt layer"},
		{"not a tar", image("", ocispec.MediaTypeImageConfig, layer(notTar)), nil, scan.StatusFailed, "unsupported layer"},
		{"decompression bomb", image("", ocispec.MediaTypeImageConfig, layer(bomb)), []osv.Option{osv.WithInventoryOptions(inventory.Options{MaxLayerSize: 1 << 20})}, scan.StatusFailed, "layer too large"},
		{"bad layer digest", image("", ocispec.MediaTypeImageConfig, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: "sha256:../../etc"}), nil, scan.StatusFailed, "invalid digest"},
		{"manifest not json", raw(`{"schemaVersion":2,`, ocispec.MediaTypeImageManifest), nil, scan.StatusFailed, "not valid JSON"},
		{"manifest too large", image("", ocispec.MediaTypeImageConfig, layer(good)), []osv.Option{osv.WithMaxManifestSize(64)}, scan.StatusFailed, "exceeds the cap"},
		{"too many layers", image("", ocispec.MediaTypeImageConfig, layer(good), layer(good)), []osv.Option{osv.WithMaxLayers(1)}, scan.StatusFailed, "more than the cap"},
		{"manifest without config", raw(`{"schemaVersion":2,"layers":[]}`, ocispec.MediaTypeImageManifest), nil, scan.StatusFailed, "no config"},
		{"schema 1", raw(`{"schemaVersion":1,"fsLayers":[]}`, "application/vnd.docker.distribution.manifest.v1+prettyjws"), nil, scan.StatusUnsupportedImage, "unsupported manifest media type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScanner(t, db, tt.opts...)
			rep, err := s.Scan(context.Background(), tt.req)
			if err != nil {
				t.Fatalf("Scan() error = %v", err)
			}
			if rep.Status != tt.wantStatus || !strings.Contains(rep.Description, tt.wantReason) {
				t.Errorf("Scan() = %s %q, want %s containing %q", rep.Status, rep.Description, tt.wantStatus, tt.wantReason)
			}
			if rep.CompletedAt.IsZero() || len(rep.Findings) != 0 {
				t.Errorf("report = %+v", rep)
			}
		})
	}
}

func TestDockerSchema2(t *testing.T) {
	c := newContent()
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	l := alpineLayer(t)
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.docker.distribution.manifest.v2+json",
		"config":        map[string]any{"mediaType": "application/vnd.docker.container.image.v1+json", "digest": c.putBlob(cfg), "size": len(cfg)},
		"layers":        []any{map[string]any{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": c.putBlob(l), "size": len(l)}},
	}
	req := scan.Request{Repository: "docker", Manifest: c.putManifest(t, m, "application/vnd.docker.distribution.manifest.v2+json"), Content: c}
	s := newScanner(t, loadDB(t, writeRecords(t, alpineRecords)))
	rep, err := s.Scan(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != scan.StatusComplete || len(rep.Findings) != 1 || rep.Findings[0].ID != "BERTH-TEST-0001" {
		t.Errorf("Scan() = %s %q, findings %q", rep.Status, rep.Description, findingKeys(rep.Findings))
	}
}

// TestScanErrors checks the cases where a scan cannot run and may be
// retried: they are errors, not reports.
func TestScanErrors(t *testing.T) {
	c := newContent()
	req := pushImage(t, c, alpineLayer(t))

	db, err := osv.NewDB(osv.Source{Paths: []string{t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	s := newScanner(t, db)
	if _, err := s.Scan(context.Background(), req); !errors.Is(err, osv.ErrNoDatabase) {
		t.Errorf("Scan() without data error = %v, want ErrNoDatabase", err)
	}
	if _, err := s.Rematch(context.Background(), scan.Inventory{}); !errors.Is(err, osv.ErrNoDatabase) {
		t.Errorf("Rematch() without data error = %v, want ErrNoDatabase", err)
	}
	if s.DatabaseVersion() != "" {
		t.Errorf("DatabaseVersion() = %q before loading", s.DatabaseVersion())
	}

	s = newScanner(t, loadDB(t, writeRecords(t, alpineRecords)))
	missing := newContent()
	missingReq := pushImage(t, missing, alpineLayer(t))
	for d := range missing.blobs {
		delete(missing.blobs, d)
	}
	if _, err := s.Scan(context.Background(), missingReq); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("Scan() with a missing layer error = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Scan(ctx, pushImage(t, c, gzipped(t, tarLayer(t, tarFile{name: "x", body: []byte("y")})))); !errors.Is(err, context.Canceled) {
		t.Errorf("Scan() with a cancelled context error = %v", err)
	}
	if _, err := s.Scan(context.Background(), scan.Request{Manifest: req.Manifest}); !errors.Is(err, osv.ErrInvalidOption) {
		t.Errorf("Scan() without content error = %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	db, _ := osv.NewDB(osv.Source{Paths: []string{"."}})
	for name, f := range map[string]func() error{
		"nil db":       func() error { _, err := osv.New(nil); return err },
		"nil clock":    func() error { _, err := osv.New(db, osv.WithClock(nil)); return err },
		"nil cache":    func() error { _, err := osv.New(db, osv.WithLayerCache(nil)); return err },
		"manifest cap": func() error { _, err := osv.New(db, osv.WithMaxManifestSize(0)); return err },
		"layer cap":    func() error { _, err := osv.New(db, osv.WithMaxLayers(-1)); return err },
		"no paths":     func() error { _, err := osv.NewDB(osv.Source{}); return err },
		"empty path":   func() error { _, err := osv.NewDB(osv.Source{Paths: []string{""}}); return err },
		"negative cap": func() error { _, err := osv.NewDB(osv.Source{Paths: []string{"."}, MaxFileSize: -1}); return err },
	} {
		if err := f(); !errors.Is(err, osv.ErrInvalidOption) {
			t.Errorf("%s: error = %v, want ErrInvalidOption", name, err)
		}
	}
}

// TestLogger checks that the scanner logs only through the logger it is
// given.
func TestLogger(t *testing.T) {
	db := loadDB(t, writeRecords(t, alpineRecords))
	c := newContent()
	req := pushImage(t, c, gzipped(t, bytes.Repeat([]byte("not a tar\n"), 10)))
	var buf bytes.Buffer
	s := newScanner(t, db, osv.WithLogger(slog.New(slog.NewTextHandler(&buf, nil))))
	rep, err := s.Scan(context.Background(), req)
	if err != nil || rep.Status != scan.StatusFailed {
		t.Fatalf("Scan() = %s, %v", rep.Status, err)
	}
	if !strings.Contains(buf.String(), "image not scanned") || !strings.Contains(buf.String(), "status=FAILED") {
		t.Errorf("log = %q", buf.String())
	}
}
