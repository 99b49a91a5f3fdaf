package storage

import "errors"

// Sentinel errors returned by every Storage implementation. Implementations
// wrap them with context (fmt.Errorf("blob %s: %w", d, ErrNotFound)); callers
// test with errors.Is.
var (
	// ErrNotFound: the blob, repository, manifest, tag, link or upload does
	// not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a repository with that name already exists.
	ErrAlreadyExists = errors.New("already exists")
	// ErrSizeMismatch: committed content does not have the expected size.
	ErrSizeMismatch = errors.New("size mismatch")
	// ErrOffsetMismatch: an append did not start at the upload's current
	// offset.
	ErrOffsetMismatch = errors.New("offset mismatch")
	// ErrMissingReference: a manifest names a blob or manifest that is not in
	// the repository at the moment of the write.
	ErrMissingReference = errors.New("missing reference")
	// ErrNotEmpty: a repository still holds manifests and may not be deleted
	// without force.
	ErrNotEmpty = errors.New("not empty")
	// ErrUnsupported: the backend does not implement an optional operation.
	ErrUnsupported = errors.New("unsupported")
	// ErrInvalidRecord: a RecordStore key or value is out of bounds.
	ErrInvalidRecord = errors.New("invalid record")
	// ErrClosed: the store has been closed.
	ErrClosed = errors.New("storage closed")
)

// SkipAll may be returned by a walk callback to stop the walk early without
// an error, as fs.SkipAll does for fs.WalkDir.
var SkipAll = errors.New("skip all") //nolint:revive,staticcheck // mirrors io/fs.SkipAll
