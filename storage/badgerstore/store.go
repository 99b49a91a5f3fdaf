package badgerstore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/berth-dev/berth/storage"
)

var (
	_ storage.Storage          = (*Store)(nil)
	_ storage.BlobWalker       = (*Store)(nil)
	_ storage.ManifestResolver = (*Store)(nil)
)

// Options configures a Store. The zero value of every field but Dir is a
// usable default.
type Options struct {
	// Dir is the root directory of the store. It is created if missing.
	// Required.
	Dir string

	// Logger receives the store's own warnings and badger's log lines
	// (badger's INFO and DEBUG lines at slog.LevelDebug). The default is
	// nil: the store logs nothing.
	Logger *slog.Logger

	// NoSync skips every fsync: upload data, committed blobs, their
	// directories, and badger's write-ahead log (SyncWrites). A crash may
	// then lose or tear recent writes. Use it for tests and caches only.
	// The default is false: every write is durable when its call returns.
	NoSync bool

	// CacheSize bounds the in-memory read cache of tags, manifests (with
	// their payloads), repository records, blob links and tag lists, in
	// bytes; see the package documentation. The default, 0, means
	// DefaultCacheSize (16 MiB); a negative value disables the cache.
	CacheSize int64

	// TuneBadger, if set, is called with the badger options the store
	// chose (see the package documentation) and returns the options to
	// open badger with. Dir, ValueDir, InMemory and ReadOnly are reset
	// afterwards: the database always lives in Dir/meta. The default is
	// nil: the store's settings are used unchanged.
	TuneBadger func(badger.Options) badger.Options
}

// Store is the embedded storage backend: metadata in badger, blob bytes in
// files. It is safe for concurrent use. Build it with New; release it with
// Close.
type Store struct {
	db        *badger.DB
	log       *slog.Logger
	sync      bool
	blobsDir  string
	ingestDir string

	// mu guards db against Close: every badger access holds mu.RLock and
	// checks closed; Close takes mu.Lock.
	mu     sync.RWMutex
	closed atomic.Bool

	// repoLocks serialises DeleteRepository, which spans several badger
	// transactions, against writers that add keys under the same
	// repository (see lockRepo).
	repoLocks [256]sync.RWMutex

	// group combines concurrent metadata writes into one transaction
	// (see write).
	group grouper

	// retryMu serialises the retries of conflicting transactions (see
	// update).
	retryMu sync.Mutex

	// dirs caches directories known to exist durably under blobsDir.
	dirs sync.Map

	// cache holds hot tags, manifests and repository records (see
	// cache.go); nil if disabled.
	cache *cache
}

const (
	metaDirName   = "meta"
	blobsDirName  = "blobs"
	ingestDirName = "ingest"

	// schemaKey holds the key-layout version; see the package docs.
	// Version 2 is the key layout of version 1 with binary manifest
	// records (record.go); a version 1 database is upgraded on open.
	schemaKey     = "berth/schema"
	schemaVersion = "2"
	schemaV1      = "1"
)

