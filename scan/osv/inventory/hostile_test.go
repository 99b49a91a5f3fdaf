package inventory_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/berth-dev/berth/scan/osv/inventory"
)

func TestUnsafeNames(t *testing.T) {
	s := newBlobs()
	l := layerOf(t, s, "gzip",
		file("/etc/os-release", "ID=debian\nVERSION_ID=12\n"), // absolute: made relative
		file("/var/lib/dpkg/status", statusV1),
		file("../../../lib/apk/db/installed", "P:evil\nV:1\n"),                               // escapes: skipped
		file("a/../../lib/apk/db/installed", "P:evil\nV:2\n"),                                // escapes: skipped
		file("./usr/../app/node_modules/ok/package.json", `{"name":"ok","version":"1.0.0"}`), // cleaned
		file("..", "x"), file("/..", "x"),
		symlink("app/node_modules/evil", "../../../../../etc"),
	)
	img, err := inventory.Read(context.Background(), []inventory.Layer{l}, inventory.Options{})
	if err != nil {
		t.Fatalf("Read() error = %v", err)
	}
	got := pkgStrings(img)
	want := []string{
		"app/node_modules/ok/package.json ok@1.0.0",
		"var/lib/dpkg/status curl@7.88.1-10",
		"var/lib/dpkg/status libssl3@3.0.11-1~deb12u1",
		"var/lib/dpkg/status wget@1.21.3-1+b2",
	}
	if !slices.Equal(got, want) {
		t.Errorf("packages = %q, want %q", got, want)
	}
	if img.OS == nil || img.OS.Path != "etc/os-release" {
		t.Errorf("OS = %+v, want from etc/os-release", img.OS)
	}
	if !slices.ContainsFunc(img.Warnings, func(w string) bool { return strings.Contains(w, "4 entries with absolute or escaping names skipped") }) {
		t.Errorf("Warnings = %q, want one counting 4 skipped entries", img.Warnings)
	}
}

func TestSymlinkLoops(t *testing.T) {
	s := newBlobs()
	l := layerOf(t, s, "none",
		symlink("etc/os-release", "loop1"),
		symlink("etc/loop1", "/etc/loop2"),
		symlink("etc/loop2", "loop1"),
		symlink("self", "self"),
		symlink("a", "a/b/c"),
		symlink("x/y", "../x/y"),
		symlink("x/z", "y/../z"),
		file("usr/lib/os-release", "ID=alpine\nVERSION_ID=3.20.2\n"),
		file("lib/apk/db/installed", "P:musl\nV:1.2.5-r0\n"),
	)
	done := make(chan struct{})
	var img *inventory.Image
	var err error
	go func() {
		defer close(done)
		img, err = inventory.Read(context.Background(), []inventory.Layer{l}, inventory.Options{})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Read() did not return: symbolic link loop followed")
	}
	if err != nil {
		t.Fatalf("Read() error = %v", err)
	}
	// The loop at etc/os-release fails to resolve; the fallback
	// usr/lib/os-release is used.
	if img.OS == nil || img.OS.Ecosystem() != "Alpine:v3.20" {
		t.Errorf("OS = %+v, want Alpine v3.20 from usr/lib/os-release", img.OS)
	}
	if got := pkgStrings(img); !slices.Equal(got, []string{"lib/apk/db/installed musl@1.2.5-r0"}) {
		t.Errorf("packages = %q", got)
	}
}

