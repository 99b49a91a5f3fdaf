package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/registry"
	"github.com/berth-dev/berth/scan"
	"github.com/berth-dev/berth/storage/memory"
)

// exampleScanner reports one finding per layer; a real Scanner (scan/osv)
// reads the layers through req.Content.
type exampleScanner struct{}

func (exampleScanner) Scan(ctx context.Context, req scan.Request) (scan.Report, error) {
	b, _, err := req.Content.ReadManifest(ctx, req.Manifest.Digest)
	if err != nil {
		return scan.Report{}, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return scan.Report{Status: scan.StatusUnsupportedImage, Description: "not an image manifest"}, nil
	}
	var rep scan.Report
	for range m.Layers {
		rep.Findings = append(rep.Findings, scan.Finding{ID: "CVE-2024-45337", Severity: scan.SeverityCritical, Package: "golang.org/x/crypto"})
	}
	return rep, nil
}

func ExampleRegistry_StartScanning() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	done := make(chan registry.Event, 1)
	reg, err := registry.New(store,
		registry.WithScanner(exampleScanner{}),
		registry.WithListener(registry.ListenerFunc(func(_ context.Context, ev registry.Event) {
			if ev.Kind == registry.EventImageScanCompleted {
				done <- ev
			}
		})))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reg.Close()

	// Scan every image pushed to prod/* repositories.
	_, err = reg.PutRegistryScanningConfiguration(ctx, registry.ScanningConfiguration{
		Rules: []registry.ScanningRule{{
			ScanFrequency:     registry.ScanFrequencyOnPush,
			RepositoryFilters: []registry.ScanningRepositoryFilter{{Filter: "prod/*", FilterType: registry.FilterTypeWildcard}},
		}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := reg.StartScanning(ctx); err != nil {
		fmt.Println(err)
		return
	}

	// Push an image with one layer.
	push := func(data []byte, mt string) ocispec.Descriptor {
		d, err := reg.PushBlob(ctx, "prod/api", digest.FromBytes(data), bytes.NewReader(data))
		if err != nil {
			panic(err)
		}
		d.MediaType = mt
		return d
	}
	m, _ := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    push([]byte(`{"os":"linux"}`), ocispec.MediaTypeImageConfig),
		Layers:    []ocispec.Descriptor{push([]byte("layer"), ocispec.MediaTypeImageLayer)},
	})
	if _, err := reg.PutImage(ctx, registry.PutImageInput{Repository: "prod/api", Manifest: m, Tag: "v1"}); err != nil {
		fmt.Println(err)
		return
	}

	ev := <-done
	fmt.Println(ev.ScanStatus, ev.FindingSeverityCounts)
	out, err := reg.DescribeImageScanFindings(ctx, registry.DescribeImageScanFindingsInput{
		Repository: "prod/api",
		ImageID:    registry.ImageID{ImageTag: "v1"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range out.ImageScanFindings.Findings {
		fmt.Println(f.Severity, f.ID, f.Package)
	}
	// Output:
	// COMPLETE map[CRITICAL:1]
	// CRITICAL CVE-2024-45337 golang.org/x/crypto
}
