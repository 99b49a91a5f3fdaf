package registrytest

import (
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/berth-dev/berth/httpapi"
	"github.com/berth-dev/berth/registry"
	"github.com/berth-dev/berth/storage"
	"github.com/berth-dev/berth/storage/badgerstore"
	"github.com/berth-dev/berth/storage/memory"
)

// Registry is a running test registry.
type Registry struct {
	// Registry is the registry behind the server.
	Registry *registry.Registry
	// Storage is the registry's storage.
	Storage storage.Storage
	// Handler is the OCI distribution API handler the server runs.
	Handler http.Handler
	// Server serves Handler on 127.0.0.1 over plain HTTP.
	Server *httptest.Server

	closers []func() error
}

// Option configures New and Start.
type Option func(*config) error

type config struct {
	badger      bool
	dir         string
	store       storage.Storage
	regOpts     []registry.Option
	httpOpts    []httpapi.Option
	logger      *slog.Logger
	wrapHandler func(http.Handler) http.Handler
}

// WithBadger stores everything with the embedded badger backend
// (storage/badgerstore) instead of in memory. New puts the database in a
// t.TempDir(); Start puts it in a new temporary directory that Close
// removes. The store skips fsync (badgerstore.Options.NoSync): data survives
// a closed or killed registry, not a machine crash. The default is memory
// storage.
func WithBadger() Option {
	return func(c *config) error { c.badger = true; return nil }
}

// WithBadgerDir is WithBadger with the database in dir, which is kept. Use
// it to reopen the same data in a second registry.
func WithBadgerDir(dir string) Option {
	return func(c *config) error {
		if dir == "" {
			return errors.New("registrytest: empty badger directory")
		}
		c.badger, c.dir = true, dir
		return nil
	}
}

// WithStorage serves the given storage, which the caller keeps owning: it is
// not closed with the registry. The default is a new memory store.
func WithStorage(s storage.Storage) Option {
	return func(c *config) error {
		if s == nil {
			return errors.New("registrytest: nil storage")
		}
		c.store = s
		return nil
	}
}

// WithRegistryOptions passes options to registry.New. The default is none
// apart from the logger.
func WithRegistryOptions(opts ...registry.Option) Option {
	return func(c *config) error { c.regOpts = append(c.regOpts, opts...); return nil }
}

// WithHTTPOptions passes options to httpapi.New. The default is none apart
// from the logger.
func WithHTTPOptions(opts ...httpapi.Option) Option {
	return func(c *config) error { c.httpOpts = append(c.httpOpts, opts...); return nil }
}

// WithLogger sends the logs of the registry, the storage and the HTTP
// handler to l. The default discards them.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("registrytest: nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithMiddleware wraps the handler the server runs, for example to count or
// fail requests. The default serves the httpapi handler as it is.
func WithMiddleware(wrap func(http.Handler) http.Handler) Option {
	return func(c *config) error {
		if wrap == nil {
			return errors.New("registrytest: nil middleware")
		}
		c.wrapHandler = wrap
		return nil
	}
}

// New starts a registry for the test and stops it, and deletes its data,
// when the test and its subtests finish. It fails the test if the registry
// cannot start.
func New(t testing.TB, opts ...Option) *Registry {
	t.Helper()
	var c config
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&c); err != nil {
			t.Fatalf("registrytest.New: %v", err)
		}
	}
	if c.badger && c.dir == "" {
		c.dir = t.TempDir()
	}
	r, err := start(c)
	if err != nil {
		t.Fatalf("registrytest.New: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("registrytest: close: %v", err)
		}
	})
	return r
}

// Start starts a registry outside a test, for TestMain or an example. The
// caller must Close it.
func Start(opts ...Option) (*Registry, error) {
	var c config
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&c); err != nil {
			return nil, fmt.Errorf("registrytest.Start: %w", err)
		}
	}
	return start(c)
}

func start(c config) (_ *Registry, err error) {
	log := c.logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Registry{}
	defer func() {
		if err != nil {
			_ = r.Close()
		}
	}()

	switch {
	case c.store != nil:
		r.Storage = c.store
	case c.badger:
		dir := c.dir
		if dir == "" {
			// Start without WithBadgerDir: a directory of our own.
			dir, err = os.MkdirTemp("", "registrytest-")
			if err != nil {
				return nil, err
			}
			r.closers = append(r.closers, func() error { return os.RemoveAll(dir) })
		}
		s, err := badgerstore.New(badgerstore.Options{Dir: dir, Logger: log, NoSync: true})
		if err != nil {
			return nil, fmt.Errorf("open badger store: %w", err)
		}
		r.Storage = s
		r.closers = append(r.closers, s.Close)
	default:
		s := memory.New()
		r.Storage = s
		r.closers = append(r.closers, s.Close)
	}

	reg, err := registry.New(r.Storage, append([]registry.Option{registry.WithLogger(log)}, c.regOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("new registry: %w", err)
	}
	r.Registry = reg
	r.closers = append(r.closers, reg.Close)

	h, err := httpapi.New(reg, append([]httpapi.Option{httpapi.WithLogger(log)}, c.httpOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("new handler: %w", err)
	}
	r.Handler = h

	var served http.Handler = h
	if c.wrapHandler != nil {
		served = c.wrapHandler(h)
	}
	mux := http.NewServeMux()
	mux.Handle("/v2/", served)
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ErrorLog = newErrorLog(log)
	srv.Start()
	r.Server = srv
	r.closers = append(r.closers, func() error { srv.Close(); return nil })
	return r, nil
}

// Host returns the registry's host and port ("127.0.0.1:port"), the prefix
// of image references.
func (r *Registry) Host() string { return strings.TrimPrefix(r.Server.URL, "http://") }

// URL returns the server's base URL ("http://127.0.0.1:port").
func (r *Registry) URL() string { return r.Server.URL }

// Ref returns the image reference r.Host()+"/"+repoAndRef, for example
// Ref("team/app:v1").
func (r *Registry) Ref(repoAndRef string) string { return r.Host() + "/" + repoAndRef }

// Client returns an HTTP client for the server.
func (r *Registry) Client() *http.Client { return r.Server.Client() }

// Close stops the server, then closes the registry and the storage it
// opened. A test registry from New is closed by t.Cleanup. Close is
// idempotent.
func (r *Registry) Close() error {
	if r == nil {
		return nil
	}
	var errs []error
	for i := len(r.closers) - 1; i >= 0; i-- {
		errs = append(errs, r.closers[i]())
	}
	r.closers = nil
	return errors.Join(errs...)
}

// newErrorLog routes net/http's server errors (such as malformed requests)
// to the slog logger at debug level instead of stderr.
func newErrorLog(l *slog.Logger) *log.Logger {
	if l.Handler() == slog.DiscardHandler {
		return log.New(io.Discard, "", 0)
	}
	return slog.NewLogLogger(l.Handler(), slog.LevelDebug)
}
