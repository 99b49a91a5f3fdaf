// Command scanning shows Berth's built-in vulnerability scanner: an
// embedded registry scans every image pushed to a repository with
// scan-on-push, matching its packages against OSV data from a directory,
// and attaches an SPDX SBOM and the report to the image as OCI referrers.
//
//	go run ./examples/scanning                 # the demo advisory in ./osv
//	go run ./examples/scanning -osv /data/osv  # a directory or zips of OSV records
//
// It builds a small Debian-like image in memory (an os-release file and a
// dpkg status database with one outdated package), pushes it through the Go
// API, waits for the scan and prints the findings and the attachments.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/registry"
	"github.com/berth-dev/berth/scan/osv"
	"github.com/berth-dev/berth/storage/memory"
)

func main() {
	_, file, _, _ := runtime.Caller(0)
	dir := flag.String("osv", filepath.Join(filepath.Dir(file), "osv"), "directory or zip files of OSV records")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "scanning:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, w io.Writer, osvDir string) error {
	db, err := osv.NewDB(osv.Source{Paths: []string{osvDir}})
	if err != nil {
		return err
	}
	if err := db.Reload(ctx); err != nil {
		return err
	}
	scanner, err := osv.New(db)
	if err != nil {
		return err
	}
	done := make(chan registry.Event, 16)
	reg, err := registry.New(memory.New(),
		registry.WithScanner(scanner),
		registry.WithListener(registry.ListenerFunc(func(_ context.Context, ev registry.Event) {
			if ev.Kind == registry.EventImageScanCompleted {
				done <- ev
			}
		})),
	)
	if err != nil {
		return err
	}
	defer reg.Close()
	if err := reg.StartScanning(ctx); err != nil {
		return err
	}
	if _, err := reg.CreateRepository(ctx, registry.CreateRepositoryInput{Name: "team-a/web", ScanOnPush: true}); err != nil {
		return err
	}
	img, err := pushDemoImage(ctx, reg, "team-a/web", "v1")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "pushed team-a/web:v1 %s\n", img.Digest)

	select {
	case ev := <-done:
		fmt.Fprintf(w, "scan %s: %v\n", ev.ScanStatus, ev.FindingSeverityCounts)
	case <-time.After(30 * time.Second):
		return errors.New("no scan result within 30s")
	}
	out, err := reg.DescribeImageScanFindings(ctx, registry.DescribeImageScanFindingsInput{
		Repository: "team-a/web",
		ImageID:    registry.ImageID{ImageTag: "v1"},
	})
	if err != nil {
		return err
	}
	for _, f := range out.ImageScanFindings.Findings {
		fmt.Fprintf(w, "  %s %s %s %s (fixed in %s)\n", f.Severity, f.ID, f.Package, f.InstalledVersion, f.FixedVersion)
	}
	refs, err := reg.Referrers(ctx, "team-a/web", img.Digest, "")
	if err != nil {
		return err
	}
	for _, r := range refs {
		fmt.Fprintf(w, "attached %s %s\n", r.ArtifactType, r.Digest)
	}
	return nil
}

// pushDemoImage pushes a one-layer image holding an os-release file and a
// dpkg status database.
func pushDemoImage(ctx context.Context, reg *registry.Registry, repo, tag string) (ocispec.Descriptor, error) {
	layer, diffID, err := demoLayer()
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	ld, err := reg.PushBlob(ctx, repo, "", bytes.NewReader(layer))
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	config, _ := json.Marshal(ocispec.Image{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}},
	})
	cd, err := reg.PushBlob(ctx, repo, "", bytes.NewReader(config))
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	cd.MediaType = ocispec.MediaTypeImageConfig
	ld.MediaType = ocispec.MediaTypeImageLayerGzip
	m, _ := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    cd,
		Layers:    []ocispec.Descriptor{ld},
	})
	img, err := reg.PutImage(ctx, registry.PutImageInput{Repository: repo, Tag: tag, Manifest: m, MediaType: ocispec.MediaTypeImageManifest})
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return img.Descriptor, nil
}

const dpkgStatus = `Package: demo
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 100
Maintainer: Berth <noreply@example.invalid>
Architecture: amd64
Source: demo
Version: 1.2-1
Description: demonstration package

Package: base-files
Status: install ok installed
Priority: required
Section: admin
Installed-Size: 341
Maintainer: Santiago Vila <sanvila@debian.org>
Architecture: amd64
Version: 12.4+deb12u13
Description: Debian base system miscellaneous files
`

const osRelease = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
`

// demoLayer returns a gzipped tar layer and the digest of the tar.
func demoLayer() ([]byte, digest.Digest, error) {
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for _, f := range []struct{ name, body string }{
		{"etc/os-release", osRelease},
		{"var/lib/dpkg/status", dpkgStatus},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg}); err != nil {
			return nil, "", err
		}
		if _, err := io.WriteString(tw, f.body); err != nil {
			return nil, "", err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	diffID := digest.FromBytes(raw.Bytes())
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return nil, "", err
	}
	if err := zw.Close(); err != nil {
		return nil, "", err
	}
	return gz.Bytes(), diffID, nil
}
