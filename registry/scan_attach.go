package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/scan"
	"github.com/berth-dev/berth/scan/sbom"
	"github.com/berth-dev/berth/storage"
)

// Scan attachments: when a scan completes, the registry attaches an SPDX
// SBOM of the image (from the scanner's inventory) and the scan report to
// the image as OCI referrers, so that `oras discover` and any OCI 1.1
// client find them next to the image. They are untagged artifacts in the
// image's repository, marked with the annotation sbom.AnnotationCreatedBy
// = "berth-scan"; a new scan replaces the previous ones, and they go when
// the image goes (referrers are removed with their subject). They are
// written by the registry itself, so they need no principal, and their own
// push events reach listeners (a scanner reports them UNSUPPORTED_IMAGE).

// createdByScan is the value of sbom.AnnotationCreatedBy on attachments.
const createdByScan = "berth-scan"

// isScanAttachment reports whether m is one of the registry's own SBOM or
// report attachments: an artifact (empty config) of one of their types,
// with the annotation. The annotation alone is not enough, so that an
// image pushed with it is still scanned, and never replaced.
func isScanAttachment(m storage.Manifest) bool {
	return m.Annotations[sbom.AnnotationCreatedBy] == createdByScan &&
		m.ConfigMediaType == ocispec.MediaTypeEmptyJSON &&
		(m.ArtifactType == sbom.ArtifactTypeSPDX || m.ArtifactType == sbom.ArtifactTypeScanReport)
}

// WithScanAttachments turns the attachment of SBOMs and scan reports to
// scanned images on or off. The default is on.
func WithScanAttachments(on bool) Option {
	return func(o *options) error {
		o.noScanAttachments = !on
		return nil
	}
}

// attachKey marks the context of the registry's own attachment pushes, so
// that their push events do not queue scans.
type attachKey struct{}

// attach stores the SBOM and the report of a completed scan as referrers
// of the image, then removes the attachments of earlier scans.
func (s *scanService) attach(ctx context.Context, repo string, subject storage.Manifest, rep *scan.Report) error {
	r := s.r
	if r.opts.noScanAttachments || rep.Status != scan.StatusComplete {
		return nil
	}
	created := rep.CompletedAt
	if created.IsZero() {
		created = r.now()
	}
	ctx = context.WithValue(ctx, attachKey{}, true)
	subj := describe(subject)
	ann := map[string]string{
		sbom.AnnotationCreatedBy:  createdByScan,
		ocispec.AnnotationCreated: created.UTC().Format(time.RFC3339),
	}
	type artifact struct {
		manifest []byte
		blobs    []sbom.Blob
	}
	var arts []artifact
	if rep.Inventory != nil {
		spdx, err := sbom.SPDX(sbom.Image{Repository: repo, Digest: subject.Digest}, *rep.Inventory, sbom.Options{Created: created})
		if err != nil {
			return fmt.Errorf("SBOM: %w", err)
		}
		m, blobs, err := sbom.Artifact(subj, sbom.ArtifactTypeSPDX, sbom.ArtifactTypeSPDX, spdx, ann)
		if err != nil {
			return fmt.Errorf("SBOM artifact: %w", err)
		}
		arts = append(arts, artifact{m, blobs})
	}
	report := *rep
	report.Inventory = nil // in the SBOM
	m, blobs, err := sbom.ReportArtifact(subj, report, ann)
	if err != nil {
		return fmt.Errorf("report artifact: %w", err)
	}
	arts = append(arts, artifact{m, blobs})

	keep := make([]digest.Digest, 0, len(arts))
	for _, a := range arts {
		for _, b := range a.blobs {
			if _, err := r.store.GetBlobLink(ctx, repo, b.Descriptor.Digest); err == nil {
				continue
			}
			if _, err := r.pushBlob(ctx, repo, b.Descriptor.Digest, bytes.NewReader(b.Data)); err != nil {
				return fmt.Errorf("attachment blob: %w", err)
			}
		}
		img, err := r.putImage(ctx, PutImageInput{Repository: repo, Manifest: a.manifest, MediaType: ocispec.MediaTypeImageManifest})
		if err != nil {
			return fmt.Errorf("attachment manifest: %w", err)
		}
		keep = append(keep, img.Descriptor.Digest)
	}

	// Earlier scans' attachments.
	var stale []digest.Digest
	err = r.store.WalkReferrers(ctx, repo, subject.Digest, func(m storage.Manifest) error {
		if isScanAttachment(m) && !slices.Contains(keep, m.Digest) {
			stale = append(stale, m.Digest)
		}
		return nil
	})
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	for _, d := range stale {
		if err := r.store.DeleteManifest(ctx, repo, d); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("remove earlier attachment %s: %w", d, err)
		}
		s.dropReport(ctx, scanKey(repo, d))
		r.emit(ctx, Event{Kind: EventManifestDeleted, Repository: repo, Digest: d.String()})
	}
	return nil
}
