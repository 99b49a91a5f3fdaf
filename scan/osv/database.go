package osv

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Source says where a DB loads its OSV records from and caps what it reads.
type Source struct {
	// Paths are directories, walked recursively for *.json record files
	// and *.zip archives, or zip files such as osv.dev's per-ecosystem
	// all.zip (https://osv-vulnerabilities.storage.googleapis.com/<ecosystem>/all.zip),
	// whose *.json entries are records. At least one is required.
	Paths []string
	// MaxFileSize caps one record file or zip entry. The default is 16 MiB.
	MaxFileSize int64
	// MaxTotalSize caps the bytes of all records of one load. The default
	// is 4 GiB.
	MaxTotalSize int64
	// MaxRecords caps the number of records of one load. The default is
	// 4 Mi.
	MaxRecords int
}

// Defaults of Source's caps.
const (
	DefaultMaxFileSize  = 16 << 20
	DefaultMaxTotalSize = 4 << 30
	DefaultMaxRecords   = 4 << 20
)

func (s Source) validate() (Source, error) {
	if len(s.Paths) == 0 {
		return s, fmt.Errorf("%w: source has no paths", ErrInvalidOption)
	}
	for _, p := range s.Paths {
		if p == "" {
			return s, fmt.Errorf("%w: empty source path", ErrInvalidOption)
		}
	}
	if s.MaxFileSize < 0 || s.MaxTotalSize < 0 || s.MaxRecords < 0 {
		return s, fmt.Errorf("%w: negative cap", ErrInvalidOption)
	}
	if s.MaxFileSize == 0 {
		s.MaxFileSize = DefaultMaxFileSize
	}
	if s.MaxTotalSize == 0 {
		s.MaxTotalSize = DefaultMaxTotalSize
	}
	if s.MaxRecords == 0 {
		s.MaxRecords = DefaultMaxRecords
	}
	s.Paths = slices.Clone(s.Paths)
	return s, nil
}

// Load reads and indexes all records of src. Withdrawn records are read
// (they count in the version) but not indexed. When two records share an
// id, the one modified last is kept.
//
// Errors wrap ErrInvalidOption for an invalid src, ErrInvalidDatabase (and
// ErrInvalidRecord for a bad record) for data that cannot be loaded, or the
// context's error.
func Load(ctx context.Context, src Source) (*Database, error) {
	src, err := src.validate()
	if err != nil {
		return nil, err
	}
	l := &loader{src: src, byID: make(map[string]*Record)}
	for _, p := range src.Paths {
		if err := l.loadPath(ctx, p); err != nil {
			return nil, err
		}
	}
	return l.build(), nil
}

type loader struct {
	src       Source
	total     int64
	n         int
	digests   [][sha256.Size]byte
	byID      map[string]*Record
	withdrawn int
}

func (l *loader) loadPath(ctx context.Context, p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidDatabase, err)
	}
	if !fi.IsDir() {
		if strings.HasSuffix(p, ".zip") {
			return l.loadZip(ctx, p)
		}
		return l.loadFile(ctx, p)
	}
	return filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidDatabase, err)
		}
		if d.IsDir() {
			return nil
		}
		switch {
		case strings.HasSuffix(path, ".json"):
			return l.loadFile(ctx, path)
		case strings.HasSuffix(path, ".zip"):
			return l.loadZip(ctx, path)
		}
		return nil
	})
}

func (l *loader) loadFile(ctx context.Context, path string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidDatabase, err)
	}
	defer f.Close()
	return l.add(path, f)
}

func (l *loader) loadZip(ctx context.Context, path string) error {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalidDatabase, path, err)
	}
	defer zr.Close()
	files := slices.Clone(zr.File)
	slices.SortFunc(files, func(a, b *zip.File) int { return strings.Compare(a.Name, b.Name) })
	for _, zf := range files {
		if zf.FileInfo().IsDir() || !strings.HasSuffix(zf.Name, ".json") {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		name := path + "!" + zf.Name
		if zf.UncompressedSize64 > uint64(l.src.MaxFileSize) {
			return fmt.Errorf("%w: %s: %d bytes exceed the cap of %d", ErrInvalidDatabase, name, zf.UncompressedSize64, l.src.MaxFileSize)
		}
		rc, err := zf.Open()
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrInvalidDatabase, name, err)
		}
		err = l.add(name, rc)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// add reads one record from r, whose size is capped here whatever a zip
