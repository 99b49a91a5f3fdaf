package registry

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/storage"
)

// UploadStatus reports the state of an upload session.
type UploadStatus struct {
	ID         string
	Repository string
	// Offset is the number of bytes received.
	Offset    int64
	StartedAt time.Time
}

func statusOf(u storage.Upload) UploadStatus {
	return UploadStatus{ID: u.ID, Repository: u.Repository, Offset: u.Offset, StartedAt: u.StartedAt}
}

// StartUpload opens a resumable upload session in repo (ECR's
// InitiateLayerUpload). With create-on-push the repository is created if
// needed; otherwise it must exist (ErrNameUnknown).
func (r *Registry) StartUpload(ctx context.Context, repo string) (UploadStatus, error) {
	if err := r.begin(ctx, policy.ActionInitiateLayerUpload, repo, ""); err != nil {
		return UploadStatus{}, err
	}
	u, err := r.startUpload(ctx, repo, digest.Canonical)
	if err != nil {
		return UploadStatus{}, err
	}
	return statusOf(u), nil
}

func (r *Registry) startUpload(ctx context.Context, repo string, alg digest.Algorithm) (storage.Upload, error) {
	if err := r.ensureRepo(ctx, repo); err != nil {
		return storage.Upload{}, err
	}
	state, err := marshalHash(alg.Hash())
	if err != nil {
		return storage.Upload{}, err
	}
	now := r.now()
	u := storage.Upload{
		ID:         newUploadID(),
		Repository: repo,
		StartedAt:  now,
		UpdatedAt:  now,
		Algorithm:  alg,
		HashState:  state,
	}
	if err := r.store.PutUpload(ctx, u); err != nil {
		return storage.Upload{}, fmt.Errorf("start upload in %q: %w", repo, err)
	}
	return u, nil
}

// UploadStatus returns the state of an upload session, or an error wrapping
// ErrBlobUploadUnknown.
func (r *Registry) UploadStatus(ctx context.Context, repo, id string) (UploadStatus, error) {
	if err := r.begin(ctx, policy.ActionUploadLayerPart, repo, ""); err != nil {
		return UploadStatus{}, err
	}
	u, err := r.getUpload(ctx, repo, id)
	if err != nil {
		return UploadStatus{}, err
	}
	return statusOf(u), nil
}

// WriteUpload appends the bytes of r to an upload session (ECR's
// UploadLayerPart). offset is where the chunk claims to start; a negative
// offset appends wherever the upload stands. A chunk that does not start at
// the upload's offset fails with an *UploadOffsetError (ErrRangeInvalid)
// and changes nothing.
func (r *Registry) WriteUpload(ctx context.Context, repo, id string, offset int64, body io.Reader) (UploadStatus, error) {
	if err := r.begin(ctx, policy.ActionUploadLayerPart, repo, ""); err != nil {
		return UploadStatus{}, err
	}
	unlock := r.lockUpload(id)
	defer unlock()
	u, err := r.getUpload(ctx, repo, id)
	if err != nil {
		return UploadStatus{}, err
	}
	if offset >= 0 && offset != u.Offset {
		return statusOf(u), &UploadOffsetError{Offset: u.Offset, Got: offset}
	}
	if err := r.appendUpload(ctx, &u, body); err != nil {
		return statusOf(u), err
	}
	if err := r.store.PutUpload(ctx, u); err != nil {
		return UploadStatus{}, fmt.Errorf("upload %s: %w", id, err)
	}
	return statusOf(u), nil
}

// CompleteUpload finishes an upload session (ECR's CompleteLayerUpload):
// it appends the optional final chunk (offset as in WriteUpload), checks the
// content against dgst, and commits it as a blob linked to repo. The error
// wraps ErrDigestInvalid when the content does not match, and
// ErrBlobUploadUnknown for an unknown session.
func (r *Registry) CompleteUpload(ctx context.Context, repo, id string, dgst digest.Digest, offset int64, body io.Reader) (ocispec.Descriptor, error) {
	if err := r.begin(ctx, policy.ActionCompleteLayerUpload, repo, ""); err != nil {
		return ocispec.Descriptor{}, err
	}
	if err := validateDigest(dgst); err != nil {
		return ocispec.Descriptor{}, err
	}
	unlock := r.lockUpload(id)
	defer unlock()
	u, err := r.getUpload(ctx, repo, id)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if body != nil {
		if offset >= 0 && offset != u.Offset {
			return ocispec.Descriptor{}, &UploadOffsetError{Offset: u.Offset, Got: offset}
		}
		before := u.Offset
		if err := r.appendUpload(ctx, &u, body); err != nil {
			return ocispec.Descriptor{}, err
		}
		if u.Offset != before {
			if err := r.store.PutUpload(ctx, u); err != nil {
				return ocispec.Descriptor{}, fmt.Errorf("upload %s: %w", id, err)
			}
		}
	}
	return r.commitUpload(ctx, &u, dgst)
}

