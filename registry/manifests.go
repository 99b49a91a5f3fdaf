package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/storage"
)

// MaxTagsPerImage caps the tags one push may set, as ECR caps tags per
// image.
const MaxTagsPerImage = 1000

// Image is a manifest in a repository.
type Image struct {
	Repository string
	// Descriptor has the manifest's media type, digest, size, artifact type
	// and annotations.
	Descriptor ocispec.Descriptor
	// Manifest is the manifest's bytes, exactly as pushed. Empty from
	// StatImage.
	Manifest []byte
	// Subject is the digest of the manifest this one refers to, if any.
	Subject digest.Digest
}

// PutImageInput holds PutImage's arguments.
type PutImageInput struct {
	Repository string
	// Manifest is the manifest's bytes.
	Manifest []byte
	// MediaType is the declared media type (the HTTP Content-Type). It may
	// be empty when the manifest has a mediaType field.
	MediaType string
	// Tag, if set, is pointed at the manifest.
	Tag string
	// Tags are more tags to point at the manifest.
	Tags []string
	// Digest, if set, must be the manifest's digest; its algorithm is used
	// to compute the digest (sha256 otherwise).
	Digest digest.Digest
}

// PutImage stores a manifest and points its tags at it, in one transaction
// (ECR's PutImage). Errors wrap ErrManifestInvalid, ErrManifestTooLarge,
// ErrDigestInvalid, ErrTagInvalid, ErrManifestBlobUnknown (a config, layer
// or child manifest is not in the repository), ErrTagImmutable or
// ErrNameUnknown (the repository does not exist and create-on-push is off).
func (r *Registry) PutImage(ctx context.Context, in PutImageInput) (Image, error) {
	ref := in.Tag
	if ref == "" && in.Digest != "" {
		ref = in.Digest.String()
	}
	if err := r.begin(ctx, policy.ActionPutImage, in.Repository, ref); err != nil {
		return Image{}, err
	}
	return r.putImage(ctx, in)
}

// putImage is PutImage after authorization: the registry's own writes
// (scan attachments) come through here.
func (r *Registry) putImage(ctx context.Context, in PutImageInput) (Image, error) {
	if int64(len(in.Manifest)) > r.opts.maxManifestSize {
		return Image{}, fmt.Errorf("manifest of %d bytes, at most %d: %w", len(in.Manifest), r.opts.maxManifestSize, ErrManifestTooLarge)
	}
	if len(in.Tags) >= MaxTagsPerImage {
		return Image{}, fmt.Errorf("%d tags in one push, at most %d: %w", len(in.Tags)+1, MaxTagsPerImage, ErrInvalidParameter)
	}
	tags := make([]string, 0, 1+len(in.Tags))
	if in.Tag != "" {
		tags = append(tags, in.Tag)
	}
	tags = append(tags, in.Tags...)
	for _, t := range tags {
		if err := ValidateTag(t); err != nil {
			return Image{}, err
		}
	}
	slices.Sort(tags)
	tags = slices.Compact(tags)

	alg := digest.Canonical
	if in.Digest != "" {
		if err := validateDigest(in.Digest); err != nil {
			return Image{}, err
		}
		alg = in.Digest.Algorithm()
	}
	dgst := alg.FromBytes(in.Manifest)
	if in.Digest != "" && dgst != in.Digest {
		return Image{}, fmt.Errorf("manifest has digest %s, not %s: %w", dgst, in.Digest, ErrDigestInvalid)
	}
	pm, err := ParseManifest(in.MediaType, in.Manifest)
	if err != nil {
		return Image{}, err
	}

	repo, err := r.store.GetRepository(ctx, in.Repository)
	var create *storage.Repository
	switch {
	case err == nil:
	case errors.Is(err, storage.ErrNotFound) && r.opts.createOnPush:
		repo = Repository{Name: in.Repository, CreatedAt: r.now(), TagMutability: Mutable}
		create = &repo
	default:
		return Image{}, repoErr(in.Repository, err)
	}

	if pm.Config != nil && pm.Config.Digest == ocispec.DescriptorEmptyJSON.Digest && pm.Config.Size == int64(len(emptyJSON)) {
		// The OCI empty config is well known; make sure it can be pulled
		// even if the client never pushed it.
		if err := r.ensureEmptyBlob(ctx, in.Repository, create != nil); err != nil {
			return Image{}, err
		}
	}

	imageSize, err := r.imageSize(ctx, in.Repository, pm, int64(len(in.Manifest)))
	if err != nil {
		return Image{}, err
	}
	rec := storage.Manifest{
		Digest:       dgst,
		MediaType:    pm.MediaType,
		ArtifactType: pm.ArtifactType,
		Size:         int64(len(in.Manifest)),
		ImageSize:    imageSize,
		Annotations:  pm.Annotations,
		Blobs:        pm.requiredBlobs(),
		Manifests:    pm.requiredManifests(),
		PushedAt:     r.now(),
		Payload:      in.Manifest,
	}
	if pm.Config != nil {
		rec.ConfigMediaType = pm.Config.MediaType
	}
	if pm.Subject != nil {
		rec.Subject = pm.Subject.Digest
	}
	req := storage.PutManifestRequest{
		Repository:       in.Repository,
		Manifest:         rec,
		Tags:             tags,
		CreateRepository: create,
		CheckTag: func(tag string, current digest.Digest) error {
			if current != dgst && tagImmutable(repo, tag) {
				return fmt.Errorf("the image tag %q already exists in %q and cannot be overwritten because the tag is immutable: %w", tag, in.Repository, ErrTagImmutable)
			}
			return nil
		},
	}
	if err := r.store.PutManifest(ctx, req); err != nil {
		switch {
		case errors.Is(err, ErrTagImmutable):
			return Image{}, err
		case errors.Is(err, storage.ErrMissingReference):
			return Image{}, fmt.Errorf("manifest %s: %v: %w", dgst, err, ErrManifestBlobUnknown)
		default:
			return Image{}, repoErr(in.Repository, err)
		}
	}
	if create != nil {
		r.emit(ctx, Event{Kind: EventRepositoryCreated, Repository: in.Repository})
	}
	img := Image{
		Repository: in.Repository,
		Descriptor: describe(rec),
		Subject:    rec.Subject,
	}
	r.emit(ctx, Event{Kind: EventManifestPushed, Repository: in.Repository, Digest: dgst.String(), Tags: tags, MediaType: rec.MediaType, Size: rec.Size})
	return img, nil
}

