package registry

import (
	"errors"
	"fmt"
)

// OCI-domain sentinel errors. Every error the Registry returns wraps one of
// these (or a context error); httpapi maps them to OCI error codes and HTTP
// statuses in a single table.
var (
	ErrBlobUnknown         = errors.New("blob unknown to registry")
	ErrBlobUploadInvalid   = errors.New("blob upload invalid")
	ErrBlobUploadUnknown   = errors.New("blob upload unknown to registry")
	ErrDigestInvalid       = errors.New("provided digest did not match uploaded content")
	ErrManifestBlobUnknown = errors.New("manifest references a manifest or blob unknown to registry")
	ErrManifestInvalid     = errors.New("manifest invalid")
	ErrManifestUnknown     = errors.New("manifest unknown to registry")
	ErrNameInvalid         = errors.New("invalid repository name")
	ErrNameUnknown         = errors.New("repository name not known to registry")
	ErrSizeInvalid         = errors.New("provided length did not match content length")
	ErrUnauthorized        = errors.New("authentication required")
	ErrDenied              = errors.New("requested access to the resource is denied")
	ErrUnsupported         = errors.New("the operation is unsupported")
	ErrTooManyRequests     = errors.New("too many requests")

	// ErrTagInvalid: a tag does not match the OCI tag grammar.
	ErrTagInvalid = errors.New("invalid tag")
	// ErrTagImmutable: the push would move an immutable tag (ECR's
	// ImageTagAlreadyExistsException).
	ErrTagImmutable = errors.New("tag is immutable")
	// ErrRepositoryAlreadyExists: CreateRepository with a name in use.
	ErrRepositoryAlreadyExists = errors.New("repository already exists")
	// ErrRepositoryNotEmpty: DeleteRepository without force on a repository
	// that still holds images.
	ErrRepositoryNotEmpty = errors.New("repository not empty")
	// ErrInvalidParameter: an argument is out of range or malformed (ECR's
	// InvalidParameterException), such as a bad pagination token.
	ErrInvalidParameter = errors.New("invalid parameter")
	// ErrManifestTooLarge: a manifest exceeds the size limit.
	ErrManifestTooLarge = errors.New("manifest too large")
	// ErrBlobTooLarge: a blob upload exceeds the size limit.
	ErrBlobTooLarge = errors.New("blob too large")
	// ErrRangeInvalid: a chunk does not start at the upload's offset.
	ErrRangeInvalid = errors.New("requested range not satisfiable")
	// ErrClosed: the registry has been closed.
	ErrClosed = errors.New("registry closed")
)

// UploadOffsetError reports a chunk that does not start where the upload
// stands. It matches ErrRangeInvalid.
type UploadOffsetError struct {
	// Offset is the number of bytes the upload holds.
	Offset int64
	// Got is the offset the chunk claimed.
	Got int64
}

func (e *UploadOffsetError) Error() string {
	return fmt.Sprintf("chunk starts at %d, upload holds %d bytes: %v", e.Got, e.Offset, ErrRangeInvalid)
}

// Is reports whether target is ErrRangeInvalid.
func (e *UploadOffsetError) Is(target error) bool { return target == ErrRangeInvalid }
