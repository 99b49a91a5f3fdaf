package registry

import (
	"context"
	"errors"
	"fmt"
	"io"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/storage"
)

const blobMediaType = "application/octet-stream"

// StatBlob returns the descriptor of a blob readable from repo, or an error
// wrapping ErrBlobUnknown.
func (r *Registry) StatBlob(ctx context.Context, repo string, dgst digest.Digest) (ocispec.Descriptor, error) {
	if err := r.begin(ctx, policy.ActionBatchCheckLayerAvailability, repo, dgst.String()); err != nil {
		return ocispec.Descriptor{}, err
	}
	return r.statBlob(ctx, repo, dgst)
}

func (r *Registry) statBlob(ctx context.Context, repo string, dgst digest.Digest) (ocispec.Descriptor, error) {
	if err := validateDigest(dgst); err != nil {
		return ocispec.Descriptor{}, err
	}
	link, err := r.store.GetBlobLink(ctx, repo, dgst)
	if err != nil {
		return ocispec.Descriptor{}, blobErr(repo, dgst, err)
	}
	return ocispec.Descriptor{MediaType: blobMediaType, Digest: link.Digest, Size: link.Size}, nil
}

// OpenBlob opens a blob readable from repo. The reader is an *os.File for
// filesystem storage, so that http.ServeContent can use sendfile. The error
// wraps ErrBlobUnknown if repo cannot read the blob.
func (r *Registry) OpenBlob(ctx context.Context, repo string, dgst digest.Digest) (io.ReadSeekCloser, ocispec.Descriptor, error) {
	if err := r.begin(ctx, policy.ActionGetDownloadURLForLayer, repo, dgst.String()); err != nil {
		return nil, ocispec.Descriptor{}, err
	}
	desc, err := r.statBlob(ctx, repo, dgst)
	if err != nil {
		return nil, ocispec.Descriptor{}, err
	}
	rc, err := r.store.OpenBlob(ctx, dgst)
	if err != nil {
		return nil, ocispec.Descriptor{}, blobErr(repo, dgst, err)
	}
	return rc, desc, nil
}

// DeleteBlob makes a blob unreadable from repo. Its bytes stay until the
// garbage collector finds no repository or manifest using them. The error
// wraps ErrBlobUnknown if repo cannot read the blob.
func (r *Registry) DeleteBlob(ctx context.Context, repo string, dgst digest.Digest) error {
	if err := r.begin(ctx, policy.ActionBatchDeleteImage, repo, dgst.String()); err != nil {
		return err
	}
	if err := validateDigest(dgst); err != nil {
		return err
	}
	if err := r.store.UnlinkBlob(ctx, repo, dgst); err != nil {
		return blobErr(repo, dgst, err)
	}
	r.emit(ctx, Event{Kind: EventBlobDeleted, Repository: repo, Digest: dgst.String()})
	return nil
}

// MountBlob makes a blob that is readable from repository `from` readable
// from repo too, without copying bytes. The caller needs pull rights on from
// and push rights on repo. The error wraps ErrBlobUnknown if from cannot read
// the blob.
func (r *Registry) MountBlob(ctx context.Context, repo, from string, dgst digest.Digest) (ocispec.Descriptor, error) {
	if err := r.begin(ctx, policy.ActionInitiateLayerUpload, repo, dgst.String()); err != nil {
		return ocispec.Descriptor{}, err
	}
	for _, a := range []string{policy.ActionUploadLayerPart, policy.ActionCompleteLayerUpload} {
		if err := r.authorize(ctx, a, repo, dgst.String()); err != nil {
			return ocispec.Descriptor{}, err
		}
	}
	if err := ValidateName(from); err != nil {
		return ocispec.Descriptor{}, err
	}
	for _, a := range []string{policy.ActionBatchGetImage, policy.ActionGetDownloadURLForLayer} {
		if err := r.authorize(ctx, a, from, dgst.String()); err != nil {
			return ocispec.Descriptor{}, err
		}
	}
	desc, err := r.statBlob(ctx, from, dgst)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if err := r.ensureRepo(ctx, repo); err != nil {
		return ocispec.Descriptor{}, err
	}
	if err := r.store.LinkBlob(ctx, repo, storage.BlobLink{Digest: desc.Digest, Size: desc.Size}); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("mount %s into %q: %w", dgst, repo, err)
	}
	r.emit(ctx, Event{Kind: EventBlobMounted, Repository: repo, Digest: dgst.String(), Size: desc.Size})
	return desc, nil
}

func blobErr(repo string, dgst digest.Digest, err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("blob %s in %q: %w", dgst, repo, ErrBlobUnknown)
	}
	return fmt.Errorf("blob %s in %q: %w", dgst, repo, err)
}