// ensureEmptyBlob links the OCI empty JSON blob into repo, storing it first
// if no repository has it.
func (r *Registry) ensureEmptyBlob(ctx context.Context, repo string, creating bool) error {
	d := ocispec.DescriptorEmptyJSON.Digest
	if !creating {
		if _, err := r.store.GetBlobLink(ctx, repo, d); err == nil {
			return nil
		}
	}
	if _, err := r.store.StatBlob(ctx, d); err == nil {
		if err := r.ensureRepo(ctx, repo); err != nil {
			return err
		}
		if err := r.store.LinkBlob(ctx, repo, storage.BlobLink{Digest: d, Size: int64(len(emptyJSON))}); err != nil {
			return fmt.Errorf("link empty config into %q: %w", repo, err)
		}
		return nil
	}
	u, err := r.startUpload(ctx, repo, d.Algorithm())
	if err != nil {
		return err
	}
	if err := r.appendUpload(ctx, &u, bytes.NewReader(emptyJSON)); err != nil {
		r.discardUpload(ctx, &u)
		return err
	}
	if _, err := r.commitUpload(ctx, &u, d); err != nil {
		r.discardUpload(ctx, &u)
		return err
	}
	return nil
}

// imageSize computes ECR's imageSizeInBytes: for an image, the manifest,
// config and layers; for an index, the largest child.
func (r *Registry) imageSize(ctx context.Context, repo string, pm *ParsedManifest, manifestSize int64) (int64, error) {
	if !pm.IsIndex() {
		size := manifestSize
		if pm.Config != nil {
			size += pm.Config.Size
		}
		for _, l := range pm.Layers {
			size += l.Size
		}
		return size, nil
	}
	var best int64
	for _, c := range pm.Manifests {
		m, err := r.store.GetManifest(ctx, repo, c.Digest)
		if err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return 0, fmt.Errorf("child manifest %s is not in %q: %w", c.Digest, repo, ErrManifestBlobUnknown)
			}
			return 0, fmt.Errorf("child manifest %s: %w", c.Digest, err)
		}
		best = max(best, m.ImageSize)
	}
	return best, nil
}

func describe(m storage.Manifest) ocispec.Descriptor {
	return ocispec.Descriptor{
		MediaType:    m.MediaType,
		Digest:       m.Digest,
		Size:         m.Size,
		ArtifactType: m.ArtifactType,
		Annotations:  maps.Clone(m.Annotations),
	}
}

// GetImage returns a manifest by tag or digest (ECR's BatchGetImage for one
// image) and records the pull. The error wraps ErrManifestUnknown,
// ErrNameUnknown, ErrTagInvalid or ErrDigestInvalid, or ErrImagePullDenied
// if a ScanGate denies the pull.
func (r *Registry) GetImage(ctx context.Context, repo, reference string) (Image, error) {
	img, rec, err := r.getImage(ctx, repo, reference, true)
	if err != nil {
		return Image{}, err
	}
	if err := r.checkPullGate(ctx, repo, reference, rec); err != nil {
		return Image{}, err
	}
	// The payload may be the store's cached copy (ManifestResolver);
	// the caller owns what it gets.
	img.Manifest = bytes.Clone(rec.Payload)
	r.recordPull(ctx, repo, rec.Digest)
	return img, nil
}

// StatImage is GetImage without the manifest bytes and without recording a
// pull (an HTTP HEAD).
func (r *Registry) StatImage(ctx context.Context, repo, reference string) (Image, error) {
	img, _, err := r.getImage(ctx, repo, reference, false)
	return img, err
}

