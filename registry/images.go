package registry

import (
	"context"
	"errors"
	"fmt"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/storage"
)

// Tag status filters, named as in ECR.
const (
	TagStatusTagged   = "TAGGED"
	TagStatusUntagged = "UNTAGGED"
	TagStatusAny      = "ANY"
)

// ImageID names an image by digest, tag, or both.
type ImageID struct {
	ImageDigest digest.Digest
	ImageTag    string
}

// ImageDetail describes an image as ECR's DescribeImages does.
type ImageDetail struct {
	RepositoryName string
	ImageDigest    digest.Digest
	ImageTags      []string
	// ImageSizeInBytes is the manifest, config and layers as stored; for an
	// index, the largest child image.
	ImageSizeInBytes       int64
	ImagePushedAt          time.Time
	LastRecordedPullTime   time.Time
	ImageManifestMediaType string
	// ArtifactMediaType is the config media type (ECR's artifactMediaType).
	ArtifactMediaType string
	// ArtifactType is the OCI 1.1 artifact type, if any.
	ArtifactType          string
	SubjectManifestDigest digest.Digest
	// ImageScanStatus and ImageScanFindingsSummary describe the image's
	// scan, in a registry with a Scanner; nil if it was never scanned.
	// The summary is set for COMPLETE scans.
	ImageScanStatus          *ImageScanStatus
	ImageScanFindingsSummary *ImageScanFindingsSummary
}

// ListImagesInput holds ListImages' arguments.
type ListImagesInput struct {
	Repository string
	// TagStatus is TAGGED, UNTAGGED or ANY (the default).
	TagStatus  string
	NextToken  string
	MaxResults int
}

// ListImagesOutput is one page of image ids: one entry per tag, and one
// digest-only entry per untagged image.
type ListImagesOutput struct {
	ImageIDs  []ImageID
	NextToken string
}

// ListImages lists a repository's images in digest order. MaxResults (1 to
// 1000, default 100) counts images; each contributes one id per tag.
func (r *Registry) ListImages(ctx context.Context, in ListImagesInput) (ListImagesOutput, error) {
	if err := r.begin(ctx, policy.ActionListImages, in.Repository, ""); err != nil {
		return ListImagesOutput{}, err
	}
	var out ListImagesOutput
	next, err := r.walkImages(ctx, in.Repository, in.TagStatus, in.NextToken, in.MaxResults, func(m storage.Manifest, tags []string) {
		if len(tags) == 0 {
			out.ImageIDs = append(out.ImageIDs, ImageID{ImageDigest: m.Digest})
		}
		for _, t := range tags {
			out.ImageIDs = append(out.ImageIDs, ImageID{ImageDigest: m.Digest, ImageTag: t})
		}
	})
	out.NextToken = next
	return out, err
}

// DescribeImagesInput holds DescribeImages' arguments: either ImageIDs, or
// a page given by TagStatus, NextToken and MaxResults.
type DescribeImagesInput struct {
	Repository string
	ImageIDs   []ImageID
	TagStatus  string
	NextToken  string
	MaxResults int
}

// DescribeImagesOutput is one page of image details.
type DescribeImagesOutput struct {
	ImageDetails []ImageDetail
	NextToken    string
}

// DescribeImages describes images by id, or a repository's images page by
// page in digest order. An unknown id fails with ErrManifestUnknown.
func (r *Registry) DescribeImages(ctx context.Context, in DescribeImagesInput) (DescribeImagesOutput, error) {
	if err := r.begin(ctx, policy.ActionDescribeImages, in.Repository, ""); err != nil {
		return DescribeImagesOutput{}, err
	}
	var out DescribeImagesOutput
	if len(in.ImageIDs) > 0 {
		if in.NextToken != "" {
			return out, fmt.Errorf("image ids and next token are exclusive: %w", ErrInvalidParameter)
		}
		if len(in.ImageIDs) > 100 {
			return out, fmt.Errorf("%d image ids, at most 100: %w", len(in.ImageIDs), ErrInvalidParameter)
		}
		if _, err := r.getRepo(ctx, in.Repository); err != nil {
			return out, err
		}
		for _, id := range in.ImageIDs {
			d, err := r.resolveID(ctx, in.Repository, id)
			if err != nil {
				return DescribeImagesOutput{}, err
			}
			m, err := r.store.GetManifest(ctx, in.Repository, d)
			if err != nil {
				return DescribeImagesOutput{}, r.manifestErr(ctx, in.Repository, Reference{Digest: d}, err)
			}
			tags, err := r.store.TagsOf(ctx, in.Repository, d)
			if err != nil {
				return DescribeImagesOutput{}, fmt.Errorf("tags of %s: %w", d, err)
			}
			r.withPendingPull(in.Repository, &m)
			out.ImageDetails = append(out.ImageDetails, detail(in.Repository, m, tags))
		}
		r.addScanSummaries(ctx, out.ImageDetails)
		return out, nil
	}
	next, err := r.walkImages(ctx, in.Repository, in.TagStatus, in.NextToken, in.MaxResults, func(m storage.Manifest, tags []string) {
		r.withPendingPull(in.Repository, &m)
		out.ImageDetails = append(out.ImageDetails, detail(in.Repository, m, tags))
	})
	out.NextToken = next
	r.addScanSummaries(ctx, out.ImageDetails)
	return out, err
}