// New opens or creates a store under opts.Dir. It starts no goroutines of
// its own beyond badger's (compactors, flusher, write batcher).
func New(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("badgerstore: Options.Dir is required")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("badgerstore: %w", err)
	}
	s := &Store{
		log:       opts.Logger,
		sync:      !opts.NoSync,
		blobsDir:  filepath.Join(dir, blobsDirName),
		ingestDir: filepath.Join(dir, ingestDirName),
	}
	switch {
	case opts.CacheSize == 0:
		s.cache = newCache(DefaultCacheSize)
	case opts.CacheSize > 0:
		s.cache = newCache(opts.CacheSize)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, d := range []string{s.blobsDir, s.ingestDir} {
		if err := s.ensureDir(d); err != nil {
			return nil, fmt.Errorf("badgerstore: create %s: %w", d, err)
		}
	}

	bo := badgerOptions(filepath.Join(dir, metaDirName), opts)
	if opts.TuneBadger != nil {
		bo = opts.TuneBadger(bo)
		bo.Dir = filepath.Join(dir, metaDirName)
		bo.ValueDir = bo.Dir
		bo.InMemory = false
		bo.ReadOnly = false
	}
	db, err := badger.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("badgerstore: open metadata: %w", err)
	}
	s.db = db
	if err := s.checkSchema(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// badgerOptions returns the tuned badger options; the package
// documentation explains each choice.
func badgerOptions(dir string, opts Options) badger.Options {
	bo := badger.DefaultOptions(dir).
		WithSyncWrites(!opts.NoSync).
		WithLogger(nil).
		WithMetricsEnabled(false).
		WithNumGoroutines(2).
		WithMemTableSize(8 << 20).
		WithNumMemtables(2).
		WithNumLevelZeroTables(4).
		WithNumLevelZeroTablesStall(8).
		WithCompression(options.None).
		WithBlockCacheSize(8 << 20).
		WithIndexCacheSize(4 << 20).
		WithValueThreshold(64 << 10).
		WithValueLogFileSize(64 << 20).
		WithNumCompactors(2).
		WithDetectConflicts(true)
	if opts.Logger != nil {
		bo = bo.WithLogger(badgerLogger{opts.Logger})
	}
	return bo
}

// checkSchema stamps a new database with the key-layout version and refuses
// a database written with another one. A version 1 database is stamped
// version 2: its keys are the same, and its JSON manifest records stay
// readable, but from now on binary records are written, which a release
// that only knows version 1 must refuse rather than misread.
func (s *Store) checkSchema() error {
	return s.db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(schemaKey))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return txn.Set([]byte(schemaKey), []byte(schemaVersion))
		}
		if err != nil {
			return fmt.Errorf("badgerstore: read schema version: %w", err)
		}
		var v string
		if err := item.Value(func(b []byte) error { v = string(b); return nil }); err != nil {
			return fmt.Errorf("badgerstore: read schema version: %w", err)
		}
		switch v {
		case schemaVersion:
			return nil
		case schemaV1:
			return txn.Set([]byte(schemaKey), []byte(schemaVersion))
		}
		return fmt.Errorf("badgerstore: metadata has key layout version %q, want %q", v, schemaVersion)
	})
}

// Close closes the metadata database. It is idempotent and safe on a nil
// *Store. Afterwards every method returns storage.ErrClosed.
func (s *Store) Close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Swap(true) {
		return nil
	}
	s.cache.clear()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("badgerstore: close: %w", err)
	}
	return nil
}

// CollectGarbage reclaims space in badger's value log: it rewrites value-log
// files of which at least half is stale, until none is left or ctx is done.
// Call it periodically (for example hourly, or after a lifecycle run); the
// store never runs it on its own. It returns storage.ErrClosed after Close.
func (s *Store) CollectGarbage(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := s.withDB(func(db *badger.DB) error { return db.RunValueLogGC(0.5) })
		switch {
		case err == nil:
			continue
		case errors.Is(err, badger.ErrNoRewrite), errors.Is(err, badger.ErrRejected):
			return nil
		default:
			return fmt.Errorf("badgerstore: value log gc: %w", err)
		}
	}
}

// withDB runs fn with the database, or returns storage.ErrClosed.
func (s *Store) withDB(fn func(*badger.DB) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed.Load() {
		return storage.ErrClosed
	}
	return fn(s.db)
}

// checkOpen returns storage.ErrClosed after Close. File operations use it;
// they do not need the database.
func (s *Store) checkOpen() error {
	if s.closed.Load() {
		return storage.ErrClosed
	}
	return nil
}

// view runs fn in a read-only transaction.
func (s *Store) view(fn func(*badger.Txn) error) error {
	return s.withDB(func(db *badger.DB) error { return db.View(fn) })
}

