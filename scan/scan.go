package scan

import (
	"context"
	"io"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Severity levels, named as in ECR's findings.
const (
	SeverityInformational = "INFORMATIONAL"
	SeverityLow           = "LOW"
	SeverityMedium        = "MEDIUM"
	SeverityHigh          = "HIGH"
	SeverityCritical      = "CRITICAL"
	SeverityUndefined     = "UNDEFINED"
)

// Scan statuses, named as in ECR.
const (
	StatusInProgress       = "IN_PROGRESS"
	StatusComplete         = "COMPLETE"
	StatusFailed           = "FAILED"
	StatusUnsupportedImage = "UNSUPPORTED_IMAGE"
)

// ContentReader gives a scanner read access to one repository's content.
type ContentReader interface {
	// OpenBlob opens a blob of the repository.
	OpenBlob(ctx context.Context, dgst digest.Digest) (io.ReadCloser, error)
	// ReadManifest returns a manifest's bytes and media type.
	ReadManifest(ctx context.Context, dgst digest.Digest) ([]byte, string, error)
}

// Request asks for a scan of one image.
type Request struct {
	Repository string
	Manifest   ocispec.Descriptor
	Content    ContentReader
}

// Finding is one vulnerability found in an image.
type Finding struct {
	ID               string `json:"name"`
	Severity         string `json:"severity"`
	Package          string `json:"package,omitempty"`
	InstalledVersion string `json:"installedVersion,omitempty"`
	FixedVersion     string `json:"fixedVersion,omitempty"`
	Description      string `json:"description,omitempty"`
}

// Report is the outcome of a scan.
type Report struct {
	Status         string         `json:"status"`
	CompletedAt    time.Time      `json:"completedAt"`
	Findings       []Finding      `json:"findings,omitempty"`
	SeverityCounts map[string]int `json:"findingSeverityCounts,omitempty"`
}

// Scanner scans images. Implementations must be safe for concurrent use.
type Scanner interface {
	Scan(ctx context.Context, req Request) (Report, error)
}
