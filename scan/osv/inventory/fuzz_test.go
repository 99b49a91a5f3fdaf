package inventory

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// The fuzz targets check that the parsers never panic and keep their
// invariants on arbitrary input. Run one with, for example:
//
//	go test ./scan/osv/inventory -run '^$' -fuzz FuzzParseDpkg -fuzztime 30s

func seedFixture(f *testing.F, name string) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "shared", "fixtures", "debian-bookworm", name))
	if err == nil {
		f.Add(b)
	}
}

func FuzzParseDpkg(f *testing.F) {
	seedFixture(f, "dpkg-status")
	f.Add([]byte("Package: a\nStatus: install ok installed\nSource: b (1.0)\nVersion: 1.0+b1\n\nPackage: c\n"))
	f.Add([]byte("Package: a\r\nVersion: 1\r\n Description\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, statusD := range []bool{false, true} {
			for _, p := range parseDpkgStatus(b, statusD) {
				if p.Name == "" || p.Version == "" || p.SourceName == "" || p.Kind != KindDpkg {
					t.Fatalf("invalid package %+v", p)
				}
			}
		}
	})
}

func FuzzParseApk(f *testing.F) {
	f.Add([]byte("P:musl\nV:1.2.4-r4\nA:x86_64\no:musl\n\nP:busybox\nV:1.36.1-r15\n"))
	f.Add([]byte("P:\nV:\n\n\n:x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, p := range parseApkInstalled(b) {
			if p.Name == "" || p.Version == "" || p.SourceName == "" || p.Kind != KindApk {
				t.Fatalf("invalid package %+v", p)
			}
		}
	})
}

func FuzzParseOSRelease(f *testing.F) {
	seedFixture(f, "os-release")
	f.Add([]byte("ID=alpine\nVERSION_ID=3.19.1\n"))
	f.Add([]byte("ID='a\nVERSION_ID=\"\\\"\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if os := parseOSRelease(b); os != nil {
			if os.ID == "" {
				t.Fatal("OS without ID")
			}
			_ = os.Ecosystem()
		}
	})
}

func FuzzParsePythonMetadata(f *testing.F) {
	f.Add([]byte("Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\n\nbody"))
	f.Add([]byte("Name: a\r\n Version: b\r\nversion: 1\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, ok := parsePythonMetadata(b); ok && (p.Name == "" || p.Version == "" || p.Ecosystem != EcosystemPyPI) {
			t.Fatalf("invalid package %+v", p)
		}
	})
}

func FuzzParsePackageJSON(f *testing.F) {
	f.Add([]byte(`{"name":"left-pad","version":"1.3.0"}`))
	f.Add([]byte(`{"name":["x"],"version":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, ok := parsePackageJSON(b); ok && (p.Name == "" || p.Version == "" || p.Ecosystem != EcosystemNPM) {
			t.Fatalf("invalid package %+v", p)
		}
	})
}

func FuzzParseGoBinary(f *testing.F) {
	f.Add([]byte("\x7fELF\x02\x01\x01\x00"))
	f.Add([]byte("MZ\x90\x00"))
	f.Add(append([]byte("\x7fELF"), []byte("\xff Go buildinf:\x08\x02")...))
	if exe, err := os.Executable(); err == nil {
		if b, err := os.ReadFile(exe); err == nil && len(b) < 64<<20 {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, p := range parseGoBinary(b) {
			if p.Name == "" || p.Ecosystem != EcosystemGo {
				t.Fatalf("invalid package %+v", p)
			}
		}
	})
}

// FuzzReadLayer feeds arbitrary bytes to the layer reader: it must end
// with a nil error or one of the sentinels, never panic.
func FuzzReadLayer(f *testing.F) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range []struct{ name, body string }{
		{"var/lib/dpkg/status", "Package: a\nStatus: install ok installed\nVersion: 1\n"},
		{"etc/.wh.os-release", ""}, {"app/.wh..wh..opq", ""},
		{"app/node_modules/x/package.json", `{"name":"x","version":"1"}`},
	} {
		tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(e.body))
	}
	tw.WriteHeader(&tar.Header{Name: "../x", Typeflag: tar.TypeSymlink, Linkname: "/x"})
	tw.Close()
	f.Add(buf.Bytes())
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0})
	opts := Options{MaxLayerSize: 1 << 20, MaxDatabaseSize: 64 << 10, MaxBinarySize: 64 << 10, MaxManifestSize: 4 << 10}.withDefaults()
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := readLayer(context.Background(), "sha256:x", bytes.NewReader(b), opts)
		if err != nil {
			if !errors.Is(err, ErrUnsupportedLayer) && !errors.Is(err, ErrCorruptLayer) && !errors.Is(err, ErrLayerTooLarge) {
				t.Fatalf("readLayer() error = %v, want a sentinel", err)
			}
			return
		}
		_ = Merge([]*LayerContents{c, c})
	})
}
