package inventory_test

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/scan/osv/inventory"
)

// fixtureDir is the Debian 12 fixture (a copy of the shared fixture, see
// its README.md), kept in the repository so that the tests never skip.
func fixtureDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join("..", "testdata", "debian-bookworm")
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

// ent is one tar entry.
type ent struct {
	name string
	body string
	mode int64
	typ  byte
	link string
	size int64 // declared size when body is empty and size > 0 (header only)
}

func file(name, body string) ent { return ent{name: name, body: body, mode: 0o644, typ: tar.TypeReg} }
func exe(name string, body []byte) ent {
	return ent{name: name, body: string(body), mode: 0o755, typ: tar.TypeReg}
}
func dir(name string) ent { return ent{name: name, mode: 0o755, typ: tar.TypeDir} }
func symlink(name, target string) ent {
	return ent{name: name, link: target, mode: 0o777, typ: tar.TypeSymlink}
}
func hardlink(name, target string) ent {
	return ent{name: name, link: target, mode: 0o644, typ: tar.TypeLink}
}
func whiteout(name string) ent { return file(name, "") }

func tarBytes(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Mode: e.mode, Typeflag: e.typ, Linkname: e.link, Format: tar.FormatPAX}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("WriteHeader(%q): %v", e.name, err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipBytes(t testing.TB, b []byte) []byte {
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

func zstdBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	zw, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer zw.Close()
	return zw.EncodeAll(b, nil)
}

// blobs is an in-memory blob store that counts how often each blob is
// opened.
type blobs struct {
	mu    sync.Mutex
	data  map[digest.Digest][]byte
	opens map[digest.Digest]*atomic.Int32
}

func newBlobs() *blobs {
	return &blobs{data: map[digest.Digest][]byte{}, opens: map[digest.Digest]*atomic.Int32{}}
}

// layer stores b and returns a Layer reading it.
func (s *blobs) layer(b []byte, mediaType string) inventory.Layer {
	d := digest.FromBytes(b)
	s.mu.Lock()
	s.data[d] = b
	if s.opens[d] == nil {
		s.opens[d] = new(atomic.Int32)
	}
	n := s.opens[d]
	s.mu.Unlock()
	return inventory.Layer{
		Digest:    d,
		MediaType: mediaType,
		Open: func(ctx context.Context) (io.ReadCloser, error) {
			n.Add(1)
			return io.NopCloser(bytes.NewReader(b)), nil
		},
	}
}

func (s *blobs) opened(d digest.Digest) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int(s.opens[d].Load())
}

const (
	mtTar  = "application/vnd.oci.image.layer.v1.tar"
	mtGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
	mtZstd = "application/vnd.oci.image.layer.v1.tar+zstd"
)

// layerOf builds a layer from entries, compressed as named.
func layerOf(t testing.TB, s *blobs, compression string, ents ...ent) inventory.Layer {
	t.Helper()
	b := tarBytes(t, ents...)
	switch compression {
	case "gzip":
		return s.layer(gzipBytes(t, b), mtGzip)
	case "zstd":
		return s.layer(zstdBytes(t, b), mtZstd)
	}
	return s.layer(b, mtTar)
}

var goBinary struct {
	once sync.Once
	b    []byte
	err  error
	skip string
}

// helloBinary builds (once per test binary) a small Go program for
// linux/arm64 with a real dependency from the module cache and a dependency
// replaced by a local directory.
func helloBinary(t testing.TB) []byte {
	t.Helper()
	goBinary.once.Do(func() {
		gobin, err := exec.LookPath("go")
		if err != nil {
			goBinary.skip = "go command not found"
			return
		}
		dir, err := os.MkdirTemp("", "inventory-gobin")
		if err != nil {
			goBinary.err = err
			return
		}
		defer os.RemoveAll(dir)
		files := map[string]string{
			"go.mod":     "module example.com/hello\n\ngo 1.22\n\nrequire (\n\texample.com/dep v1.0.0\n\tgithub.com/opencontainers/go-digest v1.0.0\n)\n\nreplace example.com/dep => ./dep\n",
			"go.sum":     "github.com/opencontainers/go-digest v1.0.0 h1:apOUWs51W5PlhuyGyz9FCeeBIOUDA/6nW8Oi/yOhh5U=\ngithub.com/opencontainers/go-digest v1.0.0/go.mod h1:0JzlMkj0TRzQZfJkVvzbP0HBR3IKzErnv2BNG4W4MAM=\n",
			"main.go":    "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/dep\"\n\tdigest \"github.com/opencontainers/go-digest\"\n)\n\nfunc main() { fmt.Println(dep.Hello(), digest.FromString(\"x\")) }\n",
			"dep/go.mod": "module example.com/dep\n\ngo 1.22\n",
			"dep/dep.go": "package dep\n\nfunc Hello() string { return \"hello\" }\n",
		}
		for name, body := range files {
			p := filepath.Join(dir, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				goBinary.err = err
				return
			}
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				goBinary.err = err
				return
			}
		}
		out := filepath.Join(dir, "hello")
		cmd := exec.Command(gobin, "build", "-trimpath", "-o", out, ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0", "GOFLAGS=-mod=mod -buildvcs=false", "GOPROXY=off", "GOWORK=off")
		if msg, err := cmd.CombinedOutput(); err != nil {
			goBinary.skip = "cannot build the test program: " + err.Error() + "\n" + string(msg)
			return
		}
		goBinary.b, goBinary.err = os.ReadFile(out)
	})
	if goBinary.skip != "" {
		t.Skip(goBinary.skip)
	}
	if goBinary.err != nil {
		t.Fatal(goBinary.err)
	}
	return goBinary.b
}

// goVersion is the toolchain version the test program is built with.
func goVersion(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		t.Skip("go command not usable")
	}
	return string(bytes.TrimSpace(out))
}

// find returns the packages named name.
func find(img *inventory.Image, name string) []inventory.Package {
	var out []inventory.Package
	for _, p := range img.Packages {
		if p.Name == name {
			out = append(out, p)
		}
	}
	return out
}

func countKind(img *inventory.Image, k inventory.Kind) int {
	n := 0
	for _, p := range img.Packages {
		if p.Kind == k {
			n++
		}
	}
	return n
}