// getImage reads a manifest by reference, with its payload if payload is
// set. Through storage.ManifestResolver, when the store has it, that is one
// call (often a cache hit); otherwise ResolveTag and GetManifest. The
// record may share memory with the store: callers copy what they hand out.
func (r *Registry) getImage(ctx context.Context, repo, reference string, payload bool) (Image, storage.Manifest, error) {
	if err := r.begin(ctx, policy.ActionBatchGetImage, repo, reference); err != nil {
		return Image{}, storage.Manifest{}, err
	}
	ref, err := ParseReference(reference)
	if err != nil {
		return Image{}, storage.Manifest{}, err
	}
	var rec storage.Manifest
	if mr, ok := r.store.(storage.ManifestResolver); ok {
		rec, err = mr.ResolveManifest(ctx, repo, ref.Tag, ref.Digest, payload)
	} else {
		var dgst digest.Digest
		if dgst, err = r.resolve(ctx, repo, ref); err != nil {
			return Image{}, storage.Manifest{}, err
		}
		rec, err = r.store.GetManifest(ctx, repo, dgst)
	}
	if err != nil {
		return Image{}, storage.Manifest{}, r.manifestErr(ctx, repo, ref, err)
	}
	return Image{Repository: repo, Descriptor: describe(rec), Subject: rec.Subject}, rec, nil
}

func (r *Registry) resolve(ctx context.Context, repo string, ref Reference) (digest.Digest, error) {
	if ref.Digest != "" {
		return ref.Digest, nil
	}
	d, err := r.store.ResolveTag(ctx, repo, ref.Tag)
	if err != nil {
		return "", r.manifestErr(ctx, repo, ref, err)
	}
	return d, nil
}

// manifestErr translates a storage error for a manifest, telling an unknown
// repository from an unknown manifest.
func (r *Registry) manifestErr(ctx context.Context, repo string, ref Reference, err error) error {
	if !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("manifest %s in %q: %w", ref, repo, err)
	}
	if _, rerr := r.store.GetRepository(ctx, repo); errors.Is(rerr, storage.ErrNotFound) {
		return fmt.Errorf("the repository with name %q does not exist: %w", repo, ErrNameUnknown)
	}
	return fmt.Errorf("manifest %s in %q: %w", ref, repo, ErrManifestUnknown)
}

// DeleteImage deletes a manifest by digest, with every tag pointing at it,
// or, given a tag, deletes only the tag. The error wraps ErrManifestUnknown
// or ErrNameUnknown.
func (r *Registry) DeleteImage(ctx context.Context, repo, reference string) error {
	if err := r.begin(ctx, policy.ActionBatchDeleteImage, repo, reference); err != nil {
		return err
	}
	ref, err := ParseReference(reference)
	if err != nil {
		return err
	}
	if ref.Tag != "" {
		if err := r.store.DeleteTag(ctx, repo, ref.Tag); err != nil {
			return r.manifestErr(ctx, repo, ref, err)
		}
		r.emit(ctx, Event{Kind: EventTagDeleted, Repository: repo, Tags: []string{ref.Tag}})
		return nil
	}
	tags, _ := r.store.TagsOf(ctx, repo, ref.Digest)
	if err := r.store.DeleteManifest(ctx, repo, ref.Digest); err != nil {
		return r.manifestErr(ctx, repo, ref, err)
	}
	r.forgetPull(repo, ref.Digest)
	r.emit(ctx, Event{Kind: EventManifestDeleted, Repository: repo, Digest: ref.Digest.String(), Tags: tags})
	return nil
}

// ListTags returns up to n tags of repo that sort after last, in lexical
// order, and whether more follow. n <= 0 or above MaxPageSize means
// MaxPageSize. The error wraps ErrNameUnknown.
func (r *Registry) ListTags(ctx context.Context, repo, last string, n int) (tags []string, more bool, err error) {
	if err := r.begin(ctx, policy.ActionListImages, repo, ""); err != nil {
		return nil, false, err
	}
	if _, err := r.getRepo(ctx, repo); err != nil {
		return nil, false, err
	}
	if n <= 0 || n > r.opts.maxPageSize {
		n = r.opts.maxPageSize
	}
	tags = make([]string, 0, min(n, 256))
	err = r.store.WalkTags(ctx, repo, last, func(tag string, _ digest.Digest) error {
		if len(tags) == n {
			more = true
			return storage.SkipAll
		}
		tags = append(tags, tag)
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("list tags of %q: %w", repo, err)
	}
	return tags, more, nil
}

// Referrers returns the descriptors of the manifests in repo whose subject
// is subject, optionally only those of one artifact type, in digest order.
// An unknown subject has no referrers.
func (r *Registry) Referrers(ctx context.Context, repo string, subject digest.Digest, artifactType string) ([]ocispec.Descriptor, error) {
	if err := r.begin(ctx, policy.ActionListImageReferrers, repo, subject.String()); err != nil {
		return nil, err
	}
	if err := validateDigest(subject); err != nil {
		return nil, err
	}
	out := []ocispec.Descriptor{}
	err := r.store.WalkReferrers(ctx, repo, subject, func(m storage.Manifest) error {
		if artifactType != "" && m.ArtifactType != artifactType {
			return nil
		}
		out = append(out, describe(m))
		return nil
	})
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("referrers of %s in %q: %w", subject, repo, err)
	}
	return out, nil
}
