package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/scan"
	"github.com/berth-dev/berth/storage"
)

// ScanGate decides whether an image may be pulled, given its scan results.
// A Registry with a gate (WithScanGate) asks it on every manifest GET
// (GetImage), after authorization; HEAD requests (StatImage) and blob
// reads are not gated. Implementations must be safe for concurrent use
// and fast: they run on the pull path. Package policy/rego has one that
// evaluates Rego modules (rego.Gate).
type ScanGate interface {
	// AllowPull returns Allow false, with reasons, to deny the pull. An
	// error fails the pull (it is not a denial).
	AllowPull(ctx context.Context, in GateInput) (policy.Decision, error)
}

// ScanGateFunc adapts a function to ScanGate.
type ScanGateFunc func(ctx context.Context, in GateInput) (policy.Decision, error)

// AllowPull calls f.
func (f ScanGateFunc) AllowPull(ctx context.Context, in GateInput) (policy.Decision, error) {
	return f(ctx, in)
}

// GateInput is what a ScanGate decides on. Its JSON form is what Rego
// gates see as input.
type GateInput struct {
	// Principal is the caller, nil if anonymous.
	Principal  *policy.Principal `json:"principal,omitempty"`
	Repository string            `json:"repository"`
	// Reference is the tag or digest the pull names.
	Reference string `json:"reference"`
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType"`
	// ArtifactType is the manifest's artifact type or config media type.
	ArtifactType string `json:"artifactType,omitempty"`
	// ScanStatus is the image's scan status (a scan.Status constant), or
	// "" if it was never scanned.
	ScanStatus string `json:"scanStatus"`
	// ScanDescription says why a scan is FAILED, UNSUPPORTED_IMAGE or
	// deferred.
	ScanDescription string `json:"scanDescription,omitempty"`
	// ScanCompletedAt and DatabaseVersion are those of the last completed
	// scan.
	ScanCompletedAt time.Time `json:"scanCompletedAt,omitzero"`
	DatabaseVersion string    `json:"databaseVersion,omitempty"`
	// FindingSeverityCounts and Findings are those of the last completed
	// scan, also while a new scan is PENDING or IN_PROGRESS. Every
	// severity constant is present in the counts, zero if there is no
	// finding of it. Findings are shared with the registry's cache: gates
	// must not modify them.
	FindingSeverityCounts map[string]int `json:"findingSeverityCounts"`
	Findings              []scan.Finding `json:"findings"`
}

// WithScanGate sets a gate that may deny pulls of images by their scan
// results. The default is none: pulls are not gated.
func WithScanGate(g ScanGate) Option {
	return func(o *options) error {
		if g == nil {
			return errors.New("registry: nil ScanGate")
		}
		o.scanGate = g
		return nil
	}
}

// checkPullGate asks the scan gate, if any, about a pull. A denial wraps
// ErrImagePullDenied (and so ErrDenied).
func (r *Registry) checkPullGate(ctx context.Context, repo, reference string, rec storage.Manifest) error {
	g := r.opts.scanGate
	if g == nil {
		return nil
	}
	in := GateInput{
		Principal:    policy.PrincipalFrom(ctx),
		Repository:   repo,
		Reference:    reference,
		Digest:       rec.Digest.String(),
		MediaType:    rec.MediaType,
		ArtifactType: rec.ArtifactType,
		Findings:     []scan.Finding{},
	}
	if in.ArtifactType == "" {
		in.ArtifactType = rec.ConfigMediaType
	}
	key := scanKey(repo, rec.Digest)
	c, err := r.scans.cachedReport(ctx, key)
	if err != nil {
		return fmt.Errorf("scan gate: read report of %s: %w", key, err)
	}
	if c.head != nil {
		in.ScanStatus, in.ScanDescription = c.head.Status, c.head.Description
	}
	if rep := c.rep; rep != nil && rep.Status == scan.StatusComplete {
		in.ScanCompletedAt, in.DatabaseVersion = rep.CompletedAt, rep.DatabaseVersion
		in.FindingSeverityCounts = rep.SeverityCounts
		if rep.Findings != nil {
			in.Findings = rep.Findings
		}
	}
	if st := r.scans.pendingStatus(key); st != "" {
		in.ScanStatus, in.ScanDescription = st, ""
	}
	counts := make(map[string]int, len(severityRank))
	for sev := range severityRank {
		counts[sev] = in.FindingSeverityCounts[sev]
	}
	in.FindingSeverityCounts = counts
	d, err := g.AllowPull(ctx, in)
	if err != nil {
		return fmt.Errorf("scan gate for %s: %w", key, err)
	}
	if !d.Allow {
		reason := "denied"
		if len(d.Reasons) > 0 {
			reason = strings.Join(d.Reasons, "; ")
		}
		return fmt.Errorf("pull of %s: %s: %w", key, reason, ErrImagePullDenied)
	}
	return nil
}
