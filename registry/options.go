package registry

import (
	"errors"
	"log/slog"
	"time"

	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/replication"
	"github.com/berth-dev/berth/scan"
)

// Default limits.
const (
	// DefaultMaxManifestSize is the largest manifest accepted: 4 MiB, as in
	// ECR and the distribution reference server.
	DefaultMaxManifestSize = 4 << 20
	// DefaultMaxBlobSize is the largest blob accepted: 52,000 MiB, ECR's
	// layer size limit.
	DefaultMaxBlobSize = 52000 << 20
	// DefaultPullRecordInterval is how often at most a pull of the same
	// image is written to storage.
	DefaultPullRecordInterval = time.Hour
	// DefaultMaxPageSize caps n in listings, and is the page size of a
	// listing without n: 10,000 names, so that most repositories list
	// their tags in one request. A page is then at most about 1.3 MB of
	// JSON for tags (128 bytes at most each), 2.6 MB for a catalog page.
	DefaultMaxPageSize = 10000
)

type options struct {
	authorizer         policy.Authorizer
	scanner            scan.Scanner
	replicator         replication.Replicator
	listeners          []Listener
	logger             *slog.Logger
	now                func() time.Time
	createOnPush       bool
	maxManifestSize    int64
	maxBlobSize        int64
	pullRecordInterval time.Duration
	maxPageSize        int

	// Scanning (scan.go).
	scanWorkers     int
	scanQueueSize   int
	scanTimeout     time.Duration
	scanInterval    time.Duration
	scanIntervalSet bool
	scanGate        ScanGate
	// noScanAttachments turns off SBOM and report referrers (WithScanAttachments).
	noScanAttachments bool
}

// Option configures a Registry.
type Option func(*options) error

// WithAuthorizer sets the Authorizer consulted for every operation. The
// default is policy.AllowAll.
func WithAuthorizer(a policy.Authorizer) Option {
	return func(o *options) error {
		if a == nil {
			return errors.New("registry: nil Authorizer")
		}
		o.authorizer = a
		return nil
	}
}

// WithScanner sets the Scanner used for image scans. The default is none.
func WithScanner(s scan.Scanner) Option {
	return func(o *options) error { o.scanner = s; return nil }
}

// WithReplicator sets the Replicator that receives push and delete events.
// The default is none.
func WithReplicator(r replication.Replicator) Option {
	return func(o *options) error { o.replicator = r; return nil }
}

// WithListener adds a Listener that receives every Event. The default is
// none.
func WithListener(l Listener) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("registry: nil Listener")
		}
		o.listeners = append(o.listeners, l)
		return nil
	}
}

// WithLogger sets the logger. The default discards everything.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("registry: nil Logger")
		}
		o.logger = l
		return nil
	}
}

// WithClock sets the clock used for timestamps. The default is time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return errors.New("registry: nil clock")
		}
		o.now = now
		return nil
	}
}

// WithCreateOnPush sets whether pushing a manifest to a repository that does
// not exist creates it. The default is true.
func WithCreateOnPush(on bool) Option {
	return func(o *options) error { o.createOnPush = on; return nil }
}

// WithMaxManifestSize sets the largest accepted manifest in bytes. The
// default is DefaultMaxManifestSize.
func WithMaxManifestSize(n int64) Option {
	return func(o *options) error {
		if n <= 0 {
			return errors.New("registry: max manifest size must be positive")
		}
		o.maxManifestSize = n
		return nil
	}
}

// WithMaxBlobSize sets the largest accepted blob in bytes. The default is
// DefaultMaxBlobSize.
func WithMaxBlobSize(n int64) Option {
	return func(o *options) error {
		if n <= 0 {
			return errors.New("registry: max blob size must be positive")
		}
		o.maxBlobSize = n
		return nil
	}
}

// WithPullRecordInterval sets how often at most a pull of the same image
// updates its last-pulled time in storage, so that pulls do not cost a write
// each. Updates are written in batches about a second after the pull (and
// by Close); the Go API shows them at once. The default is
// DefaultPullRecordInterval.
func WithPullRecordInterval(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return errors.New("registry: negative pull record interval")
		}
		o.pullRecordInterval = d
		return nil
	}
}

// WithMaxPageSize caps the page size of listings. The default is
// DefaultMaxPageSize.
func WithMaxPageSize(n int) Option {
	return func(o *options) error {
		if n <= 0 {
			return errors.New("registry: max page size must be positive")
		}
		o.maxPageSize = n
		return nil
	}
}
