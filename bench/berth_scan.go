package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/httpapi"
	"github.com/berth-dev/berth/registry"
	"github.com/berth-dev/berth/scan/osv"
	"github.com/berth-dev/berth/storage/badgerstore"
)

// The cost of scanning: the same Berth with scan on push (the built-in OSV
// scanner, two workers, SBOM and report attachments) pushes the same
// images as berth, in the same round. The images of this workload have
// real layers (gzipped tars, the first with a Debian package database) so
// that the scanner does its whole work: decompress, walk, detect, match.
// Scans run after the push returns; so that a scan backlog does not slow
// the next target's turn, each berth-scan turn is followed by an untimed
// wait until its scans are done (in-process targets only).

const mediaTypeLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"

// scanWaiters maps a berth-scan target's directory to its counter of
// completed scans.
var scanWaiters sync.Map // dir -> *atomic.Int64

// repoRoot is the Berth repository (bench's parent directory).
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

func newBerthScanHandler(dir string) (http.Handler, func() error, error) {
	ctx := context.Background()
	db, err := osv.NewDB(osv.Source{Paths: []string{filepath.Join(repoRoot(), "scan", "osv", "testdata", "debian")}})
	if err != nil {
		return nil, nil, err
	}
	if err := db.Reload(ctx); err != nil {
		return nil, nil, err
	}
	sc, err := osv.New(db)
	if err != nil {
		return nil, nil, err
	}
	store, err := badgerstore.New(badgerstore.Options{Dir: dir})
	if err != nil {
		return nil, nil, err
	}
	done := new(atomic.Int64)
	reg, err := registry.New(store, registry.WithScanner(sc), registry.WithListener(registry.ListenerFunc(func(_ context.Context, ev registry.Event) {
		if ev.Kind == registry.EventImageScanCompleted {
			done.Add(1)
		}
	})))
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	closeAll := func() error {
		reg.Close()
		return store.Close()
	}
	_, err = reg.PutRegistryScanningConfiguration(ctx, registry.ScanningConfiguration{
		ScanType: registry.ScanTypeBasic,
		Rules: []registry.ScanningRule{{
			ScanFrequency:     registry.ScanFrequencyOnPush,
			RepositoryFilters: []registry.ScanningRepositoryFilter{{Filter: repoScanImages, FilterType: registry.FilterTypeWildcard}},
		}},
	})
	if err == nil {
		err = reg.StartScanning(ctx)
	}
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	h, err := httpapi.New(reg)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	scanWaiters.Store(dir, done)
	return h, closeAll, nil
}

// repoScanImages is the repository of the scan workload (scanned on push
// by berth-scan).
const repoScanImages = "bench/scanned"

type tarFile struct {
	name string
	body []byte
}

// prepareScanImages builds the round's images: every layer is a gzipped
// tar holding a file of p.layerSize random bytes (distinct per round,
// image and layer); each image's first layer also holds the Debian 12
// package database and os-release.
func prepareScanImages(f *fixtures, round int) (imageSet, error) {
	s := imageSet{repo: repoScanImages, mediaType: mediaTypeLayerGzip}
	fixture := filepath.Join(repoRoot(), "scan", "osv", "testdata", "debian-bookworm")
	status, err := os.ReadFile(filepath.Join(fixture, "dpkg-status"))
	if err != nil {
		return s, err
	}
	osRelease, err := os.ReadFile(filepath.Join(fixture, "os-release"))
	if err != nil {
		return s, err
	}
	for img := range f.p.images {
		for j := range f.p.layers {
			k := img*f.p.layers + j
			f.layers[k].set(uint64(round))
			files := []tarFile{{fmt.Sprintf("data/r%d-i%d-l%d", round, img, j), f.layers[k].buf}}
			if j == 0 {
				files = append(files, tarFile{"var/lib/dpkg/status", status}, tarFile{"etc/os-release", osRelease})
			}
			var gz bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
			tw := tar.NewWriter(zw)
			for _, fl := range files {
				if err := tw.WriteHeader(&tar.Header{Name: fl.name, Mode: 0o644, Size: int64(len(fl.body)), Typeflag: tar.TypeReg}); err != nil {
					return s, err
				}
				if _, err := tw.Write(fl.body); err != nil {
					return s, err
				}
			}
			if err := tw.Close(); err != nil {
				return s, err
			}
			if err := zw.Close(); err != nil {
				return s, err
			}
			s.bodies = append(s.bodies, gz.Bytes())
			s.layers = append(s.layers, digest.FromBytes(gz.Bytes()))
		}
		s.configs = append(s.configs, fmt.Appendf(nil, `{"architecture":"amd64","os":"linux","config":{"Labels":{"round":"%d","image":"%d","scan":"yes"}},"rootfs":{"type":"layers","diff_ids":[]}}`, round, img))
	}
	return s, nil
}

// awaitScans waits, untimed, until a berth-scan target has completed want
// scans.
func awaitScans(t *target, want int64) error {
	v, ok := scanWaiters.Load(t.dir)
	if !ok {
		return nil // another target, or one in a child process
	}
	done := v.(*atomic.Int64)
	deadline := time.Now().Add(2 * time.Minute)
	for done.Load() < want {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %d of %d scans completed after 2 minutes", t.name, done.Load(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}
