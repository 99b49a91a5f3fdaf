package badgerstore

import (
	"context"
	_ "crypto/sha256" // digest.Digest.Validate needs the hashes linked in
	_ "crypto/sha512"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/storage"
)

// maxUploadIDLen bounds upload IDs, which name files under ingest/.
const maxUploadIDLen = 128

// errInvalidUploadID reports an upload ID that cannot name an ingest file.
var errInvalidUploadID = errors.New("badgerstore: invalid upload id")

// checkUploadID accepts 1 to maxUploadIDLen characters of [A-Za-z0-9_-]:
// never a path separator, never "." or "..".
func checkUploadID(id string) error {
	if id == "" || len(id) > maxUploadIDLen {
		return fmt.Errorf("%w %q: want 1 to %d characters", errInvalidUploadID, id, maxUploadIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("%w %q: only A-Z, a-z, 0-9, _ and - are allowed", errInvalidUploadID, id)
		}
	}
	return nil
}

// blobPath returns blobs/<alg>/<first two hex>/<hex>. The digest is
// validated, so the path never escapes blobsDir.
func (s *Store) blobPath(dgst digest.Digest) (string, error) {
	if err := dgst.Validate(); err != nil {
		return "", fmt.Errorf("blob %q: %w", dgst, err)
	}
	hex := dgst.Encoded()
	return filepath.Join(s.blobsDir, string(dgst.Algorithm()), hex[:2], hex), nil
}

// readBlobPath is blobPath for lookups: an invalid digest names no blob,
// so the error also wraps storage.ErrNotFound.
func (s *Store) readBlobPath(dgst digest.Digest) (string, error) {
	p, err := s.blobPath(dgst)
	if err != nil {
		return "", fmt.Errorf("%w (%w)", err, storage.ErrNotFound)
	}
	return p, nil
}

func (s *Store) ingestPath(u *storage.Upload) (string, error) {
	if u == nil {
		return "", fmt.Errorf("%w: nil upload", errInvalidUploadID)
	}
	if err := checkUploadID(u.ID); err != nil {
		return "", err
	}
	return filepath.Join(s.ingestDir, u.ID), nil
}

// StatBlob returns the size of a committed blob, or storage.ErrNotFound.
func (s *Store) StatBlob(ctx context.Context, dgst digest.Digest) (storage.BlobInfo, error) {
	if err := s.checkOpen(); err != nil {
		return storage.BlobInfo{}, err
	}
	p, err := s.readBlobPath(dgst)
	if err != nil {
		return storage.BlobInfo{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return storage.BlobInfo{}, fileErr(err, "blob %s", dgst)
	}
	if !fi.Mode().IsRegular() {
		return storage.BlobInfo{}, fmt.Errorf("blob %s: %s is not a regular file", dgst, p)
	}
	return storage.BlobInfo{Digest: dgst, Size: fi.Size()}, nil
}

// OpenBlob opens a committed blob. The result is the *os.File itself, so
// that http.ServeContent can send it with sendfile. It returns
// storage.ErrNotFound if the blob has not been committed.
func (s *Store) OpenBlob(ctx context.Context, dgst digest.Digest) (io.ReadSeekCloser, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	p, err := s.readBlobPath(dgst)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fileErr(err, "blob %s", dgst)
	}
	return f, nil
}

// DeleteBlob removes a committed blob's file. It returns
// storage.ErrNotFound if absent. Only a garbage collector should call it.
func (s *Store) DeleteBlob(ctx context.Context, dgst digest.Digest) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	p, err := s.readBlobPath(dgst)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		return fileErr(err, "blob %s", dgst)
	}
	if err := s.syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("blob %s: sync directory: %w", dgst, err)
	}
	return nil
}