// CancelUpload discards an upload session. The error wraps
// ErrBlobUploadUnknown for an unknown session.
func (r *Registry) CancelUpload(ctx context.Context, repo, id string) error {
	if err := r.begin(ctx, policy.ActionUploadLayerPart, repo, ""); err != nil {
		return err
	}
	unlock := r.lockUpload(id)
	defer unlock()
	u, err := r.getUpload(ctx, repo, id)
	if err != nil {
		return err
	}
	if err := r.store.DeleteUpload(ctx, id); err != nil {
		return uploadErr(id, err)
	}
	if err := r.store.AbortUpload(ctx, &u); err != nil {
		r.log.WarnContext(ctx, "abort upload", "repo", repo, "upload_id", id, "err", err)
	}
	r.uploadLocks.Delete(id)
	return nil
}

// PushBlob stores a whole blob read from body in one call (a monolithic
// upload). If expected is set the content must match it (ErrDigestInvalid);
// otherwise the sha256 digest of the content is used.
func (r *Registry) PushBlob(ctx context.Context, repo string, expected digest.Digest, body io.Reader) (ocispec.Descriptor, error) {
	if err := r.begin(ctx, policy.ActionInitiateLayerUpload, repo, ""); err != nil {
		return ocispec.Descriptor{}, err
	}
	if expected != "" {
		if err := validateDigest(expected); err != nil {
			return ocispec.Descriptor{}, err
		}
	}
	if err := r.authorize(ctx, policy.ActionCompleteLayerUpload, repo, ""); err != nil {
		return ocispec.Descriptor{}, err
	}
	return r.pushBlob(ctx, repo, expected, body)
}

// pushBlob is PushBlob after validation and authorization.
func (r *Registry) pushBlob(ctx context.Context, repo string, expected digest.Digest, body io.Reader) (ocispec.Descriptor, error) {
	alg := digest.Canonical
	if expected != "" {
		alg = expected.Algorithm()
	}
	u, err := r.startUpload(ctx, repo, alg)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if err := r.appendUpload(ctx, &u, body); err != nil {
		r.discardUpload(ctx, &u)
		return ocispec.Descriptor{}, err
	}
	if expected == "" {
		h, err := unmarshalHash(u.Algorithm, u.HashState)
		if err != nil {
			r.discardUpload(ctx, &u)
			return ocispec.Descriptor{}, err
		}
		expected = digest.NewDigest(u.Algorithm, h)
	}
	desc, err := r.commitUpload(ctx, &u, expected)
	if err != nil {
		r.discardUpload(ctx, &u)
		return ocispec.Descriptor{}, err
	}
	return desc, nil
}

// discardUpload removes an upload that failed inside a single call.
func (r *Registry) discardUpload(ctx context.Context, u *storage.Upload) {
	ctx = context.WithoutCancel(ctx)
	if err := r.store.DeleteUpload(ctx, u.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		r.log.WarnContext(ctx, "delete upload state", "upload_id", u.ID, "err", err)
	}
	if err := r.store.AbortUpload(ctx, u); err != nil {
		r.log.WarnContext(ctx, "abort upload", "upload_id", u.ID, "err", err)
	}
}

// appendUpload streams body into the upload, hashing it on the way, and
// advances u.Offset and u.HashState on success. It enforces the blob size
// limit.
func (r *Registry) appendUpload(ctx context.Context, u *storage.Upload, body io.Reader) error {
	h, err := unmarshalHash(u.Algorithm, u.HashState)
	if err != nil {
		return err
	}
	room := r.opts.maxBlobSize - u.Offset
	lr := &io.LimitedReader{R: body, N: room + 1}
	n, err := r.store.AppendUpload(ctx, u, io.TeeReader(lr, h))
	if err != nil {
		return fmt.Errorf("upload %s: write: %w", u.ID, err)
	}
	if n > room {
		return fmt.Errorf("upload %s: more than %d bytes: %w", u.ID, r.opts.maxBlobSize, ErrBlobTooLarge)
	}
	state, err := marshalHash(h)
	if err != nil {
		return err
	}
	u.Offset += n
	u.HashState = state
	u.UpdatedAt = r.now()
	return nil
}