// header or file system claims.
func (l *loader) add(name string, r io.Reader) error {
	if l.n >= l.src.MaxRecords {
		return fmt.Errorf("%w: more than %d records", ErrInvalidDatabase, l.src.MaxRecords)
	}
	b, err := io.ReadAll(io.LimitReader(r, l.src.MaxFileSize+1))
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalidDatabase, name, err)
	}
	if int64(len(b)) > l.src.MaxFileSize {
		return fmt.Errorf("%w: %s: exceeds the cap of %d bytes", ErrInvalidDatabase, name, l.src.MaxFileSize)
	}
	l.total += int64(len(b))
	if l.total > l.src.MaxTotalSize {
		return fmt.Errorf("%w: records exceed the total cap of %d bytes", ErrInvalidDatabase, l.src.MaxTotalSize)
	}
	rec, err := ParseRecord(b)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInvalidDatabase, name, err)
	}
	l.n++
	l.digests = append(l.digests, sha256.Sum256(b))
	l.keep(rec)
	return nil
}

func (l *loader) keep(rec *Record) {
	if old, ok := l.byID[rec.ID]; ok && !rec.Modified.After(old.Modified) {
		return
	}
	l.byID[rec.ID] = rec
}

func (l *loader) build() *Database {
	slices.SortFunc(l.digests, func(a, b [sha256.Size]byte) int { return bytes.Compare(a[:], b[:]) })
	h := sha256.New()
	for _, d := range l.digests {
		h.Write(d[:])
	}
	return compile(l.byID, "sha256:"+hex.EncodeToString(h.Sum(nil)))
}

// NewDatabase indexes records built in memory. Its version is a digest of
// the records' JSON encoding. Errors wrap ErrInvalidRecord.
func NewDatabase(records []*Record) (*Database, error) {
	l := &loader{src: Source{MaxRecords: len(records) + 1, MaxFileSize: DefaultMaxFileSize, MaxTotalSize: DefaultMaxTotalSize}, byID: make(map[string]*Record)}
	for _, r := range records {
		if r == nil {
			return nil, fmt.Errorf("%w: nil record", ErrInvalidRecord)
		}
		if err := r.validate(); err != nil {
			return nil, err
		}
		b, err := json.Marshal(r)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrInvalidRecord, r.ID, err)
		}
		l.digests = append(l.digests, sha256.Sum256(b))
		l.keep(r)
	}
	return l.build(), nil
}

// DB holds the current Database and replaces it when the operator reloads
// the data. It is safe for concurrent use: scans read the Database that
// was current when they started, and a reload swaps the pointer only after
// the new data parsed fully.
type DB struct {
	src Source
	mu  sync.Mutex // serialises reloads
	cur atomic.Pointer[Database]
}

// NewDB returns a DB that loads from src. It reads nothing: call Reload
// (or Set) before scanning. Errors wrap ErrInvalidOption.
func NewDB(src Source) (*DB, error) {
	src, err := src.validate()
	if err != nil {
		return nil, err
	}
	return &DB{src: src}, nil
}

// Reload loads the source again and, if that succeeds, makes the result
// current. On error the previous Database stays in force; errors are those
// of Load.
func (d *DB) Reload(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	db, err := Load(ctx, d.src)
	if err != nil {
		return fmt.Errorf("reload OSV database: %w", err)
	}
	d.cur.Store(db)
	return nil
}

// Set makes db current. A nil db is ignored.
func (d *DB) Set(db *Database) {
	if db != nil {
		d.cur.Store(db)
	}
}

// Current returns the current Database, or nil before the first load.
func (d *DB) Current() *Database { return d.cur.Load() }

// Version returns the current Database's version, or "" before the first
// load.
func (d *DB) Version() string {
	if db := d.cur.Load(); db != nil {
		return db.Version()
	}
	return ""
}

// Version returns an identifier of the loaded data: "sha256:" and the
// SHA-256 of the sorted SHA-256 digests of the record files (withdrawn
// records included), so it changes whenever any record changes.
func (db *Database) Version() string { return db.version }

// Len returns the number of records indexed (withdrawn and duplicate
// records excluded).
func (db *Database) Len() int { return db.records }

// Modified returns the latest modification time of the indexed records
// (zero when none carries one).
func (db *Database) Modified() time.Time { return db.modified }