// copyBufSize is the size of the pooled buffer AppendUpload copies with:
// large enough that a 64 MiB layer takes 64 writes, small enough to keep
// sixteen concurrent uploads at 16 MiB.
const copyBufSize = 1 << 20

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// AppendUpload writes everything read from r to ingest/<u.ID> at u.Offset,
// fsyncs it, and returns the number of bytes written. Bytes beyond u.Offset
// left by an earlier failed append are discarded first. If the data is
// shorter than u.Offset it returns an error wrapping
// storage.ErrOffsetMismatch. If reading r, writing or syncing fails, the
// data is truncated back to u.Offset and the error is returned with the
// number of bytes read.
//
// The caller serialises appends to one upload (it must anyway, to keep
// u.Offset right).
func (s *Store) AppendUpload(ctx context.Context, u *storage.Upload, r io.Reader) (int64, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	p, err := s.ingestPath(u)
	if err != nil {
		return 0, err
	}
	if u.Offset < 0 {
		return 0, fmt.Errorf("upload %q: negative offset %d: %w", u.ID, u.Offset, storage.ErrOffsetMismatch)
	}
	flag := os.O_RDWR
	if u.Offset == 0 {
		flag |= os.O_CREATE
	}
	f, err := os.OpenFile(p, flag, 0o644)
	if errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("upload %q: no data, want %d bytes: %w", u.ID, u.Offset, storage.ErrOffsetMismatch)
	}
	if err != nil {
		return 0, fmt.Errorf("upload %q: %w", u.ID, err)
	}
	defer f.Close()

	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("upload %q: %w", u.ID, err)
	}
	switch size := fi.Size(); {
	case size < u.Offset:
		return 0, fmt.Errorf("upload %q: %d bytes stored, want %d: %w", u.ID, size, u.Offset, storage.ErrOffsetMismatch)
	case size > u.Offset:
		if err := f.Truncate(u.Offset); err != nil {
			return 0, fmt.Errorf("upload %q: discard bytes of a failed append: %w", u.ID, err)
		}
	}
	if _, err := f.Seek(u.Offset, io.SeekStart); err != nil {
		return 0, fmt.Errorf("upload %q: %w", u.ID, err)
	}

	n, err := copyFull(ctx, f, r)
	if err == nil && s.sync {
		err = f.Sync()
		if err == nil && u.Offset == 0 {
			// The file may be new: make its directory entry durable too.
			err = s.syncDir(s.ingestDir)
		}
	}
	if err != nil {
		if terr := f.Truncate(u.Offset); terr != nil {
			s.log.Warn("badgerstore: truncate upload data after a failed append",
				"upload_id", u.ID, "offset", u.Offset, "err", terr)
		}
		return n, fmt.Errorf("upload %q: append at %d: %w", u.ID, u.Offset, err)
	}
	return n, nil
}

// copyFull copies r to w through a pooled buffer, filling the buffer before
// each write so that the file sees few, large writes whatever the size of
// r's reads (an HTTP body returns a few KiB at a time). It stops early when
// ctx is done.
func copyFull(ctx context.Context, w io.Writer, r io.Reader) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		m, rerr := io.ReadFull(r, buf)
		if m > 0 {
			if _, werr := w.Write(buf[:m]); werr != nil {
				return n, werr
			}
			n += int64(m)
		}
		switch rerr {
		case nil:
		case io.EOF, io.ErrUnexpectedEOF: // ReadFull's way of saying r is done
			return n, nil
		default:
			return n, rerr
		}
	}
}

// ReadUpload opens the bytes [0, u.Offset) of an upload's data. An upload
// with Offset 0 and no data reads as empty. It returns storage.ErrNotFound
// if the data is missing and storage.ErrSizeMismatch if it is shorter than
// u.Offset.
func (s *Store) ReadUpload(ctx context.Context, u *storage.Upload) (io.ReadCloser, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	p, err := s.ingestPath(u)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) && u.Offset == 0 {
		return io.NopCloser(strings.NewReader("")), nil
	}
	if err != nil {
		return nil, fileErr(err, "upload %q", u.ID)
	}
	fi, err := f.Stat()
	if err == nil && fi.Size() < u.Offset {
		err = fmt.Errorf("upload %q: %d bytes stored, want %d: %w", u.ID, fi.Size(), u.Offset, storage.ErrSizeMismatch)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(f, u.Offset), f}, nil
}

