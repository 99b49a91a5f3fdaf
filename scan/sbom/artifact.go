package sbom

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/scan"
)

// Artifact types, also used as the media types of the documents. SPDX and
// CycloneDX use their IANA-registered media types. Scan reports have no
// standard type: Berth's scan.Report JSON is
// "application/vnd.berth.scan.report.v1+json", in the
// application/vnd.<org>.<thing>.v<N>+json shape that OCI artifacts use
// (Notation's application/vnd.cncf.notary.signature, ORAS examples); the
// "v1" is the version of scan.Report's JSON, raised if it ever changes
// incompatibly.
const (
	ArtifactTypeSPDX       = "application/spdx+json"
	ArtifactTypeCycloneDX  = "application/vnd.cyclonedx+json"
	ArtifactTypeScanReport = "application/vnd.berth.scan.report.v1+json"
)

// AnnotationCreatedBy marks artifacts a tool attached by itself; the
// registry sets it to "berth-scan" on the SBOMs and reports it attaches to
// scanned images, so that it can replace them after the next scan.
const AnnotationCreatedBy = "dev.berth.created-by"

// Blob is a blob of an artifact: push it before the manifest.
type Blob struct {
	Descriptor ocispec.Descriptor
	Data       []byte
}

// mediaTypeRE is RFC 6838's type/subtype, without parameters, as the OCI
// image spec requires of mediaType and artifactType.
var mediaTypeRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$`)

// Artifact returns an OCI image manifest for an artifact holding one
// document (data, of media type mediaType) that refers to subject, the
// image it is about, and the blobs to push with it: the empty config and
// the document. Pushed to the subject's repository, the manifest is
// listed by the referrers API (filtered by artifactType) for subject.
//
// It follows the artifact guidance of the OCI image spec 1.1
// (https://github.com/opencontainers/image-spec/blob/v1.1.1/manifest.md#guidelines-for-artifact-usage):
// artifactType is set, the config is the empty descriptor
// (application/vnd.oci.empty.v1+json, size 2, with its data "e30=" inline)
// and the one layer is the document. annotations (optional) become the
// manifest's annotations; org.opencontainers.image.created is the usual
// one.
//
// It returns an error wrapping ErrInvalid if subject has no media type, an
// invalid digest or a negative size, if artifactType or mediaType is not a
// type/subtype media type, or if data is empty.
func Artifact(subject ocispec.Descriptor, artifactType, mediaType string, data []byte, annotations map[string]string) ([]byte, []Blob, error) {
	if subject.MediaType == "" || subject.Size < 0 {
		return nil, nil, fmt.Errorf("%w: subject needs a media type and a size", ErrInvalid)
	}
	if err := subject.Digest.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%w: subject digest %q: %w", ErrInvalid, subject.Digest, err)
	}
	if !mediaTypeRE.MatchString(artifactType) {
		return nil, nil, fmt.Errorf("%w: artifact type %q", ErrInvalid, artifactType)
	}
	if !mediaTypeRE.MatchString(mediaType) {
		return nil, nil, fmt.Errorf("%w: media type %q", ErrInvalid, mediaType)
	}
	if len(data) == 0 {
		return nil, nil, fmt.Errorf("%w: empty document", ErrInvalid)
	}
	config := ocispec.DescriptorEmptyJSON
	layer := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType,
		Config:       config,
		Layers:       []ocispec.Descriptor{layer},
		Subject:      &ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
	}
	if len(annotations) > 0 {
		m.Annotations = annotations
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, nil, fmt.Errorf("sbom: encode manifest: %w", err)
	}
	configBlob := config
	configBlob.Data = nil
	return b, []Blob{
		{Descriptor: configBlob, Data: append([]byte(nil), config.Data...)},
		{Descriptor: layer, Data: data},
	}, nil
}

// ReportArtifact returns Artifact for rep's JSON with artifact type
// ArtifactTypeScanReport, annotated with annotations and with
// org.opencontainers.image.created = rep.CompletedAt (if set and not in
// annotations).
func ReportArtifact(subject ocispec.Descriptor, rep scan.Report, annotations map[string]string) ([]byte, []Blob, error) {
	data, err := json.Marshal(rep)
	if err != nil {
		return nil, nil, fmt.Errorf("sbom: encode report: %w", err)
	}
	ann := maps.Clone(annotations)
	if _, set := ann[ocispec.AnnotationCreated]; !set && !rep.CompletedAt.IsZero() {
		if ann == nil {
			ann = map[string]string{}
		}
		ann[ocispec.AnnotationCreated] = rep.CompletedAt.UTC().Format(time.RFC3339)
	}
	return Artifact(subject, ArtifactTypeScanReport, ArtifactTypeScanReport, data, ann)
}
