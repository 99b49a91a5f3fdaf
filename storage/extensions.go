package storage

import (
	"context"
	"fmt"
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

// MaxRecordKey and MaxRecordSize bound the keys and values of a RecordStore.
const (
	MaxRecordKey  = 512
	MaxRecordSize = 16 << 20
)

// RecordStore is an extension of MetadataStore for small records that are
// not part of a repository's content: the registry policy, the scanning
// configuration, scan reports. Values are opaque bytes. Keys are 1 to
// MaxRecordKey bytes of printable ASCII; callers give them a prefix of their
// own ("policy/", "scan/") so that WalkRecords can list one kind.
//
// Records are durable when Put and Delete return, like every metadata
// write, and are not removed by DeleteRepository: their owner cleans up.
type RecordStore interface {
	// GetRecord returns a record's value, or ErrNotFound.
	GetRecord(ctx context.Context, key string) ([]byte, error)
	// PutRecord creates or replaces a record. ErrInvalidRecord if the key
	// or the value size is out of bounds.
	PutRecord(ctx context.Context, key string, value []byte) error
	// DeleteRecord removes a record. ErrNotFound if absent.
	DeleteRecord(ctx context.Context, key string) error
	// WalkRecords calls fn for every record whose key starts with prefix,
	// in key order. fn must not keep value after it returns.
	WalkRecords(ctx context.Context, prefix string, fn func(key string, value []byte) error) error
}

// CheckRecord returns an error wrapping ErrInvalidRecord if key or value is
// out of a RecordStore's bounds.
func CheckRecord(key string, size int) error {
	if err := CheckRecordKey(key); err != nil {
		return err
	}
	if size > MaxRecordSize {
		return fmt.Errorf("record %q: %d bytes, over %d: %w", key, size, MaxRecordSize, ErrInvalidRecord)
	}
	return nil
}

// CheckRecordKey returns an error wrapping ErrInvalidRecord if key is not a
// valid RecordStore key.
func CheckRecordKey(key string) error {
	if key == "" || len(key) > MaxRecordKey {
		return fmt.Errorf("record key of %d bytes: %w", len(key), ErrInvalidRecord)
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c < 0x20 || c > 0x7e {
			return fmt.Errorf("record key %q: byte %#x: %w", key, c, ErrInvalidRecord)
		}
	}
	return nil
}
