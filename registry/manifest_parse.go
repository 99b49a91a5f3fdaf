package registry

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Manifest media types the registry accepts.
const (
	MediaTypeOCIManifest        = ocispec.MediaTypeImageManifest
	MediaTypeOCIIndex           = ocispec.MediaTypeImageIndex
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"

	mediaTypeDockerSchema1       = "application/vnd.docker.distribution.manifest.v1+json"
	mediaTypeDockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"
	mediaTypeDockerImageConfig   = "application/vnd.docker.container.image.v1+json"
	mediaTypeDockerForeignLayer  = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
)

// emptyJSON is the OCI empty descriptor's content, "{}".
var emptyJSON = []byte("{}")

// ParsedManifest is what the registry reads from a manifest payload.
type ParsedManifest struct {
	MediaType    string
	ArtifactType string
	Config       *ocispec.Descriptor
	Layers       []ocispec.Descriptor
	Manifests    []ocispec.Descriptor
	Subject      *ocispec.Descriptor
	Annotations  map[string]string
}

// IsIndex reports whether the manifest is an index or manifest list.
func (m *ParsedManifest) IsIndex() bool {
	return m.MediaType == MediaTypeOCIIndex || m.MediaType == MediaTypeDockerManifestList
}

// manifestDoc covers every supported manifest shape.
type manifestDoc struct {
	SchemaVersion *int                 `json:"schemaVersion"`
	MediaType     string               `json:"mediaType"`
	ArtifactType  string               `json:"artifactType"`
	Config        *ocispec.Descriptor  `json:"config"`
	Layers        []ocispec.Descriptor `json:"layers"`
	Manifests     []ocispec.Descriptor `json:"manifests"`
	Subject       *ocispec.Descriptor  `json:"subject"`
	Annotations   map[string]string    `json:"annotations"`
	FSLayers      json.RawMessage      `json:"fsLayers"`
}

