package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/registry"
	"github.com/berth-dev/berth/scan"
	"github.com/berth-dev/berth/storage"
	"github.com/berth-dev/berth/storage/badgerstore"
	"github.com/berth-dev/berth/storage/memory"
)

// nopScanner reports no findings without reading anything.
type nopScanner struct{}

func (nopScanner) Scan(context.Context, scan.Request) (scan.Report, error) {
	return scan.Report{}, nil
}

func benchBlob(b *testing.B, reg *registry.Registry, data []byte) ocispec.Descriptor {
	b.Helper()
	d, err := reg.PushBlob(context.Background(), "bench/app", digest.FromBytes(data), bytes.NewReader(data))
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// BenchmarkPushScanOnPush measures PutImage of distinct manifests (blobs
// pushed beforehand) in a repository with scanOnPush: "off" without a
// Scanner; "queued" with a Scanner but the service not started, which is
// the cost on the push path alone (repository read and enqueue); "on" with
// the workers running a scanner that does no work, adding their reads and
// report writes competing for the store and the CPUs. The queue is large
// enough that no push is deferred.
func BenchmarkPushScanOnPush(b *testing.B) {
	for _, backend := range []string{"memory", "badger"} {
		for _, mode := range []string{"off", "queued", "on"} {
			on := mode != "off"
			b.Run(backend+"/scan="+mode, func(b *testing.B) {
				var store storage.Storage
				if backend == "memory" {
					store = memory.New()
				} else {
					s, err := badgerstore.New(badgerstore.Options{Dir: b.TempDir(), NoSync: true})
					if err != nil {
						b.Fatal(err)
					}
					store = s
				}
				defer store.Close()
				opts := []registry.Option{registry.WithScanQueueSize(1 << 20)}
				if on {
					opts = append(opts, registry.WithScanner(nopScanner{}))
				}
				reg, err := registry.New(store, opts...)
				if err != nil {
					b.Fatal(err)
				}
				defer reg.Close()
				ctx := context.Background()
				if _, err := reg.CreateRepository(ctx, registry.CreateRepositoryInput{Name: "bench/app", ScanOnPush: on}); err != nil {
					b.Fatal(err)
				}
				if mode == "on" {
					if err := reg.StartScanning(ctx); err != nil {
						b.Fatal(err)
					}
				}
				cfg := benchBlob(b, reg, []byte(`{"os":"linux"}`))
				cfg.MediaType = ocispec.MediaTypeImageConfig
				layer := benchBlob(b, reg, []byte("layer"))
				layer.MediaType = ocispec.MediaTypeImageLayer
				manifests := make([][]byte, b.N)
				for i := range manifests {
					m := ocispec.Manifest{
						Versioned:   specs.Versioned{SchemaVersion: 2},
						MediaType:   ocispec.MediaTypeImageManifest,
						Config:      cfg,
						Layers:      []ocispec.Descriptor{layer},
						Annotations: map[string]string{"n": fmt.Sprint(i)},
					}
					manifests[i], _ = json.Marshal(m)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					if _, err := reg.PutImage(ctx, registry.PutImageInput{Repository: "bench/app", Manifest: manifests[i]}); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				reg.Close() // waits for the scans in progress
			})
		}
	}
}