func (r *Registry) resolveID(ctx context.Context, repo string, id ImageID) (digest.Digest, error) {
	switch {
	case id.ImageDigest == "" && id.ImageTag == "":
		return "", fmt.Errorf("image id needs a digest or a tag: %w", ErrInvalidParameter)
	case id.ImageTag == "":
		return id.ImageDigest, validateDigest(id.ImageDigest)
	}
	if err := ValidateTag(id.ImageTag); err != nil {
		return "", err
	}
	d, err := r.resolve(ctx, repo, Reference{Tag: id.ImageTag})
	if err != nil {
		return "", err
	}
	if id.ImageDigest != "" && id.ImageDigest != d {
		return "", fmt.Errorf("tag %q points at %s, not %s: %w", id.ImageTag, d, id.ImageDigest, ErrManifestUnknown)
	}
	return d, nil
}

func detail(repo string, m storage.Manifest, tags []string) ImageDetail {
	return ImageDetail{
		RepositoryName:         repo,
		ImageDigest:            m.Digest,
		ImageTags:              tags,
		ImageSizeInBytes:       m.ImageSize,
		ImagePushedAt:          m.PushedAt,
		LastRecordedPullTime:   m.LastPulledAt,
		ImageManifestMediaType: m.MediaType,
		ArtifactMediaType:      m.ConfigMediaType,
		ArtifactType:           m.ArtifactType,
		SubjectManifestDigest:  m.Subject,
	}
}

// walkImages pages through a repository's manifests with their tags.
func (r *Registry) walkImages(ctx context.Context, repo, tagStatus, token string, maxResults int, fn func(storage.Manifest, []string)) (string, error) {
	switch tagStatus {
	case "", TagStatusAny, TagStatusTagged, TagStatusUntagged:
	default:
		return "", fmt.Errorf("tag status %q: %w", truncate(tagStatus), ErrInvalidParameter)
	}
	n, err := pageSize(maxResults, 100, 1000)
	if err != nil {
		return "", err
	}
	after, err := decodeToken(token)
	if err != nil {
		return "", err
	}
	if _, err := r.getRepo(ctx, repo); err != nil {
		return "", err
	}
	count := 0
	var last digest.Digest
	next := ""
	err = r.store.WalkManifests(ctx, repo, digest.Digest(after), func(m storage.Manifest) error {
		if count == n {
			next = encodeToken(last.String())
			return storage.SkipAll
		}
		last = m.Digest
		tags, err := r.store.TagsOf(ctx, repo, m.Digest)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		switch {
		case tagStatus == TagStatusTagged && len(tags) == 0,
			tagStatus == TagStatusUntagged && len(tags) > 0:
			return nil
		}
		count++
		fn(m, tags)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("list images of %q: %w", repo, err)
	}
	return next, nil
}

// ImageFailure reports why one image of a batch could not be deleted.
type ImageFailure struct {
	ImageID ImageID
	// FailureCode is ECR's: InvalidImageDigest, InvalidImageTag,
	// ImageNotFound, MissingDigestAndTag.
	FailureCode   string
	FailureReason string
}

// BatchDeleteImage deletes images by digest (with their tags) or tags (the
// tag only), reporting per-image failures instead of failing the batch.
func (r *Registry) BatchDeleteImage(ctx context.Context, repo string, ids []ImageID) (deleted []ImageID, failures []ImageFailure, err error) {
	if err := r.begin(ctx, policy.ActionBatchDeleteImage, repo, ""); err != nil {
		return nil, nil, err
	}
	if len(ids) == 0 || len(ids) > 100 {
		return nil, nil, fmt.Errorf("%d image ids, must be 1 to 100: %w", len(ids), ErrInvalidParameter)
	}
	if _, err := r.getRepo(ctx, repo); err != nil {
		return nil, nil, err
	}
	for _, id := range ids {
		ref := id.ImageTag
		if ref == "" {
			ref = id.ImageDigest.String()
		}
		var code string
		switch {
		case id.ImageTag == "" && id.ImageDigest == "":
			code = "MissingDigestAndTag"
		case id.ImageTag != "" && ValidateTag(id.ImageTag) != nil:
			code = "InvalidImageTag"
		case id.ImageTag == "" && validateDigest(id.ImageDigest) != nil:
			code = "InvalidImageDigest"
		}
		if code == "" && id.ImageTag != "" && id.ImageDigest != "" {
			if d, err := r.store.ResolveTag(ctx, repo, id.ImageTag); err == nil && d != id.ImageDigest {
				code = "ImageTagDoesNotMatchDigest"
			}
		}
		if code == "" {
			if err := r.DeleteImage(ctx, repo, ref); err != nil {
				if !errors.Is(err, ErrManifestUnknown) {
					return deleted, failures, err
				}
				code = "ImageNotFound"
			}
		}
		if code != "" {
			failures = append(failures, ImageFailure{ImageID: id, FailureCode: code, FailureReason: code})
			continue
		}
		deleted = append(deleted, id)
	}
	return deleted, failures, nil
}
