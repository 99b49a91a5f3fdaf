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

// Scan statuses, named as in ECR's imageScanStatus.
const (
	StatusPending                = "PENDING"
	StatusInProgress             = "IN_PROGRESS"
	StatusComplete               = "COMPLETE"
	StatusFailed                 = "FAILED"
	StatusUnsupportedImage       = "UNSUPPORTED_IMAGE"
	StatusActive                 = "ACTIVE"
	StatusScanEligibilityExpired = "SCAN_ELIGIBILITY_EXPIRED"
	StatusFindingsUnavailable    = "FINDINGS_UNAVAILABLE"
	StatusLimitExceeded          = "LIMIT_EXCEEDED"
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

// Package is one installed package found in an image.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Ecosystem is the OSV ecosystem name ("Debian:12", "Alpine:v3.19",
	// "Go", "PyPI", "npm"), empty when unknown.
	Ecosystem string `json:"ecosystem,omitempty"`
	// PackageManager says where the package was found: "dpkg", "apk",
	// "go", "python", "npm".
	PackageManager string `json:"packageManager,omitempty"`
	SourceName     string `json:"sourceName,omitempty"`
	SourceVersion  string `json:"sourceVersion,omitempty"`
	Arch           string `json:"arch,omitempty"`
	GOOS           string `json:"goos,omitempty"`
	// Path is the file the package was read from (a package database, a
	// binary, a metadata file), without a leading slash.
	Path string `json:"path,omitempty"`
	// Layer is the layer that introduced the package in its final form.
	Layer digest.Digest `json:"layer,omitempty"`
}

// OS identifies an image's operating system, from etc/os-release.
type OS struct {
	ID        string `json:"id"`
	VersionID string `json:"versionId,omitempty"`
	Codename  string `json:"codename,omitempty"`
	Name      string `json:"name,omitempty"`
}

// Inventory is the package list of an image. Reports carry it so that
// continuous scanning can match it again when the vulnerability data
// changes, without reading layers.
type Inventory struct {
	OS       *OS       `json:"os,omitempty"`
	Packages []Package `json:"packages"`
}

// CVSS is one CVSS rating of a vulnerability.
type CVSS struct {
	Version string  `json:"version"` // "2.0", "3.0", "3.1", "4.0"
	Vector  string  `json:"scoringVector"`
	Score   float64 `json:"baseScore"`
	Source  string  `json:"source,omitempty"`
}

// Finding is one vulnerability found in one package of an image.
type Finding struct {
	// ID is the vulnerability's identifier in the data it came from
	// (CVE-…, GO-…, DSA-…).
	ID          string   `json:"name"`
	Aliases     []string `json:"aliases,omitempty"`
	Description string   `json:"description,omitempty"`
	// URI is the advisory's primary link; References lists all of them.
	URI        string   `json:"uri,omitempty"`
	References []string `json:"referenceUrls,omitempty"`
	Severity   string   `json:"severity"`
	// CVSS is the rating the severity was taken from, if any.
	CVSS *CVSS `json:"cvss,omitempty"`

	Package          string        `json:"package,omitempty"`
	InstalledVersion string        `json:"installedVersion,omitempty"`
	FixedVersion     string        `json:"fixedVersion,omitempty"`
	SourcePackage    string        `json:"sourcePackage,omitempty"`
	PackageManager   string        `json:"packageManager,omitempty"`
	Ecosystem        string        `json:"ecosystem,omitempty"`
	Path             string        `json:"filePath,omitempty"`
	Layer            digest.Digest `json:"sourceLayerHash,omitempty"`
}

// Report is the outcome of a scan.
type Report struct {
	Status string `json:"status"`
	// Description says why a scan is FAILED or UNSUPPORTED_IMAGE.
	Description string    `json:"description,omitempty"`
	CompletedAt time.Time `json:"completedAt"`
	// DatabaseVersion identifies the vulnerability data the findings were
	// matched against.
	DatabaseVersion string         `json:"vulnerabilitySourceUpdatedAt,omitempty"`
	Inventory       *Inventory     `json:"inventory,omitempty"`
	Findings        []Finding      `json:"findings,omitempty"`
	SeverityCounts  map[string]int `json:"findingSeverityCounts,omitempty"`
}

// CountSeverities returns the number of findings per severity.
func CountSeverities(findings []Finding) map[string]int {
	if len(findings) == 0 {
		return nil
	}
	m := make(map[string]int)
	for _, f := range findings {
		s := f.Severity
		if s == "" {
			s = SeverityUndefined
		}
		m[s]++
	}
	return m
}

// Scanner scans images. Implementations must be safe for concurrent use.
//
// A scanner reports an image it cannot scan (not an image, an unknown
// layer format, hostile content) as a Report with status FAILED or
// UNSUPPORTED_IMAGE and a Description; an error means the scan could not
// run (for example the context ended) and may be retried.
type Scanner interface {
	Scan(ctx context.Context, req Request) (Report, error)
}

// Rematcher is an optional extension of Scanner: it matches a stored
// inventory against the current vulnerability data without reading layers.
// Continuous scanning uses it.
type Rematcher interface {
	Rematch(ctx context.Context, inv Inventory) (Report, error)
}

// DatabaseVersioner is an optional extension of Scanner: it reports the
// version of its vulnerability data, so that continuous scanning knows when
// stored reports are out of date.
type DatabaseVersioner interface {
	DatabaseVersion() string
}