// CommitUpload makes an upload's data blob dgst: it checks that the data
// is u.Offset bytes long (storage.ErrSizeMismatch), fsyncs it, renames it
// to blobs/<alg>/<hex[:2]>/<hex> and fsyncs that directory. If the blob
// exists already, the upload's data is removed and the call succeeds. It
// returns storage.ErrNotFound if the upload has no data.
func (s *Store) CommitUpload(ctx context.Context, u *storage.Upload, dgst digest.Digest) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	src, err := s.ingestPath(u)
	if err != nil {
		return err
	}
	dst, err := s.blobPath(dgst)
	if err != nil {
		return err
	}
	f, err := os.Open(src)
	if err != nil {
		return fileErr(err, "upload %q", u.ID)
	}
	fi, err := f.Stat()
	if err == nil && fi.Size() != u.Offset {
		err = fmt.Errorf("upload %q: %d bytes stored, want %d: %w", u.ID, fi.Size(), u.Offset, storage.ErrSizeMismatch)
	}
	if err == nil && s.sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("commit upload %q as %s: %w", u.ID, dgst, err)
	}

	if _, err := os.Stat(dst); err == nil {
		s.removeIngest(u.ID, src)
		return nil
	}
	dir := filepath.Dir(dst)
	if err := s.ensureDir(dir); err != nil {
		return fmt.Errorf("commit upload %q as %s: %w", u.ID, dgst, err)
	}
	if err := os.Rename(src, dst); err != nil {
		return fmt.Errorf("commit upload %q as %s: %w", u.ID, dgst, err)
	}
	if err := s.syncDir(dir); err != nil {
		return fmt.Errorf("commit upload %q as %s: sync directory: %w", u.ID, dgst, err)
	}
	// The ingest directory lost an entry; syncing it is not needed for the
	// blob to be durable, and a resurrected ingest file after a crash is
	// removed by AbortUpload or overwritten by a new append.
	return nil
}

// removeIngest removes an ingest file whose content is already a blob.
func (s *Store) removeIngest(id, p string) {
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("badgerstore: remove upload data", "upload_id", id, "err", err)
	}
}

// AbortUpload removes an upload's data. Aborting an upload without data
// succeeds.
func (s *Store) AbortUpload(ctx context.Context, u *storage.Upload) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	p, err := s.ingestPath(u)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("abort upload %q: %w", u.ID, err)
	}
	return nil
}

// WalkBlobs calls fn for every committed blob, in digest order. It reads
// one directory at a time and calls fn outside any lock. Files that are not
// valid blob names are skipped.
func (s *Store) WalkBlobs(ctx context.Context, fn func(storage.BlobInfo) error) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	algs, err := readDirNames(s.blobsDir)
	if err != nil {
		return fmt.Errorf("walk blobs: %w", err)
	}
	// Digest order compares "<alg>:" strings, which differs from
	// comparing bare algorithm names when one is a prefix of another.
	slices.SortFunc(algs, func(a, b string) int { return strings.Compare(a+":", b+":") })
	for _, alg := range algs {
		algDir := filepath.Join(s.blobsDir, alg)
		prefixes, err := readDirNames(algDir)
		if err != nil {
			return fmt.Errorf("walk blobs: %w", err)
		}
		for _, pre := range prefixes {
			dir := filepath.Join(algDir, pre)
			ents, err := os.ReadDir(dir)
			if err != nil {
				return fmt.Errorf("walk blobs: %w", err)
			}
			for _, e := range ents {
				if err := ctx.Err(); err != nil {
					return err
				}
				d := digest.NewDigestFromEncoded(digest.Algorithm(alg), e.Name())
				if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), pre) || d.Validate() != nil {
					continue
				}
				fi, err := e.Info()
				if errors.Is(err, os.ErrNotExist) { // deleted meanwhile
					continue
				}
				if err != nil {
					return fmt.Errorf("walk blobs: %w", err)
				}
				if err := fn(storage.BlobInfo{Digest: d, Size: fi.Size()}); err != nil {
					if errors.Is(err, storage.SkipAll) {
						return nil
					}
					return err
				}
			}
		}
	}
	return nil
}

// readDirNames returns the names of the subdirectories of dir, sorted.
func readDirNames(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// fileErr translates a missing file to storage.ErrNotFound with context.
func fileErr(err error, format string, a ...any) error {
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf(format+": %w", append(a, storage.ErrNotFound)...)
	}
	return fmt.Errorf(format+": %w", append(a, err)...)
}
