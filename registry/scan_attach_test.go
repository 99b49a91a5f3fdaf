package registry_test

import (
	"context"
	"encoding/json"
	"io"
	"slices"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/registry"
	"github.com/berth-dev/berth/scan"
	"github.com/berth-dev/berth/scan/sbom"
	"github.com/berth-dev/berth/storage"
	"github.com/berth-dev/berth/storage/memory"
)

// attachments returns the referrers of d by artifact type, with the bytes
// of each one's single layer.
func attachments(t *testing.T, reg *registry.Registry, repo string, d digest.Digest) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	refs, err := reg.Referrers(ctx, repo, d, "")
	if err != nil {
		t.Fatalf("Referrers() error = %v", err)
	}
	out := map[string][]byte{}
	for _, r := range refs {
		img, err := reg.GetImage(ctx, repo, r.Digest.String())
		if err != nil {
			t.Fatalf("GetImage(%s) error = %v", r.Digest, err)
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(img.Manifest, &m); err != nil {
			t.Fatal(err)
		}
		if m.Subject == nil || m.Subject.Digest != d || len(m.Layers) != 1 || m.Annotations[sbom.AnnotationCreatedBy] != "berth-scan" {
			t.Fatalf("attachment %s = %s", r.Digest, img.Manifest)
		}
		rc, desc, err := reg.OpenBlob(ctx, repo, m.Layers[0].Digest)
		if err != nil {
			t.Fatalf("OpenBlob() error = %v", err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if digest.FromBytes(b) != desc.Digest {
			t.Fatalf("attachment layer does not hash to its digest")
		}
		if _, dup := out[r.ArtifactType]; dup {
			t.Fatalf("two attachments of type %s", r.ArtifactType)
		}
		out[r.ArtifactType] = b
	}
	return out
}

func TestScanAttachments(t *testing.T) {
	backends(t, func(t *testing.T, store storage.Storage) {
		ctx := context.Background()
		e := newScanEnv(t, store, registry.WithScanAttachments(true))
		createRepo(t, e.reg, "app", true)
		e.start(t)
		d := e.push(t, "app", "v1", finding("CVE-2026-0001", scan.SeverityHigh))
		e.wait(t, 1)

		got := attachments(t, e.reg, "app", d)
		if len(got) != 2 {
			t.Fatalf("attachments = %v, want an SBOM and a report", slices.Collect(func(yield func(string) bool) {
				for k := range got {
					if !yield(k) {
						return
					}
				}
			}))
		}
		var spdx struct {
			SPDXVersion string `json:"spdxVersion"`
			Packages    []struct {
				Name string `json:"name"`
			} `json:"packages"`
		}
		if err := json.Unmarshal(got[sbom.ArtifactTypeSPDX], &spdx); err != nil || spdx.SPDXVersion != "SPDX-2.3" {
			t.Fatalf("SBOM = %s (%v)", got[sbom.ArtifactTypeSPDX], err)
		}
		found := false
		for _, p := range spdx.Packages {
			if len(p.Name) > 4 && p.Name[:4] == "pkg-" {
				found = true
			}
		}
		if !found {
			t.Errorf("SBOM lists none of the scanner's packages: %s", got[sbom.ArtifactTypeSPDX])
		}
		var rep scan.Report
		if err := json.Unmarshal(got[sbom.ArtifactTypeScanReport], &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Status != scan.StatusComplete || len(rep.Findings) != 1 || rep.Findings[0].ID != "CVE-2026-0001" || rep.Inventory != nil {
			t.Errorf("attached report = %+v", rep)
		}

		// Attachments are not scanned themselves.
		refs, _ := e.reg.Referrers(ctx, "app", d, "")
		for _, r := range refs {
			if st := e.status(t, "app", r.Digest); st != "none" {
				t.Errorf("attachment %s has scan status %s", r.Digest, st)
			}
		}

		// A new scan replaces them.
		if _, err := e.reg.StartImageScan(ctx, "app", registry.ImageID{ImageDigest: d}); err != nil {
			t.Fatal(err)
		}
		e.wait(t, 1)
		again, _ := e.reg.Referrers(ctx, "app", d, "")
		if len(again) != 2 {
			t.Fatalf("%d attachments after a second scan, want 2", len(again))
		}
		for _, old := range refs {
			if slices.ContainsFunc(again, func(n ocispec.Descriptor) bool { return n.Digest == old.Digest }) &&
				old.ArtifactType == sbom.ArtifactTypeScanReport {
				// The report's completion time changed, so its digest must.
				t.Errorf("report attachment %s was not replaced", old.Digest)
			}
		}
	})
}

func TestScanAttachmentsOff(t *testing.T) {
	e := newScanEnv(t, memory.New(), registry.WithScanAttachments(false))
	createRepo(t, e.reg, "app", true)
	e.start(t)
	d := e.push(t, "app", "v1")
	e.wait(t, 1)
	if refs, _ := e.reg.Referrers(context.Background(), "app", d, ""); len(refs) != 0 {
		t.Fatalf("attachments with WithScanAttachments(false): %v", refs)
	}
}

// TestScanAttachmentAnnotationOnImage: the attachments' annotation on an
// image does not keep it from being scanned.
func TestScanAttachmentAnnotationOnImage(t *testing.T) {
	e := newScanEnv(t, memory.New())
	createRepo(t, e.reg, "app", true)
	e.start(t)
	m := image(t, e.reg, "app", func(m *ocispec.Manifest) {
		m.Annotations = map[string]string{sbom.AnnotationCreatedBy: "berth-scan"}
	})
	d := putImage(t, e.reg, "app", "v1", m).Descriptor.Digest
	e.wait(t, 1)
	if st := e.status(t, "app", d); st != scan.StatusComplete {
		t.Fatalf("scan status of an annotated image = %s, want %s", st, scan.StatusComplete)
	}
}