// maxConflictRetries bounds how often update reruns a transaction that lost
// a conflict to a concurrent writer.
const maxConflictRetries = 64

// update runs fn in a read-write transaction of its own and commits it,
// rerunning it when badger reports a conflict. fn must not have side
// effects outside the transaction: it may run several times. Most writes
// go through write instead, which combines them; update serves
// DeleteRepository and groups that conflicted with it.
//
// The first attempt is optimistic. Retries hold retryMu, so transactions
// that already lost once take turns instead of starving each other; they
// then compete only with first attempts.
func (s *Store) update(ctx context.Context, fn func(*badger.Txn) error) error {
	err := s.withDB(func(db *badger.DB) error { return db.Update(fn) })
	if !errors.Is(err, badger.ErrConflict) {
		return err
	}
	s.retryMu.Lock()
	defer s.retryMu.Unlock()
	backoff := 50 * time.Microsecond
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		err = s.withDB(func(db *badger.DB) error { return db.Update(fn) })
		if !errors.Is(err, badger.ErrConflict) {
			return err
		}
		if attempt == maxConflictRetries {
			return fmt.Errorf("badgerstore: gave up after %d conflicting attempts: %w", attempt+1, err)
		}
		time.Sleep(time.Duration(rand.Int64N(int64(backoff)) + 1))
		backoff = min(2*backoff, 5*time.Millisecond)
	}
}

// lockRepo returns the lock stripe of a repository. Writers that add keys
// under a repository (CreateRepository, PutManifest, LinkBlob,
// CompleteUpload) hold it shared; DeleteRepository holds it exclusively, so
// that no key is added while it deletes in several transactions. Writers
// that only change or delete existing keys need no lock: they read those
// keys first, so badger's conflict detection orders them against the
// deletion.
func (s *Store) lockRepo(name string) *sync.RWMutex {
	h := fnv.New32a()
	_, _ = io.WriteString(h, name)
	return &s.repoLocks[h.Sum32()%uint32(len(s.repoLocks))]
}

// ensureDir creates dir and any missing parents, fsyncing the parent of
// every directory it creates (or finds for the first time), so that a
// rename into dir survives a crash. Known directories are cached.
func (s *Store) ensureDir(dir string) error {
	if _, ok := s.dirs.Load(dir); ok {
		return nil
	}
	parent := filepath.Dir(dir)
	err := os.Mkdir(dir, 0o755)
	if errors.Is(err, os.ErrNotExist) && parent != dir {
		if err := s.ensureDir(parent); err != nil {
			return err
		}
		err = os.Mkdir(dir, 0o755)
	}
	if err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	if err != nil { // exists: make sure it is a directory
		fi, serr := os.Stat(dir)
		if serr != nil {
			return serr
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s: not a directory", dir)
		}
	}
	if err := s.syncDir(parent); err != nil {
		return err
	}
	s.dirs.Store(dir, struct{}{})
	return nil
}

// syncDir fsyncs a directory so that entries created, renamed or removed in
// it are durable. It does nothing under Options.NoSync.
func (s *Store) syncDir(dir string) error {
	if !s.sync {
		return nil
	}
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// badgerLogger bridges badger's printf-style logger to slog. Badger's INFO
// lines (table and value-log housekeeping) are chatty, so they go to Debug.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any)   { b.log(slog.LevelError, f, a) }
func (b badgerLogger) Warningf(f string, a ...any) { b.log(slog.LevelWarn, f, a) }
func (b badgerLogger) Infof(f string, a ...any)    { b.log(slog.LevelDebug, f, a) }
func (b badgerLogger) Debugf(f string, a ...any)   { b.log(slog.LevelDebug, f, a) }

func (b badgerLogger) log(level slog.Level, f string, a []any) {
	ctx := context.Background()
	if !b.l.Enabled(ctx, level) {
		return
	}
	b.l.Log(ctx, level, strings.TrimSpace(fmt.Sprintf(f, a...)), "component", "badger")
}
