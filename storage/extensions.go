package storage

import (
	"context"
	"time"

	digest "github.com/opencontainers/go-digest"
)

// BlobWalker is an extension of BlobStore that enumerates committed blobs,
// for a garbage collector.
type BlobWalker interface {
	// WalkBlobs calls fn for every committed blob, in digest order.
	WalkBlobs(ctx context.Context, fn func(BlobInfo) error) error
}

// Redirector is an extension of BlobStore for backends that can hand a
// client a time-limited URL (an object store's presigned GET) instead of
// streaming the bytes through the registry.
type Redirector interface {
	// BlobURL returns a URL valid for at least ttl, or ErrUnsupported to
	// fall back to streaming.
	BlobURL(ctx context.Context, dgst digest.Digest, ttl time.Duration) (string, error)
}
