package osv_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/scan"
	"github.com/berth-dev/berth/scan/osv"
)

// fixtureDir is the Debian 12 fixture (a copy of the shared fixture, see
// its README.md), kept in the repository so that the tests never skip.
func fixtureDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join("testdata", "debian-bookworm")
	if _, err := os.Stat(filepath.Join(dir, "dpkg-status")); err != nil {
		t.Fatalf("Debian fixture missing: %v", err)
	}
	return dir
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tarFile is one regular file of a test layer.
type tarFile struct {
	name string
	body []byte
	mode int64
}

func tarLayer(t testing.TB, files ...tarFile) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		mode := f.mode
		if mode == 0 {
			mode = 0o644
		}
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: mode, Size: int64(len(f.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// memContent is an in-memory scan.ContentReader that counts blob opens.
type memContent struct {
	mu        sync.Mutex
	blobs     map[digest.Digest][]byte
	manifests map[digest.Digest]manifestBlob
	opens     map[digest.Digest]int
}

type manifestBlob struct {
	body      []byte
	mediaType string
}

func newContent() *memContent {
	return &memContent{blobs: map[digest.Digest][]byte{}, manifests: map[digest.Digest]manifestBlob{}, opens: map[digest.Digest]int{}}
}

func (c *memContent) OpenBlob(_ context.Context, d digest.Digest) (io.ReadCloser, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.blobs[d]
	if !ok {
		return nil, fmt.Errorf("blob %s: not found", d)
	}
	c.opens[d]++
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (c *memContent) ReadManifest(_ context.Context, d digest.Digest) ([]byte, string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.manifests[d]
	if !ok {
		return nil, "", fmt.Errorf("manifest %s: not found", d)
	}
	return m.body, m.mediaType, nil
}

func (c *memContent) putBlob(b []byte) digest.Digest {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := digest.FromBytes(b)
	c.blobs[d] = b
	return d
}

func (c *memContent) putManifest(t testing.TB, v any, mediaType string) ocispec.Descriptor {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d := digest.FromBytes(b)
	c.manifests[d] = manifestBlob{body: b, mediaType: mediaType}
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
}

// pushImage stores an OCI image made of the given (already compressed)
// gzip layers and returns its request.
func pushImage(t testing.TB, c *memContent, layers ...[]byte) scan.Request {
	t.Helper()
	return pushImageTyped(t, c, ocispec.MediaTypeImageLayerGzip, layers...)
}

func pushImageTyped(t testing.TB, c *memContent, layerType string, layers ...[]byte) scan.Request {
	t.Helper()
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: c.putBlob(cfg), Size: int64(len(cfg))},
	}
	for _, l := range layers {
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: layerType, Digest: c.putBlob(l), Size: int64(len(l))})
	}
	return scan.Request{Repository: "test/image", Manifest: c.putManifest(t, m, ocispec.MediaTypeImageManifest), Content: c}
}

// loadDB loads the records under dir into a new DB.
func loadDB(t testing.TB, paths ...string) *osv.DB {
	t.Helper()
	db, err := osv.NewDB(osv.Source{Paths: paths})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

var testNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func newScanner(t testing.TB, db *osv.DB, opts ...osv.Option) *osv.Scanner {
	t.Helper()
	s, err := osv.New(db, append([]osv.Option{osv.WithClock(func() time.Time { return testNow })}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// findingKeys returns "ID package installed fixed" per finding.
func findingKeys(fs []scan.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s %s %s %s", f.ID, f.Package, f.InstalledVersion, f.FixedVersion))
	}
	return out
}

func digestOf(b []byte) digest.Digest { return digest.FromBytes(b) }

func (c *memContent) putManifestRaw(b []byte, mediaType string) digest.Digest {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := digest.FromBytes(b)
	c.manifests[d] = manifestBlob{body: b, mediaType: mediaType}
	return d
}
