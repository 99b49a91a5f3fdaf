package storage

import (
	"time"

	digest "github.com/opencontainers/go-digest"
)

// Tag mutability settings, named as in ECR.
const (
	MutabilityMutable                = "MUTABLE"
	MutabilityImmutable              = "IMMUTABLE"
	MutabilityImmutableWithExclusion = "IMMUTABLE_WITH_EXCLUSION"
	MutabilityMutableWithExclusion   = "MUTABLE_WITH_EXCLUSION"
)

// Repository is the stored record of a repository. Repositories are records,
// not implied by paths: they exist from CreateRepository (or a create-on-push)
// until DeleteRepository.
type Repository struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
	// TagMutability is one of the Mutability* constants; empty means MUTABLE.
	TagMutability string `json:"tagMutability,omitempty"`
	// MutabilityExclusionFilters are wildcard patterns (`*` matches any run
	// of characters) whose tags take the opposite mutability under the
	// *_WITH_EXCLUSION settings.
	MutabilityExclusionFilters []string `json:"mutabilityExclusionFilters,omitempty"`
	// ResourceTags are the repository's key/value resource tags.
	ResourceTags map[string]string `json:"resourceTags,omitempty"`
	// ScanOnPush asks for a vulnerability scan of each pushed image.
	ScanOnPush bool `json:"scanOnPush,omitempty"`
	// LifecyclePolicy is the repository's lifecycle policy text in ECR's
	// JSON grammar, exactly as put, or empty for none. The registry
	// validates it (package lifecycle) before storing it.
	LifecyclePolicy string `json:"lifecyclePolicy,omitempty"`
	// LifecyclePolicyUpdatedAt is when LifecyclePolicy was last put; zero
	// without a policy.
	LifecyclePolicyUpdatedAt time.Time `json:"lifecyclePolicyUpdatedAt,omitzero"`
	// LastEvaluatedAt is when the lifecycle runner last applied the policy
	// to the repository (ECR's lastEvaluatedAt); zero if never.
	LastEvaluatedAt time.Time `json:"lastEvaluatedAt,omitzero"`
}

// Manifest is the stored record of a manifest in a repository: the exact
// bytes that were pushed plus what the registry parsed from them, so that
// listings and a garbage collector never re-parse payloads.
type Manifest struct {
	Digest       digest.Digest `json:"digest"`
	MediaType    string        `json:"mediaType"`
	ArtifactType string        `json:"artifactType,omitempty"`
	// ConfigMediaType is the config descriptor's media type, if any.
	ConfigMediaType string `json:"configMediaType,omitempty"`
	// Size is len(Payload).
	Size int64 `json:"size"`
	// ImageSize is the size of the image as ECR reports it: the manifest plus
	// its config and layers; for an index, the largest child's image size.
	ImageSize int64 `json:"imageSize"`
	// Subject is the digest of the manifest this one refers to (OCI 1.1), or
	// empty.
	Subject digest.Digest `json:"subject,omitempty"`
	// Annotations are the manifest's annotations (served in referrers
	// listings).
	Annotations map[string]string `json:"annotations,omitempty"`
	// Blobs lists the digests of blobs this manifest references and that must
	// be in the repository (config and layers, deduplicated).
	Blobs []digest.Digest `json:"blobs,omitempty"`
	// Manifests lists the digests of child manifests (an index's entries)
	// that must be in the repository.
	Manifests []digest.Digest `json:"manifests,omitempty"`
	PushedAt  time.Time       `json:"pushedAt"`
	// LastPulledAt is when the manifest was last recorded as pulled; zero if
	// never.
	LastPulledAt time.Time `json:"lastPulledAt,omitempty"`
	// Payload holds the manifest bytes. Listings may leave it nil.
	Payload []byte `json:"-"`
}

// BlobLink records that a blob is readable from a repository.
type BlobLink struct {
	Digest digest.Digest `json:"digest"`
	Size   int64         `json:"size"`
}

// Upload is the state of a resumable blob upload session. It lives in the
// metadata store so that any node sharing the store can continue the upload.
type Upload struct {
	ID         string    `json:"id"`
	Repository string    `json:"repository"`
	StartedAt  time.Time `json:"startedAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
	// Offset is the number of bytes durably received.
	Offset int64 `json:"offset"`
	// Algorithm is the digest algorithm HashState belongs to.
	Algorithm digest.Algorithm `json:"algorithm,omitempty"`
	// HashState is the marshalled state of the hash over bytes [0, Offset)
	// (encoding.BinaryMarshaler), so a resumed upload is never re-read.
	HashState []byte `json:"hashState,omitempty"`
	// Parts is blob-store specific bookkeeping (for example the parts of an
	// object-store multipart upload). Registries treat it as opaque.
	Parts []UploadPart `json:"parts,omitempty"`
}

// UploadPart is one stored part of an upload, for blob stores that cannot
// append in place.
type UploadPart struct {
	Number int    `json:"number"`
	Offset int64  `json:"offset"`
	Size   int64  `json:"size"`
	Ref    string `json:"ref,omitempty"`
}

// BlobInfo describes a committed blob.
type BlobInfo struct {
	Digest digest.Digest
	Size   int64
}

// PutManifestRequest is one manifest write: the manifest, its references and
// an optional tag, applied in a single metadata transaction.
type PutManifestRequest struct {
	Repository string
	Manifest   Manifest
	// Tags to point at the manifest. May be empty.
	Tags []string
	// CheckTag, if set, is called inside the transaction for each tag that
	// already exists and points at another digest, with that digest. A non-nil error
	// aborts the write and is returned unchanged (tag immutability).
	CheckTag func(tag string, current digest.Digest) error
	// CreateRepository, if set, is created in the same transaction when the
	// repository does not exist (create on push). If nil and the repository
	// does not exist, PutManifest returns ErrNotFound.
	CreateRepository *Repository
}