// ParseManifest parses and validates a manifest payload. contentType is the
// media type the client declared (the HTTP Content-Type), which may be
// empty. Errors wrap ErrManifestInvalid.
func ParseManifest(contentType string, payload []byte) (*ParsedManifest, error) {
	ct := normalizeMediaType(contentType)
	if ct == mediaTypeDockerSchema1 || ct == mediaTypeDockerSchema1Signed {
		return nil, fmt.Errorf("docker schema 1 manifests are not supported, push schema 2 or OCI: %w", ErrManifestInvalid)
	}
	var doc manifestDoc
	if err := json.Unmarshal(payload, &doc); err != nil {
		return nil, fmt.Errorf("manifest is not valid JSON: %v: %w", err, ErrManifestInvalid)
	}
	if doc.SchemaVersion != nil && *doc.SchemaVersion == 1 || len(doc.FSLayers) > 0 {
		return nil, fmt.Errorf("docker schema 1 manifests are not supported, push schema 2 or OCI: %w", ErrManifestInvalid)
	}
	if doc.SchemaVersion == nil || *doc.SchemaVersion != 2 {
		return nil, fmt.Errorf("schemaVersion must be 2: %w", ErrManifestInvalid)
	}
	mt := doc.MediaType
	switch {
	case mt != "" && ct != "" && mt != ct:
		return nil, fmt.Errorf("mediaType %q does not match Content-Type %q: %w", truncate(mt), truncate(ct), ErrManifestInvalid)
	case mt == "" && ct != "":
		mt = ct
	case mt == "" && doc.Manifests != nil:
		mt = MediaTypeOCIIndex
	case mt == "":
		mt = MediaTypeOCIManifest
	}
	m := &ParsedManifest{
		MediaType:    mt,
		ArtifactType: doc.ArtifactType,
		Subject:      doc.Subject,
		Annotations:  doc.Annotations,
	}
	switch mt {
	case MediaTypeOCIManifest, MediaTypeDockerManifest:
		if doc.Manifests != nil {
			return nil, fmt.Errorf("an image manifest has no manifests field: %w", ErrManifestInvalid)
		}
		if doc.Config == nil {
			return nil, fmt.Errorf("image manifest has no config: %w", ErrManifestInvalid)
		}
		if err := validateDescriptor("config", *doc.Config); err != nil {
			return nil, err
		}
		if doc.Layers == nil && mt == MediaTypeDockerManifest {
			return nil, fmt.Errorf("image manifest has no layers: %w", ErrManifestInvalid)
		}
		for i, l := range doc.Layers {
			if err := validateDescriptor(fmt.Sprintf("layers[%d]", i), l); err != nil {
				return nil, err
			}
		}
		m.Config = doc.Config
		m.Layers = doc.Layers
		if m.ArtifactType == "" {
			// distribution-spec v1.1.1, "Listing Referrers": an image
			// manifest without artifactType is typed by its config.
			m.ArtifactType = doc.Config.MediaType
		}
	case MediaTypeOCIIndex, MediaTypeDockerManifestList:
		if doc.Config != nil || doc.Layers != nil {
			return nil, fmt.Errorf("an index has no config or layers: %w", ErrManifestInvalid)
		}
		if doc.Manifests == nil {
			return nil, fmt.Errorf("index has no manifests field: %w", ErrManifestInvalid)
		}
		for i, c := range doc.Manifests {
			if err := validateDescriptor(fmt.Sprintf("manifests[%d]", i), c); err != nil {
				return nil, err
			}
		}
		m.Manifests = doc.Manifests
	default:
		return nil, fmt.Errorf("unsupported manifest media type %q: %w", truncate(mt), ErrManifestInvalid)
	}
	if m.Subject != nil {
		if err := validateDescriptor("subject", *m.Subject); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func validateDescriptor(field string, d ocispec.Descriptor) error {
	if d.MediaType == "" {
		return fmt.Errorf("%s: descriptor has no mediaType: %w", field, ErrManifestInvalid)
	}
	if !canonicalDigest(d.Digest) {
		if _, err := ParseDigest(string(d.Digest)); err != nil {
			return fmt.Errorf("%s: %v: %w", field, err, ErrManifestInvalid)
		}
	}
	if d.Size < 0 {
		return fmt.Errorf("%s: negative size: %w", field, ErrManifestInvalid)
	}
	if d.Data != nil {
		if int64(len(d.Data)) != d.Size {
			return fmt.Errorf("%s: data has %d bytes, size says %d: %w", field, len(d.Data), d.Size, ErrManifestInvalid)
		}
		if d.Digest.Algorithm().FromBytes(d.Data) != d.Digest {
			return fmt.Errorf("%s: data does not match digest: %w", field, ErrManifestInvalid)
		}
	}
	return nil
}

// canonicalDigest reports whether d is a sha256 or sha512 digest in
// canonical form (lowercase hex of the right length), which ParseDigest
// accepts, without ParseDigest's regular expressions. Other strings may
// still be valid (ParseDigest decides).
func canonicalDigest(d digest.Digest) bool {
	s := string(d)
	var hexLen int
	switch {
	case strings.HasPrefix(s, "sha256:"):
		s, hexLen = s[len("sha256:"):], 64
	case strings.HasPrefix(s, "sha512:"):
		s, hexLen = s[len("sha512:"):], 128
	default:
		return false
	}
	if len(s) != hexLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// requiredBlobs returns the blobs an image manifest needs in its repository:
// config and layers, without non-distributable layers, deduplicated.
func (m *ParsedManifest) requiredBlobs() []digest.Digest {
	if m.Config == nil {
		return nil
	}
	out := []digest.Digest{m.Config.Digest}
	for _, l := range m.Layers {
		if nonDistributable(l.MediaType) {
			continue
		}
		out = append(out, l.Digest)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (m *ParsedManifest) requiredManifests() []digest.Digest {
	out := make([]digest.Digest, 0, len(m.Manifests))
	for _, c := range m.Manifests {
		out = append(out, c.Digest)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func nonDistributable(mediaType string) bool {
	return mediaType == mediaTypeDockerForeignLayer || strings.Contains(mediaType, ".nondistributable.")
}

func normalizeMediaType(ct string) string {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.TrimSpace(ct)
}