// bomb returns a compressed layer holding one file of about size bytes of
// zeros, built from repeated compressed members or frames so that it is
// cheap to make.
func bomb(t *testing.T, compression string, size int64) []byte {
	t.Helper()
	const chunk = 16 << 20
	var hdr bytes.Buffer
	tw := tar.NewWriter(&hdr)
	if err := tw.WriteHeader(&tar.Header{Name: "zeros", Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, chunk)
	var first, member []byte
	switch compression {
	case "gzip":
		first, member = gzipBytes(t, hdr.Bytes()), gzipBytes(t, zeros)
	case "zstd":
		first, member = zstdBytes(t, hdr.Bytes()), zstdBytes(t, zeros)
	}
	out := slices.Clone(first)
	for range size / chunk {
		out = append(out, member...)
	}
	return out
}

func TestDecompressionBomb(t *testing.T) {
	for _, tc := range []struct {
		name, compression string
		size              int64
		opts              inventory.Options
	}{
		// 1 GiB of zeros against a 64 MiB cap (the ratio check disabled).
		{"gzip size cap", "gzip", 1 << 30, inventory.Options{MaxLayerSize: 64 << 20, MaxRatio: -1}},
		{"zstd size cap", "zstd", 1 << 30, inventory.Options{MaxLayerSize: 64 << 20, MaxRatio: -1}},
		// The default options stop a 64 GiB zstd bomb by its ratio.
		{"zstd ratio", "zstd", 64 << 30, inventory.Options{}},
		{"gzip ratio", "gzip", 1 << 30, inventory.Options{MaxRatio: 100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bomb(t, tc.compression, tc.size)
			s := newBlobs()
			l := s.layer(b, "")
			start := time.Now()
			_, err := inventory.Read(context.Background(), []inventory.Layer{l}, tc.opts)
			if !errors.Is(err, inventory.ErrLayerTooLarge) {
				t.Fatalf("Read() error = %v, want ErrLayerTooLarge", err)
			}
			t.Logf("%d compressed bytes stopped after %v: %v", len(b), time.Since(start), err)
		})
	}
}

func TestBrokenLayers(t *testing.T) {
	status := string(readFixture(t, "dpkg-status"))
	plain := tarBytes(t, file("var/lib/dpkg/status", status), file("big", strings.Repeat("data ", 50000)))
	gz := gzipBytes(t, plain)
	zs := zstdBytes(t, plain)
	corrupt := slices.Clone(gz)
	for i := len(corrupt) / 2; i < len(corrupt)/2+64; i++ {
		corrupt[i] ^= 0x55
	}
	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(rand.IntN(256))
	}
	for _, tc := range []struct {
		name      string
		blob      []byte
		mediaType string
		want      error
	}{
		{"truncated gzip", gz[:len(gz)/2], mtGzip, inventory.ErrCorruptLayer},
		{"truncated gzip trailer", gz[:len(gz)-4], mtGzip, inventory.ErrCorruptLayer},
		{"truncated gzip header", gz[:5], mtGzip, inventory.ErrCorruptLayer},
		{"corrupt gzip", corrupt, mtGzip, inventory.ErrCorruptLayer},
		{"truncated zstd", zs[:len(zs)/2], mtZstd, inventory.ErrCorruptLayer},
		{"truncated tar", plain[:len(plain)/2], mtTar, inventory.ErrCorruptLayer},
		{"random bytes", random, mtTar, inventory.ErrUnsupportedLayer},
		{"gzipped JSON", gzipBytes(t, []byte(`{"schemaVersion":2,"config":{}}`+strings.Repeat(" ", 1024))), mtGzip, inventory.ErrUnsupportedLayer},
		{"short text", []byte("hello"), "", inventory.ErrUnsupportedLayer},
		{"config blob", []byte(`{}`), "application/vnd.oci.image.config.v1+json", inventory.ErrUnsupportedLayer},
		{"helm chart config", []byte(`{}`), "application/vnd.cncf.helm.config.v1+json", inventory.ErrUnsupportedLayer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newBlobs()
			l := s.layer(tc.blob, tc.mediaType)
			_, err := inventory.Read(context.Background(), []inventory.Layer{l}, inventory.Options{})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Read() error = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), string(l.Digest)) {
				t.Errorf("error %q does not name the layer", err)
			}
		})
	}

	// An empty blob is an empty layer; zero padding after a complete gzip
	// stream is tolerated.
	s := newBlobs()
	img, err := inventory.Read(context.Background(), []inventory.Layer{s.layer(append(slices.Clone(gz), make([]byte, 512)...), mtGzip)}, inventory.Options{})
	if err != nil || countKind(img, inventory.KindDpkg) != 88 {
		t.Errorf("padded gzip: Read() error = %v", err)
	}
	if _, err := inventory.Read(context.Background(), []inventory.Layer{s.layer(nil, mtTar)}, inventory.Options{}); err != nil {
		t.Errorf("empty layer: Read() error = %v", err)
	}
}

type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

func TestReadErrorsAndCancel(t *testing.T) {
	gz := gzipBytes(t, tarBytes(t, file("var/lib/dpkg/status", statusV1)))
	errDisk := errors.New("disk on fire")
	l := inventory.Layer{Digest: "sha256:x", Open: func(ctx context.Context) (io.ReadCloser, error) {
		return io.NopCloser(&failingReader{r: bytes.NewReader(gz[:len(gz)/2]), err: errDisk}), nil
	}}
	_, err := inventory.Read(context.Background(), []inventory.Layer{l}, inventory.Options{})
	if !errors.Is(err, errDisk) || errors.Is(err, inventory.ErrCorruptLayer) {
		t.Errorf("Read() error = %v, want the blob's read error", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := newBlobs()
	_, err = inventory.Read(ctx, []inventory.Layer{s.layer(gz, mtGzip)}, inventory.Options{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Read() with a cancelled context: error = %v, want context.Canceled", err)
	}
}

func TestOversizedFiles(t *testing.T) {
	s := newBlobs()
	bigStatus := strings.Repeat(statusV1+"\n", 100)
	l := layerOf(t, s, "gzip",
		file("var/lib/dpkg/status", bigStatus),
		exe("usr/bin/big", append([]byte("\x7fELF"), make([]byte, 8<<10)...)),
	)
	img, err := inventory.Read(context.Background(), []inventory.Layer{l}, inventory.Options{MaxDatabaseSize: 1 << 10, MaxBinarySize: 4 << 10})
	if err != nil {
		t.Fatalf("Read() error = %v", err)
	}
	if len(img.Packages) != 0 {
		t.Errorf("packages = %d, want 0", len(img.Packages))
	}
	for _, p := range []string{"var/lib/dpkg/status: skipped", "usr/bin/big: executable skipped"} {
		if !slices.ContainsFunc(img.Warnings, func(w string) bool { return strings.Contains(w, p) }) {
			t.Errorf("Warnings = %q, want %q", img.Warnings, p)
		}
	}
}

// A tar header that claims a huge database but carries no data must not
// make the reader allocate the claimed size.
func TestLyingHeader(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "var/lib/dpkg/status", Mode: 0o644, Size: 60 << 20, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(buf.Bytes())
	zw.Close()
	s := newBlobs()
	_, err := inventory.Read(context.Background(), []inventory.Layer{s.layer(gz.Bytes(), mtGzip)}, inventory.Options{})
	if !errors.Is(err, inventory.ErrCorruptLayer) {
		t.Fatalf("Read() error = %v, want ErrCorruptLayer", err)
	}
}
