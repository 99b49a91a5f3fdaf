package storage

import (
	"context"
	"io"
	"time"

	digest "github.com/opencontainers/go-digest"
)

// BlobStatter reports whether a committed blob exists.
type BlobStatter interface {
	// StatBlob returns the blob's size. It returns ErrNotFound if the blob
	// has not been committed.
	StatBlob(ctx context.Context, dgst digest.Digest) (BlobInfo, error)
}

// BlobOpener opens committed blobs for reading.
type BlobOpener interface {
	// OpenBlob opens a committed blob. Filesystem backends return an
	// *os.File so that net/http can hand the bytes to the kernel (sendfile).
	// It returns ErrNotFound if the blob has not been committed.
	OpenBlob(ctx context.Context, dgst digest.Digest) (io.ReadSeekCloser, error)
}

// BlobDeleter removes committed blobs. Only a garbage collector calls it:
// repositories drop blobs by unlinking them.
type BlobDeleter interface {
	// DeleteBlob removes the blob's bytes. It returns ErrNotFound if absent.
	DeleteBlob(ctx context.Context, dgst digest.Digest) error
}

// BlobIngester holds the bytes of upload sessions until they are committed
// as blobs. It never renames across the interface: a backend on an object
// store keeps parts and composes them on commit. All bookkeeping it needs is
// kept in the Upload record, which the caller persists in the metadata store
// after each call, so any node can continue an upload.
//
// Content is invisible to BlobStatter and BlobOpener until CommitUpload.
type BlobIngester interface {
	// AppendUpload writes everything read from r to the upload's data at
	// u.Offset, makes it durable, and returns the number of bytes written.
	// Bytes stored beyond u.Offset by an earlier failed append are
	// discarded first. The backend may record parts in u.Parts; it does not
	// change u.Offset. On error, n is the number of bytes consumed from r;
	// none of them are part of the upload and the caller must not advance
	// u.Offset. ErrOffsetMismatch if fewer than u.Offset bytes are stored.
	AppendUpload(ctx context.Context, u *Upload, r io.Reader) (int64, error)
	// ReadUpload opens the bytes [0, u.Offset) of an upload, for a caller
	// that must hash them again with another algorithm. ErrNotFound if the
	// upload holds no data.
	ReadUpload(ctx context.Context, u *Upload) (io.ReadCloser, error)
	// CommitUpload makes the upload's bytes visible as blob dgst. The caller
	// has verified the digest while streaming; the store checks that the
	// size is u.Offset (ErrSizeMismatch) and makes the blob durable before
	// it returns. ErrNotFound if the upload holds no data. Committing a digest that already exists succeeds and
	// discards the upload's bytes.
	CommitUpload(ctx context.Context, u *Upload, dgst digest.Digest) error
	// AbortUpload discards the upload's bytes. Aborting an unknown upload
	// succeeds.
	AbortUpload(ctx context.Context, u *Upload) error
}

// BlobStore stores blob bytes, content-addressed, once however many
// repositories hold them.
type BlobStore interface {
	BlobStatter
	BlobOpener
	BlobDeleter
	BlobIngester
}

// RepositoryStore keeps repository records.
type RepositoryStore interface {
	// CreateRepository stores a new repository. ErrAlreadyExists if one
	// with that name exists.
	CreateRepository(ctx context.Context, repo Repository) error
	// GetRepository returns a repository record, or ErrNotFound.
	GetRepository(ctx context.Context, name string) (Repository, error)
	// UpdateRepository applies fn to the record inside a transaction.
	// ErrNotFound if it does not exist; fn's error aborts and is returned.
	UpdateRepository(ctx context.Context, name string, fn func(*Repository) error) error
	// DeleteRepository removes the repository and everything in it
	// (manifests, tags, blob links). Unless force is set it returns
	// ErrNotEmpty when the repository holds manifests. ErrNotFound if absent.
	DeleteRepository(ctx context.Context, name string, force bool) error
	// WalkRepositories calls fn for each repository whose name sorts after
	// `after`, in lexical byte order. fn may return SkipAll to stop.
	WalkRepositories(ctx context.Context, after string, fn func(Repository) error) error
}