// commitUpload verifies the upload's digest and commits it as a blob linked
// to its repository.
func (r *Registry) commitUpload(ctx context.Context, u *storage.Upload, dgst digest.Digest) (ocispec.Descriptor, error) {
	got, err := r.uploadDigest(ctx, u, dgst.Algorithm())
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if got != dgst {
		return ocispec.Descriptor{}, fmt.Errorf("upload %s: content has digest %s, not %s: %w", u.ID, got, dgst, ErrDigestInvalid)
	}
	if u.Offset == 0 {
		// Make sure an empty upload has data to commit.
		if _, err := r.store.AppendUpload(ctx, u, bytes.NewReader(nil)); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("upload %s: %w", u.ID, err)
		}
	}
	if err := r.store.CommitUpload(ctx, u, dgst); err != nil {
		// A crash after the commit and before the link leaves the blob in
		// place and the session open; completing it again must succeed.
		info, serr := r.store.StatBlob(ctx, dgst)
		if serr != nil || info.Size != u.Offset {
			return ocispec.Descriptor{}, fmt.Errorf("upload %s: commit: %w", u.ID, err)
		}
	}
	link := storage.BlobLink{Digest: dgst, Size: u.Offset}
	if err := r.store.CompleteUpload(ctx, u.ID, link); err != nil {
		return ocispec.Descriptor{}, uploadErr(u.ID, err)
	}
	r.uploadLocks.Delete(u.ID)
	r.emit(ctx, Event{Kind: EventBlobUploaded, Repository: u.Repository, Digest: dgst.String(), Size: u.Offset})
	return ocispec.Descriptor{MediaType: "application/octet-stream", Digest: dgst, Size: u.Offset}, nil
}

// uploadDigest returns the digest of the upload's bytes in algorithm alg,
// from the saved hash state when it matches, else by reading the bytes again.
func (r *Registry) uploadDigest(ctx context.Context, u *storage.Upload, alg digest.Algorithm) (digest.Digest, error) {
	if u.Offset == 0 {
		return alg.FromBytes(nil), nil
	}
	if alg == u.Algorithm {
		h, err := unmarshalHash(u.Algorithm, u.HashState)
		if err != nil {
			return "", err
		}
		return digest.NewDigest(alg, h), nil
	}
	rc, err := r.store.ReadUpload(ctx, u)
	if err != nil {
		return "", fmt.Errorf("upload %s: read: %w", u.ID, err)
	}
	defer rc.Close()
	d, err := alg.FromReader(rc)
	if err != nil {
		return "", fmt.Errorf("upload %s: read: %w", u.ID, err)
	}
	return d, nil
}

func (r *Registry) getUpload(ctx context.Context, repo, id string) (storage.Upload, error) {
	if !validUploadID(id) {
		return storage.Upload{}, fmt.Errorf("upload %q: %w", truncate(id), ErrBlobUploadUnknown)
	}
	u, err := r.store.GetUpload(ctx, id)
	if err != nil {
		return storage.Upload{}, uploadErr(id, err)
	}
	if u.Repository != repo {
		return storage.Upload{}, fmt.Errorf("upload %s is not in %q: %w", id, repo, ErrBlobUploadUnknown)
	}
	return u, nil
}

func uploadErr(id string, err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("upload %s: %w", id, ErrBlobUploadUnknown)
	}
	return fmt.Errorf("upload %s: %w", id, err)
}

func (r *Registry) lockUpload(id string) func() {
	v, _ := r.uploadLocks.LoadOrStore(id, new(sync.Mutex))
	mu := v.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// ensureRepo makes sure repo exists, creating it when create-on-push is on.
func (r *Registry) ensureRepo(ctx context.Context, repo string) error {
	_, err := r.store.GetRepository(ctx, repo)
	if err == nil {
		return nil
	}
	if !errors.Is(err, storage.ErrNotFound) || !r.opts.createOnPush {
		return repoErr(repo, err)
	}
	err = r.store.CreateRepository(ctx, Repository{Name: repo, CreatedAt: r.now(), TagMutability: Mutable})
	if err != nil && !errors.Is(err, storage.ErrAlreadyExists) {
		return repoErr(repo, err)
	}
	if err == nil {
		r.emit(ctx, Event{Kind: EventRepositoryCreated, Repository: repo})
	}
	return nil
}

func validateDigest(d digest.Digest) error {
	_, err := ParseDigest(string(d))
	return err
}

// Upload IDs are 32 lowercase hex characters.
func newUploadID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func validUploadID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func marshalHash(h hash.Hash) ([]byte, error) {
	m, ok := h.(encoding.BinaryMarshaler)
	if !ok {
		return nil, fmt.Errorf("hash %T cannot save its state: %w", h, ErrUnsupported)
	}
	return m.MarshalBinary()
}

func unmarshalHash(alg digest.Algorithm, state []byte) (hash.Hash, error) {
	if !alg.Available() {
		return nil, fmt.Errorf("digest algorithm %q: %w", alg, ErrUnsupported)
	}
	h := alg.Hash()
	if len(state) == 0 {
		return h, nil
	}
	u, ok := h.(encoding.BinaryUnmarshaler)
	if !ok {
		return nil, fmt.Errorf("hash %T cannot restore its state: %w", h, ErrUnsupported)
	}
	if err := u.UnmarshalBinary(state); err != nil {
		return nil, fmt.Errorf("restore hash state: %w", err)
	}
	return h, nil
}
