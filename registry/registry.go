package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/replication"
	"github.com/berth-dev/berth/storage"
)

// Registry is an OCI registry over a Storage. It is safe for concurrent use.
// Create one with New and release it with Close.
type Registry struct {
	store storage.Storage
	opts  options
	log   *slog.Logger

	closed atomic.Bool

	// uploadLocks serialises operations on one upload session on this node.
	uploadLocks sync.Map // id -> *sync.Mutex
	// pullRec batches pull-time writes (pulls.go).
	pullRec pullRecorder
	// lifecycle holds lifecycle previews and serialises lifecycle runs.
	lifecycle *lifecycleRegistryState
	// scans queues and runs image scans (scan.go).
	scans *scanService
}

// New returns a Registry that stores everything in store. It validates the
// options and starts no goroutines. When store keeps records
// (storage.RecordStore) and the Authorizer keeps policies in a Store
// (policy.StoreUser, as policy/rego does), the Authorizer's policies are
// kept in the records: New loads them, and fails if a stored policy is no
// longer valid (see PolicyRecordPrefix).
func New(store storage.Storage, opts ...Option) (*Registry, error) {
	if store == nil {
		return nil, errors.New("registry: nil Storage")
	}
	o := options{
		authorizer:         policy.AllowAll,
		now:                time.Now,
		createOnPush:       true,
		maxManifestSize:    DefaultMaxManifestSize,
		maxBlobSize:        DefaultMaxBlobSize,
		pullRecordInterval: DefaultPullRecordInterval,
		maxPageSize:        DefaultMaxPageSize,
	}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	log := o.logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Registry{store: store, opts: o, log: log, lifecycle: newLifecycleState()}
	if err := r.usePolicyRecords(context.Background()); err != nil {
		return nil, err
	}
	r.scans = newScanService(r)
	return r, nil
}

// Storage returns the registry's storage.
func (r *Registry) Storage() storage.Storage { return r.store }

// Authorize asks the registry's Authorizer whether the principal in ctx may
// perform action on repo (empty for registry-wide actions), for operations
// that live outside the registry such as issuing authorization tokens. The
// error wraps ErrUnauthorized or ErrDenied.
func (r *Registry) Authorize(ctx context.Context, action, repo, ref string) error {
	if err := r.open(ctx); err != nil {
		return err
	}
	if repo != "" {
		if err := ValidateName(repo); err != nil {
			return err
		}
	}
	return r.authorize(ctx, action, repo, ref)
}

// MaxManifestSize returns the largest manifest the registry accepts, so
// that a transport can cap request bodies before reading them.
func (r *Registry) MaxManifestSize() int64 { return r.opts.maxManifestSize }

// MaxPageSize returns the largest page a listing returns.
func (r *Registry) MaxPageSize() int { return r.opts.maxPageSize }

// Logger returns the registry's logger (discarding by default).
func (r *Registry) Logger() *slog.Logger { return r.log }

// Close marks the registry closed and stops the scanning service, waiting
// for the scans in progress. It does not close the Storage, which the
// caller owns. Close is idempotent and safe on a nil Registry.
func (r *Registry) Close() error {
	if r == nil {
		return nil
	}
	r.closed.Store(true)
	r.scans.close()
	r.closePulls()
	return nil
}

func (r *Registry) now() time.Time { return r.opts.now().UTC() }

// begin checks the registry is open, validates the repository name and
// authorizes the action on it.
func (r *Registry) begin(ctx context.Context, action, repo, ref string) error {
	if err := r.open(ctx); err != nil {
		return err
	}
	if err := ValidateName(repo); err != nil {
		return err
	}
	return r.authorize(ctx, action, repo, ref)
}

// beginRegistry is begin for registry-wide operations.
func (r *Registry) beginRegistry(ctx context.Context, action string) error {
	if err := r.open(ctx); err != nil {
		return err
	}
	return r.authorize(ctx, action, "", "")
}

func (r *Registry) open(ctx context.Context) error {
	if r.closed.Load() {
		return ErrClosed
	}
	return ctx.Err()
}

func (r *Registry) authorize(ctx context.Context, action, repo, ref string) error {
	in := policy.Input{
		Version:    policy.InputVersion,
		Principal:  policy.PrincipalFrom(ctx),
		Action:     action,
		Repository: repo,
		Reference:  ref,
		SourceIP:   policy.SourceIPFrom(ctx),
		Time:       r.now(),
	}
	d, err := r.opts.authorizer.Authorize(ctx, in)
	if err != nil {
		return fmt.Errorf("authorize %s: %w", action, err)
	}
	if !d.Allow {
		if in.Principal == nil {
			return fmt.Errorf("%s on %q: %w", action, repo, ErrUnauthorized)
		}
		return fmt.Errorf("%s on %q: %w", action, repo, ErrDenied)
	}
	return nil
}

// Event kinds.
const (
	EventManifestPushed    = "ManifestPushed"
	EventManifestDeleted   = "ManifestDeleted"
	EventTagDeleted        = "TagDeleted"
	EventManifestPulled    = "ManifestPulled"
	EventBlobUploaded      = "BlobUploaded"
	EventBlobMounted       = "BlobMounted"
	EventBlobDeleted       = "BlobDeleted"
	EventRepositoryCreated = "RepositoryCreated"
	EventRepositoryDeleted = "RepositoryDeleted"
)

// Event describes a change (or a pull) after it is durable.
type Event struct {
	Kind       string
	Repository string
	Digest     string
	Tags       []string
	MediaType  string
	Size       int64
	Time       time.Time
	// ScanStatus and FindingSeverityCounts are set for
	// EventImageScanCompleted.
	ScanStatus            string
	FindingSeverityCounts map[string]int
}

// Listener receives events. OnEvent runs on the goroutine of the request
// that caused it: implementations must return quickly (enqueue) and be safe
// for concurrent use.
type Listener interface {
	OnEvent(ctx context.Context, ev Event)
}

// ListenerFunc adapts a function to Listener.
type ListenerFunc func(ctx context.Context, ev Event)

// OnEvent calls f.
func (f ListenerFunc) OnEvent(ctx context.Context, ev Event) { f(ctx, ev) }

func (r *Registry) emit(ctx context.Context, ev Event) {
	if ev.Time.IsZero() {
		ev.Time = r.now()
	}
	r.scans.onEvent(ctx, ev)
	for _, l := range r.opts.listeners {
		l.OnEvent(ctx, ev)
	}
	if r.opts.replicator == nil {
		return
	}
	var action string
	switch ev.Kind {
	case EventManifestPushed:
		action = replication.ActionPush
	case EventManifestDeleted:
		action = replication.ActionDelete
	case EventTagDeleted:
		action = replication.ActionTagDelete
	default:
		return
	}
	rev := replication.Event{Action: action, Repository: ev.Repository, MediaType: ev.MediaType, Time: ev.Time}
	if d, err := ParseDigest(ev.Digest); err == nil {
		rev.Digest = d
	}
	if len(ev.Tags) > 0 {
		rev.Tag = ev.Tags[0]
	}
	if err := r.opts.replicator.Replicate(ctx, rev); err != nil {
		r.log.WarnContext(ctx, "replicator refused event", "repo", ev.Repository, "digest", ev.Digest, "err", err)
	}
}