// ManifestStore keeps manifests, tags and the referrers index.
type ManifestStore interface {
	// PutManifest stores a manifest, its references and tags in one
	// transaction. It returns ErrMissingReference (wrapped with the digest)
	// if a blob in m.Blobs is not linked to the repository or a manifest in
	// m.Manifests is not in it; ErrNotFound if the repository does not
	// exist and req.CreateRepository is nil. Putting an existing manifest
	// again keeps its PushedAt and LastPulledAt and only moves tags.
	PutManifest(ctx context.Context, req PutManifestRequest) error
	// GetManifest returns a manifest with its payload, or ErrNotFound.
	GetManifest(ctx context.Context, repo string, dgst digest.Digest) (Manifest, error)
	// DeleteManifest removes a manifest and every tag pointing at it.
	// Blob links stay, and manifests that name it as subject stay listed by
	// WalkReferrers. ErrNotFound if absent.
	DeleteManifest(ctx context.Context, repo string, dgst digest.Digest) error
	// WalkManifests calls fn for each manifest in the repository whose digest
	// sorts after `after`, in lexical order, without payloads. ErrNotFound
	// if the repository does not exist.
	WalkManifests(ctx context.Context, repo string, after digest.Digest, fn func(Manifest) error) error
	// RecordPull sets the last-pulled time of a manifest. ErrNotFound if the
	// manifest is gone.
	RecordPull(ctx context.Context, repo string, dgst digest.Digest, at time.Time) error

	// ResolveTag returns the digest a tag points to, or ErrNotFound.
	ResolveTag(ctx context.Context, repo, tag string) (digest.Digest, error)
	// DeleteTag removes a tag, leaving its manifest. ErrNotFound if absent.
	DeleteTag(ctx context.Context, repo, tag string) error
	// WalkTags calls fn for each tag of the repository that sorts after
	// `after`, in lexical byte order. ErrNotFound if the repository does not
	// exist.
	WalkTags(ctx context.Context, repo, after string, fn func(tag string, dgst digest.Digest) error) error
	// TagsOf returns the tags that point at a manifest, sorted. ErrNotFound
	// if the repository does not exist.
	TagsOf(ctx context.Context, repo string, dgst digest.Digest) ([]string, error)

	// WalkReferrers calls fn for each manifest in the repository whose
	// subject is `subject`, in digest order, without payloads. ErrNotFound if
	// the repository does not exist.
	WalkReferrers(ctx context.Context, repo string, subject digest.Digest, fn func(Manifest) error) error
}

// BlobLinker records which repositories may read which blobs.
type BlobLinker interface {
	// LinkBlob makes a committed blob readable from a repository. The
	// repository must exist (ErrNotFound): a registry with create-on-push
	// creates it when the first upload starts.
	LinkBlob(ctx context.Context, repo string, link BlobLink) error
	// GetBlobLink returns the link, or ErrNotFound if the repository cannot
	// read the blob.
	GetBlobLink(ctx context.Context, repo string, dgst digest.Digest) (BlobLink, error)
	// UnlinkBlob removes the link. ErrNotFound if absent.
	UnlinkBlob(ctx context.Context, repo string, dgst digest.Digest) error
	// WalkBlobLinks calls fn for each blob linked to the repository, in
	// digest order. ErrNotFound if the repository does not exist.
	WalkBlobLinks(ctx context.Context, repo string, fn func(BlobLink) error) error
}

// UploadStore keeps upload-session state.
type UploadStore interface {
	// PutUpload creates or replaces the state of an upload session.
	PutUpload(ctx context.Context, u Upload) error
	// GetUpload returns the state of an upload session, or ErrNotFound.
	GetUpload(ctx context.Context, id string) (Upload, error)
	// DeleteUpload removes the state of an upload session. ErrNotFound if
	// absent.
	DeleteUpload(ctx context.Context, id string) error
	// CompleteUpload deletes the upload state and links the blob to the
	// upload's repository in one transaction.
	CompleteUpload(ctx context.Context, id string, link BlobLink) error
	// WalkUploads calls fn for every upload session, in ID order.
	WalkUploads(ctx context.Context, fn func(Upload) error) error
}

// MetadataStore keeps everything but blob bytes.
type MetadataStore interface {
	RepositoryStore
	ManifestStore
	BlobLinker
	UploadStore
}

// Storage is what a Registry needs: blob bytes plus metadata. Close releases
// the store; it is idempotent, and after it every method returns ErrClosed.
type Storage interface {
	BlobStore
	MetadataStore
	io.Closer
}
