package sbom_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/scan"
	"github.com/berth-dev/berth/scan/sbom"
)

var subject = ocispec.Descriptor{
	MediaType:   ocispec.MediaTypeImageManifest,
	Digest:      img.Digest,
	Size:        1234,
	Annotations: map[string]string{"not": "copied"},
}

// checkArtifact parses manifest as an OCI image manifest and checks it
// against the artifact guidance and blobs; it returns the document.
func checkArtifact(t *testing.T, manifest []byte, blobs []sbom.Blob, artifactType, mediaType string) []byte {
	t.Helper()
	// Strictly: unknown fields would mean a malformed manifest.
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(manifest, &raw); err != nil {
		t.Fatal(err)
	}
	for k := range raw {
		switch k {
		case "schemaVersion", "mediaType", "artifactType", "config", "layers", "subject", "annotations":
		default:
			t.Errorf("unexpected manifest field %q", k)
		}
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		t.Fatal(err)
	}
	if m.SchemaVersion != 2 || m.MediaType != ocispec.MediaTypeImageManifest || m.ArtifactType != artifactType {
		t.Errorf("schemaVersion %d mediaType %q artifactType %q", m.SchemaVersion, m.MediaType, m.ArtifactType)
	}
	if m.Subject == nil || m.Subject.Digest != subject.Digest || m.Subject.Size != subject.Size || m.Subject.MediaType != subject.MediaType || m.Subject.Annotations != nil {
		t.Errorf("subject = %+v", m.Subject)
	}
	c := m.Config
	if c.MediaType != "application/vnd.oci.empty.v1+json" || c.Size != 2 || c.Digest != digest.FromString("{}") {
		t.Errorf("config = %+v", c)
	}
	var cfg struct {
		Data string `json:"data"`
	}
	json.Unmarshal(raw["config"], &cfg)
	if cfg.Data != "e30=" {
		t.Errorf("config data = %q, want e30=", cfg.Data)
	}
	if d, _ := base64.StdEncoding.DecodeString(cfg.Data); string(d) != "{}" {
		t.Errorf("config data decodes to %q", d)
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != mediaType {
		t.Fatalf("layers = %+v", m.Layers)
	}
	// Every descriptor of the manifest has its blob, with matching bytes.
	if len(blobs) != 2 {
		t.Fatalf("%d blobs, want 2", len(blobs))
	}
	for i, want := range []ocispec.Descriptor{m.Config, m.Layers[0]} {
		b := blobs[i]
		if b.Descriptor.Digest != want.Digest || b.Descriptor.Size != want.Size || b.Descriptor.MediaType != want.MediaType {
			t.Errorf("blob %d descriptor %+v, manifest has %+v", i, b.Descriptor, want)
		}
		if digest.FromBytes(b.Data) != want.Digest || int64(len(b.Data)) != want.Size {
			t.Errorf("blob %d: bytes do not match digest %s size %d", i, want.Digest, want.Size)
		}
	}
	return blobs[1].Data
}

func TestArtifactSPDX(t *testing.T) {
	doc, err := sbom.SPDX(img, inventory(), opts)
	if err != nil {
		t.Fatal(err)
	}
	ann := map[string]string{ocispec.AnnotationCreated: created.Format(time.RFC3339)}
	manifest, blobs, err := sbom.Artifact(subject, sbom.ArtifactTypeSPDX, sbom.ArtifactTypeSPDX, doc, ann)
	if err != nil {
		t.Fatal(err)
	}
	got := checkArtifact(t, manifest, blobs, "application/spdx+json", "application/spdx+json")
	if string(got) != string(doc) {
		t.Error("layer is not the document")
	}
	var m ocispec.Manifest
	json.Unmarshal(manifest, &m)
	if m.Annotations[ocispec.AnnotationCreated] != "2026-11-25T08:00:00Z" {
		t.Errorf("annotations = %v", m.Annotations)
	}
	// The shared empty config must not have been changed.
	if string(ocispec.DescriptorEmptyJSON.Data) != "{}" {
		t.Error("DescriptorEmptyJSON modified")
	}
	blobs[0].Data[0] = 'x'
	if string(ocispec.DescriptorEmptyJSON.Data) != "{}" {
		t.Error("blob aliases DescriptorEmptyJSON.Data")
	}
}

func TestArtifactCycloneDX(t *testing.T) {
	bom, err := sbom.CycloneDX(img, inventory(), opts)
	if err != nil {
		t.Fatal(err)
	}
	manifest, blobs, err := sbom.Artifact(subject, sbom.ArtifactTypeCycloneDX, sbom.ArtifactTypeCycloneDX, bom, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkArtifact(t, manifest, blobs, "application/vnd.cyclonedx+json", "application/vnd.cyclonedx+json")
}

func TestReportArtifact(t *testing.T) {
	rep := scan.Report{
		Status:      scan.StatusComplete,
		CompletedAt: time.Date(2026, 11, 25, 9, 30, 0, 0, time.FixedZone("CET", 3600)),
		Findings:    []scan.Finding{{ID: "CVE-2024-0001", Severity: scan.SeverityHigh, Package: "libssl3"}},
	}
	rep.SeverityCounts = scan.CountSeverities(rep.Findings)
	manifest, blobs, err := sbom.ReportArtifact(subject, rep, nil)
	if err != nil {
		t.Fatal(err)
	}
	data := checkArtifact(t, manifest, blobs, sbom.ArtifactTypeScanReport, sbom.ArtifactTypeScanReport)
	var back scan.Report
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if back.Status != rep.Status || len(back.Findings) != 1 || back.Findings[0].ID != "CVE-2024-0001" || back.SeverityCounts[scan.SeverityHigh] != 1 {
		t.Errorf("report round trip = %+v", back)
	}
	var m ocispec.Manifest
	json.Unmarshal(manifest, &m)
	if m.Annotations[ocispec.AnnotationCreated] != "2026-11-25T08:30:00Z" {
		t.Errorf("created annotation = %q", m.Annotations[ocispec.AnnotationCreated])
	}
	// Without a completion time, no annotation.
	manifest, _, err = sbom.ReportArtifact(subject, scan.Report{Status: scan.StatusFailed}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var m2 ocispec.Manifest
	json.Unmarshal(manifest, &m2)
	if m2.Annotations != nil {
		t.Errorf("annotations = %v", m2.Annotations)
	}
}

func TestArtifactInvalid(t *testing.T) {
	doc := []byte(`{}`)
	for _, tc := range []struct {
		name         string
		subject      ocispec.Descriptor
		artifactType string
		mediaType    string
		data         []byte
	}{
		{"no subject media type", ocispec.Descriptor{Digest: img.Digest, Size: 1}, sbom.ArtifactTypeSPDX, sbom.ArtifactTypeSPDX, doc},
		{"bad subject digest", ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: "sha256:00", Size: 1}, sbom.ArtifactTypeSPDX, sbom.ArtifactTypeSPDX, doc},
		{"negative size", ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: img.Digest, Size: -1}, sbom.ArtifactTypeSPDX, sbom.ArtifactTypeSPDX, doc},
		{"no artifact type", subject, "", sbom.ArtifactTypeSPDX, doc},
		{"artifact type with parameters", subject, "application/spdx+json; version=2.3", sbom.ArtifactTypeSPDX, doc},
		{"bad media type", subject, sbom.ArtifactTypeSPDX, "spdx", doc},
		{"empty document", subject, sbom.ArtifactTypeSPDX, sbom.ArtifactTypeSPDX, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := sbom.Artifact(tc.subject, tc.artifactType, tc.mediaType, tc.data, nil)
			if !errors.Is(err, sbom.ErrInvalid) {
				t.Errorf("Artifact error = %v, want ErrInvalid", err)
			}
		})
	}
}
