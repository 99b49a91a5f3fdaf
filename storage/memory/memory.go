package memory

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/storage"
)

var (
	_ storage.Storage    = (*Store)(nil)
	_ storage.BlobWalker = (*Store)(nil)
)

// Store is an in-memory storage.Storage. The zero value is not usable; build
// one with New.
type Store struct {
	// blobMu guards blobs and data. Lock order: blobMu before metaMu (only
	// Close holds both).
	blobMu sync.RWMutex
	blobs  map[digest.Digest][]byte // committed blobs; never mutated in place
	// data holds the bytes received for each upload ID. A slice is only
	// ever appended to at its current length, or replaced by a fresh copy
	// when an append truncates it, so readers returned by ReadUpload (which
	// see a prefix) never observe a write.
	data map[string][]byte

	// metaMu guards repos and uploads.
	metaMu  sync.RWMutex
	repos   map[string]*repoState
	uploads map[string]storage.Upload

	// closed is written with both locks held and read with either.
	closed bool

	recs records
}

// repoState is everything stored for one repository. Records in its maps
// are replaced, never mutated in place, so a snapshot taken under the lock
// stays valid after the lock is released.
type repoState struct {
	rec       storage.Repository
	manifests map[digest.Digest]storage.Manifest
	tags      map[string]digest.Digest
	// tagIndex is the reverse of tags: manifest digest -> tags.
	tagIndex map[digest.Digest]map[string]struct{}
	// referrers maps a subject digest to the manifests that refer to it.
	referrers map[digest.Digest]map[digest.Digest]struct{}
	links     map[digest.Digest]storage.BlobLink
}

// New returns an empty Store.
func New() *Store {
	return &Store{
		blobs:   make(map[digest.Digest][]byte),
		data:    make(map[string][]byte),
		repos:   make(map[string]*repoState),
		uploads: make(map[string]storage.Upload),
	}
}

// Close releases everything the Store holds. It is idempotent and always
// returns nil; afterwards every other method returns storage.ErrClosed.
func (s *Store) Close() error {
	s.blobMu.Lock()
	defer s.blobMu.Unlock()
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	s.closed = true
	s.blobs, s.data, s.repos, s.uploads = nil, nil, nil, nil
	return nil
}

// ---------------------------------------------------------------------------
// Blob bytes

// StatBlob returns the size of a committed blob, or storage.ErrNotFound.
func (s *Store) StatBlob(_ context.Context, dgst digest.Digest) (storage.BlobInfo, error) {
	s.blobMu.RLock()
	defer s.blobMu.RUnlock()
	if s.closed {
		return storage.BlobInfo{}, storage.ErrClosed
	}
	b, ok := s.blobs[dgst]
	if !ok {
		return storage.BlobInfo{}, fmt.Errorf("blob %s: %w", dgst, storage.ErrNotFound)
	}
	return storage.BlobInfo{Digest: dgst, Size: int64(len(b))}, nil
}

// OpenBlob returns a reader over a committed blob, or storage.ErrNotFound.
// The reader stays valid after the blob is deleted or the Store closed.
func (s *Store) OpenBlob(_ context.Context, dgst digest.Digest) (io.ReadSeekCloser, error) {
	s.blobMu.RLock()
	defer s.blobMu.RUnlock()
	if s.closed {
		return nil, storage.ErrClosed
	}
	b, ok := s.blobs[dgst]
	if !ok {
		return nil, fmt.Errorf("blob %s: %w", dgst, storage.ErrNotFound)
	}
	return blobReader{bytes.NewReader(b)}, nil
}

// blobReader adds a no-op Close to a bytes.Reader.
type blobReader struct{ *bytes.Reader }

func (blobReader) Close() error { return nil }

// DeleteBlob removes a committed blob, or returns storage.ErrNotFound.
func (s *Store) DeleteBlob(_ context.Context, dgst digest.Digest) error {
	s.blobMu.Lock()
	defer s.blobMu.Unlock()
	if s.closed {
		return storage.ErrClosed
	}
	if _, ok := s.blobs[dgst]; !ok {
		return fmt.Errorf("blob %s: %w", dgst, storage.ErrNotFound)
	}
	delete(s.blobs, dgst)
	return nil
}

// WalkBlobs calls fn for every committed blob, in digest order, on a
// snapshot taken when the walk starts. fn may return storage.SkipAll.
func (s *Store) WalkBlobs(ctx context.Context, fn func(storage.BlobInfo) error) error {
	s.blobMu.RLock()
	if s.closed {
		s.blobMu.RUnlock()
		return storage.ErrClosed
	}
	infos := make([]storage.BlobInfo, 0, len(s.blobs))
	for d, b := range s.blobs {
		infos = append(infos, storage.BlobInfo{Digest: d, Size: int64(len(b))})
	}
	s.blobMu.RUnlock()
	slices.SortFunc(infos, func(a, b storage.BlobInfo) int { return cmp.Compare(a.Digest, b.Digest) })
	return walk(ctx, infos, fn)
}

// AppendUpload reads r to the end and appends the bytes to the upload's data
// at u.Offset, discarding any bytes stored beyond u.Offset first. It returns
// the number of bytes read from r. If reading r or the context fails,
// nothing of this call is kept and the error is returned with that number.
// It returns storage.ErrOffsetMismatch if u.Offset is beyond the bytes
// stored for the upload.
func (s *Store) AppendUpload(ctx context.Context, u *storage.Upload, r io.Reader) (int64, error) {
	// Read before locking so that a slow client blocks nobody.
	var buf bytes.Buffer
	if l, ok := r.(interface{ Len() int }); ok { // bytes.Reader, strings.Reader, ...
		buf.Grow(l.Len() + bytes.MinRead) // ReadFrom wants MinRead spare bytes
	}
	n, err := buf.ReadFrom(r)
	if err != nil {
		return n, fmt.Errorf("upload %s: append: %w", u.ID, err)
	}
	if err := ctx.Err(); err != nil {
		return n, err
	}

	s.blobMu.Lock()
	defer s.blobMu.Unlock()
	if s.closed {
		return 0, storage.ErrClosed
	}
	cur := s.data[u.ID]
	switch have := int64(len(cur)); {
	case u.Offset < 0 || u.Offset > have:
		return 0, fmt.Errorf("upload %s: offset %d, %d bytes stored: %w",
			u.ID, u.Offset, have, storage.ErrOffsetMismatch)
	case u.Offset == 0:
		// Nothing to keep: adopt the buffer without copying.
		s.data[u.ID] = buf.Bytes()
	case u.Offset < have:
		// Truncate into a fresh slice; see Store.data.
		next := make([]byte, u.Offset, u.Offset+n)
		copy(next, cur)
		s.data[u.ID] = append(next, buf.Bytes()...)
	default:
		s.data[u.ID] = appendGrow(cur, buf.Bytes())
	}
	return n, nil
}

// ReadUpload returns the bytes [0, u.Offset) of an upload. It returns
// storage.ErrNotFound for an unknown upload and storage.ErrOffsetMismatch
// if u.Offset is beyond the bytes stored.
func (s *Store) ReadUpload(_ context.Context, u *storage.Upload) (io.ReadCloser, error) {
	s.blobMu.RLock()
	defer s.blobMu.RUnlock()
	if s.closed {
		return nil, storage.ErrClosed
	}
	cur, ok := s.data[u.ID]
	if !ok {
		return nil, fmt.Errorf("upload %s: %w", u.ID, storage.ErrNotFound)
	}
	if u.Offset < 0 || u.Offset > int64(len(cur)) {
		return nil, fmt.Errorf("upload %s: offset %d, %d bytes stored: %w",
			u.ID, u.Offset, len(cur), storage.ErrOffsetMismatch)
	}
	return io.NopCloser(bytes.NewReader(cur[:u.Offset:u.Offset])), nil
}

// CommitUpload makes the upload's bytes visible as blob dgst. It returns
// storage.ErrSizeMismatch if the upload does not hold exactly u.Offset bytes
// (the data is kept) and storage.ErrNotFound if the upload holds no data.
// Committing a digest that exists succeeds and discards the upload's bytes.
func (s *Store) CommitUpload(_ context.Context, u *storage.Upload, dgst digest.Digest) error {
	s.blobMu.Lock()
	defer s.blobMu.Unlock()
	if s.closed {
		return storage.ErrClosed
	}
	cur, ok := s.data[u.ID]
	if !ok {
		return fmt.Errorf("upload %s: %w", u.ID, storage.ErrNotFound)
	}
	if int64(len(cur)) != u.Offset {
		return fmt.Errorf("upload %s: %d bytes stored, offset %d: %w",
			u.ID, len(cur), u.Offset, storage.ErrSizeMismatch)
	}
	delete(s.data, u.ID)
	if _, exists := s.blobs[dgst]; !exists {
		if cur == nil {
			cur = []byte{}
		}
		s.blobs[dgst] = cur[:len(cur):len(cur)]
	}
	return nil
}

// AbortUpload discards the upload's bytes. Aborting an unknown upload
// succeeds.
func (s *Store) AbortUpload(_ context.Context, u *storage.Upload) error {
	s.blobMu.Lock()
	defer s.blobMu.Unlock()
	if s.closed {
		return storage.ErrClosed
	}
	delete(s.data, u.ID)
	return nil
}

// ---------------------------------------------------------------------------
// Repositories

// CreateRepository stores a new repository, or returns
// storage.ErrAlreadyExists.
func (s *Store) CreateRepository(_ context.Context, repo storage.Repository) error {
	repo = cloneRepository(repo)
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	if s.closed {
		return storage.ErrClosed
	}
	if _, ok := s.repos[repo.Name]; ok {
		return fmt.Errorf("repository %s: %w", repo.Name, storage.ErrAlreadyExists)
	}
	s.repos[repo.Name] = newRepoState(repo)
	return nil
}

// GetRepository returns a repository record, or storage.ErrNotFound.
func (s *Store) GetRepository(_ context.Context, name string) (storage.Repository, error) {
	s.metaMu.RLock()
	r, err := s.repoLocked(name)
	var rec storage.Repository
	if err == nil {
		rec = r.rec
	}
	s.metaMu.RUnlock()
	if err != nil {
		return storage.Repository{}, err
	}
	return cloneRepository(rec), nil
}

// UpdateRepository applies fn to a copy of the record and stores the result
// unless fn fails, in which case fn's error is returned unchanged. fn runs
// under the Store's lock and must not call the Store. A change of Name is
// ignored. It returns storage.ErrNotFound if the repository does not exist.
func (s *Store) UpdateRepository(_ context.Context, name string, fn func(*storage.Repository) error) error {
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	r, err := s.repoLocked(name)
	if err != nil {
		return err
	}
	rec := cloneRepository(r.rec)
	if err := fn(&rec); err != nil {
		return err
	}
	rec.Name = name
	// Clone again: fn may have kept references to rec's slice or map.
	r.rec = cloneRepository(rec)
	return nil
}

// DeleteRepository removes a repository with its manifests, tags, referrers
// and blob links; blob bytes stay. It returns storage.ErrNotEmpty if the
// repository holds manifests and force is false, storage.ErrNotFound if it
// does not exist.
func (s *Store) DeleteRepository(_ context.Context, name string, force bool) error {
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	r, err := s.repoLocked(name)
	if err != nil {
		return err
	}
	if !force && len(r.manifests) > 0 {
		return fmt.Errorf("repository %s: %d manifests: %w", name, len(r.manifests), storage.ErrNotEmpty)
	}
	delete(s.repos, name)
	return nil
}

// WalkRepositories calls fn for each repository whose name sorts after
// `after`, in byte order, on a snapshot. fn may return storage.SkipAll.
func (s *Store) WalkRepositories(ctx context.Context, after string, fn func(storage.Repository) error) error {
	s.metaMu.RLock()
	if s.closed {
		s.metaMu.RUnlock()
		return storage.ErrClosed
	}
	recs := make([]storage.Repository, 0, len(s.repos))
	for name, r := range s.repos {
		if name > after {
			recs = append(recs, r.rec)
		}
	}
	s.metaMu.RUnlock()
	slices.SortFunc(recs, func(a, b storage.Repository) int { return cmp.Compare(a.Name, b.Name) })
	return walk(ctx, recs, func(rec storage.Repository) error { return fn(cloneRepository(rec)) })
}

// ---------------------------------------------------------------------------
// Manifests, tags, referrers

// PutManifest stores a manifest, its tags and, for create-on-push, its
// repository in one critical section. It returns storage.ErrNotFound if the
// repository does not exist and req.CreateRepository is nil,
// storage.ErrMissingReference if a blob in m.Blobs is not linked to the
// repository or a manifest in m.Manifests is not in it, and the error of
// req.CheckTag unchanged. On error nothing is written. CheckTag is called
// for each tag that points at another digest; it runs under the Store's lock
// and must not call the Store.
func (s *Store) PutManifest(_ context.Context, req storage.PutManifestRequest) error {
	m := cloneManifest(req.Manifest, true)
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	if s.closed {
		return storage.ErrClosed
	}
	r := s.repos[req.Repository]
	if r == nil && req.CreateRepository == nil {
		return fmt.Errorf("repository %s: %w", req.Repository, storage.ErrNotFound)
	}

	// Check everything before writing anything. A repository about to be
	// created (r == nil) holds no blobs and no manifests.
	for _, d := range m.Blobs {
		if r == nil {
			return fmt.Errorf("blob %s: %w", d, storage.ErrMissingReference)
		}
		if _, ok := r.links[d]; !ok {
			return fmt.Errorf("blob %s: %w", d, storage.ErrMissingReference)
		}
	}
	for _, d := range m.Manifests {
		if r == nil {
			return fmt.Errorf("manifest %s: %w", d, storage.ErrMissingReference)
		}
		if _, ok := r.manifests[d]; !ok {
			return fmt.Errorf("manifest %s: %w", d, storage.ErrMissingReference)
		}
	}
	if r != nil && req.CheckTag != nil {
		for _, tag := range req.Tags {
			if cur, ok := r.tags[tag]; ok && cur != m.Digest {
				if err := req.CheckTag(tag, cur); err != nil {
					return err
				}
			}
		}
	}

	if r == nil {
		rec := cloneRepository(*req.CreateRepository)
		rec.Name = req.Repository
		r = newRepoState(rec)
		s.repos[req.Repository] = r
	}
	if _, ok := r.manifests[m.Digest]; !ok {
		r.manifests[m.Digest] = m
		if m.Subject != "" {
			addToSet(r.referrers, m.Subject, m.Digest)
		}
	}
	for _, tag := range req.Tags {
		r.setTag(tag, m.Digest)
	}
	return nil
}

// GetManifest returns a manifest with its payload, or storage.ErrNotFound.
func (s *Store) GetManifest(_ context.Context, repo string, dgst digest.Digest) (storage.Manifest, error) {
	s.metaMu.RLock()
	m, err := s.manifestLocked(repo, dgst)
	s.metaMu.RUnlock()
	if err != nil {
		return storage.Manifest{}, err
	}
	return cloneManifest(m, true), nil
}

// DeleteManifest removes a manifest, its tags and its entry in the
// referrers index. It returns storage.ErrNotFound if absent.
func (s *Store) DeleteManifest(_ context.Context, repo string, dgst digest.Digest) error {
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	r, err := s.repoLocked(repo)
	if err != nil {
		return err
	}
	m, ok := r.manifests[dgst]
	if !ok {
		return fmt.Errorf("manifest %s in %s: %w", dgst, repo, storage.ErrNotFound)
	}
	delete(r.manifests, dgst)
	for tag := range r.tagIndex[dgst] {
		delete(r.tags, tag)
	}
	delete(r.tagIndex, dgst)
	if m.Subject != "" {
		removeFromSet(r.referrers, m.Subject, dgst)
	}
	return nil
}

// WalkManifests calls fn for each manifest of the repository whose digest
// sorts after `after`, in order, without payloads, on a snapshot. fn may
// return storage.SkipAll. It returns storage.ErrNotFound for an unknown
// repository.
func (s *Store) WalkManifests(ctx context.Context, repo string, after digest.Digest, fn func(storage.Manifest) error) error {
	s.metaMu.RLock()
	r, err := s.repoLocked(repo)
	var ms []storage.Manifest
	if err == nil {
		ms = make([]storage.Manifest, 0, len(r.manifests))
		for d, m := range r.manifests {
			if d > after {
				ms = append(ms, m)
			}
		}
	}
	s.metaMu.RUnlock()
	if err != nil {
		return err
	}
	return walkManifests(ctx, ms, fn)
}

// RecordPull sets the last-pulled time of a manifest, or returns
// storage.ErrNotFound.
func (s *Store) RecordPull(_ context.Context, repo string, dgst digest.Digest, at time.Time) error {
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	m, err := s.manifestLocked(repo, dgst)
	if err != nil {
		return err
	}
	m.LastPulledAt = at
	s.repos[repo].manifests[dgst] = m
	return nil
}

// ResolveTag returns the digest a tag points to, or storage.ErrNotFound.
func (s *Store) ResolveTag(_ context.Context, repo, tag string) (digest.Digest, error) {
	s.metaMu.RLock()
	defer s.metaMu.RUnlock()
	r, err := s.repoLocked(repo)
	if err != nil {
		return "", err
	}
	d, ok := r.tags[tag]
	if !ok {
		return "", fmt.Errorf("tag %s in %s: %w", tag, repo, storage.ErrNotFound)
	}
	return d, nil
}

// DeleteTag removes a tag, leaving its manifest, or returns
// storage.ErrNotFound.
func (s *Store) DeleteTag(_ context.Context, repo, tag string) error {
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	r, err := s.repoLocked(repo)
	if err != nil {
		return err
	}
	d, ok := r.tags[tag]
	if !ok {
		return fmt.Errorf("tag %s in %s: %w", tag, repo, storage.ErrNotFound)
	}
	delete(r.tags, tag)
	removeFromSet(r.tagIndex, d, tag)
	return nil
}

// WalkTags calls fn for each tag of the repository that sorts after `after`,
// in byte order, on a snapshot. fn may return storage.SkipAll. It returns
// storage.ErrNotFound for an unknown repository.
func (s *Store) WalkTags(ctx context.Context, repo, after string, fn func(tag string, dgst digest.Digest) error) error {
	type tagged struct {
		tag  string
		dgst digest.Digest
	}
	s.metaMu.RLock()
	r, err := s.repoLocked(repo)
	var ts []tagged
	if err == nil {
		ts = make([]tagged, 0, len(r.tags))
		for tag, d := range r.tags {
			if tag > after {
				ts = append(ts, tagged{tag, d})
			}
		}
	}
	s.metaMu.RUnlock()
	if err != nil {
		return err
	}
	slices.SortFunc(ts, func(a, b tagged) int { return cmp.Compare(a.tag, b.tag) })
	return walk(ctx, ts, func(t tagged) error { return fn(t.tag, t.dgst) })
}

// TagsOf returns the tags that point at a manifest, sorted. It returns
// storage.ErrNotFound if the repository or the manifest does not exist.
func (s *Store) TagsOf(_ context.Context, repo string, dgst digest.Digest) ([]string, error) {
	s.metaMu.RLock()
	defer s.metaMu.RUnlock()
	if _, err := s.manifestLocked(repo, dgst); err != nil {
		return nil, err
	}
	set := s.repos[repo].tagIndex[dgst]
	if len(set) == 0 {
		return nil, nil
	}
	return slices.Sorted(maps.Keys(set)), nil
}

// WalkReferrers calls fn for each manifest of the repository whose subject
// is subject, in digest order, without payloads, on a snapshot. fn may
// return storage.SkipAll. It returns storage.ErrNotFound for an unknown
// repository.
func (s *Store) WalkReferrers(ctx context.Context, repo string, subject digest.Digest, fn func(storage.Manifest) error) error {
	s.metaMu.RLock()
	r, err := s.repoLocked(repo)
	var ms []storage.Manifest
	if err == nil {
		set := r.referrers[subject]
		ms = make([]storage.Manifest, 0, len(set))
		for d := range set {
			ms = append(ms, r.manifests[d])
		}
	}
	s.metaMu.RUnlock()
	if err != nil {
		return err
	}
	return walkManifests(ctx, ms, fn)
}

// ---------------------------------------------------------------------------
// Blob links

// LinkBlob makes a blob readable from a repository, replacing an existing
// link. It returns storage.ErrNotFound if the repository does not exist. It
// does not check that the blob is committed.
func (s *Store) LinkBlob(_ context.Context, repo string, link storage.BlobLink) error {
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	r, err := s.repoLocked(repo)
	if err != nil {
		return err
	}
	r.links[link.Digest] = link
	return nil
}

// GetBlobLink returns a link, or storage.ErrNotFound.
func (s *Store) GetBlobLink(_ context.Context, repo string, dgst digest.Digest) (storage.BlobLink, error) {
	s.metaMu.RLock()
	defer s.metaMu.RUnlock()
	r, err := s.repoLocked(repo)
	if err != nil {
		return storage.BlobLink{}, err
	}
	l, ok := r.links[dgst]
	if !ok {
		return storage.BlobLink{}, fmt.Errorf("blob %s in %s: %w", dgst, repo, storage.ErrNotFound)
	}
	return l, nil
}

// UnlinkBlob removes a link, or returns storage.ErrNotFound.
func (s *Store) UnlinkBlob(_ context.Context, repo string, dgst digest.Digest) error {
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	r, err := s.repoLocked(repo)
	if err != nil {
		return err
	}
	if _, ok := r.links[dgst]; !ok {
		return fmt.Errorf("blob %s in %s: %w", dgst, repo, storage.ErrNotFound)
	}
	delete(r.links, dgst)
	return nil
}

// WalkBlobLinks calls fn for each blob linked to the repository, in digest
// order, on a snapshot. fn may return storage.SkipAll. It returns
// storage.ErrNotFound for an unknown repository.
func (s *Store) WalkBlobLinks(ctx context.Context, repo string, fn func(storage.BlobLink) error) error {
	s.metaMu.RLock()
	r, err := s.repoLocked(repo)
	var links []storage.BlobLink
	if err == nil {
		links = slices.Collect(maps.Values(r.links))
	}
	s.metaMu.RUnlock()
	if err != nil {
		return err
	}
	slices.SortFunc(links, func(a, b storage.BlobLink) int { return cmp.Compare(a.Digest, b.Digest) })
	return walk(ctx, links, fn)
}

// ---------------------------------------------------------------------------
// Upload state

// PutUpload creates or replaces the state of an upload session.
func (s *Store) PutUpload(_ context.Context, u storage.Upload) error {
	if u.ID == "" {
		return errors.New("memory: upload without ID")
	}
	u = cloneUpload(u)
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	if s.closed {
		return storage.ErrClosed
	}
	s.uploads[u.ID] = u
	return nil
}

// GetUpload returns the state of an upload session, or storage.ErrNotFound.
func (s *Store) GetUpload(_ context.Context, id string) (storage.Upload, error) {
	s.metaMu.RLock()
	u, err := s.uploadLocked(id)
	s.metaMu.RUnlock()
	if err != nil {
		return storage.Upload{}, err
	}
	return cloneUpload(u), nil
}

// DeleteUpload removes the state of an upload session, or returns
// storage.ErrNotFound.
func (s *Store) DeleteUpload(_ context.Context, id string) error {
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	if _, err := s.uploadLocked(id); err != nil {
		return err
	}
	delete(s.uploads, id)
	return nil
}

// CompleteUpload deletes the upload state and links the blob to the
// upload's repository in one critical section. It returns
// storage.ErrNotFound, writing nothing, if the upload or its repository
// does not exist.
func (s *Store) CompleteUpload(_ context.Context, id string, link storage.BlobLink) error {
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	u, err := s.uploadLocked(id)
	if err != nil {
		return err
	}
	r, err := s.repoLocked(u.Repository)
	if err != nil {
		return fmt.Errorf("upload %s: %w", id, err)
	}
	delete(s.uploads, id)
	r.links[link.Digest] = link
	return nil
}

// WalkUploads calls fn for every upload session, in ID order, on a snapshot.
// fn may return storage.SkipAll.
func (s *Store) WalkUploads(ctx context.Context, fn func(storage.Upload) error) error {
	s.metaMu.RLock()
	if s.closed {
		s.metaMu.RUnlock()
		return storage.ErrClosed
	}
	us := slices.Collect(maps.Values(s.uploads))
	s.metaMu.RUnlock()
	slices.SortFunc(us, func(a, b storage.Upload) int { return cmp.Compare(a.ID, b.ID) })
	return walk(ctx, us, func(u storage.Upload) error { return fn(cloneUpload(u)) })
}

// ---------------------------------------------------------------------------
// Helpers. Methods named *Locked expect metaMu to be held.

func newRepoState(rec storage.Repository) *repoState {
	return &repoState{
		rec:       rec,
		manifests: make(map[digest.Digest]storage.Manifest),
		tags:      make(map[string]digest.Digest),
		tagIndex:  make(map[digest.Digest]map[string]struct{}),
		referrers: make(map[digest.Digest]map[digest.Digest]struct{}),
		links:     make(map[digest.Digest]storage.BlobLink),
	}
}

// setTag points tag at dgst, keeping tagIndex in step.
func (r *repoState) setTag(tag string, dgst digest.Digest) {
	if cur, ok := r.tags[tag]; ok {
		if cur == dgst {
			return
		}
		removeFromSet(r.tagIndex, cur, tag)
	}
	r.tags[tag] = dgst
	addToSet(r.tagIndex, dgst, tag)
}

func (s *Store) repoLocked(name string) (*repoState, error) {
	if s.closed {
		return nil, storage.ErrClosed
	}
	r, ok := s.repos[name]
	if !ok {
		return nil, fmt.Errorf("repository %s: %w", name, storage.ErrNotFound)
	}
	return r, nil
}

func (s *Store) manifestLocked(repo string, dgst digest.Digest) (storage.Manifest, error) {
	r, err := s.repoLocked(repo)
	if err != nil {
		return storage.Manifest{}, err
	}
	m, ok := r.manifests[dgst]
	if !ok {
		return storage.Manifest{}, fmt.Errorf("manifest %s in %s: %w", dgst, repo, storage.ErrNotFound)
	}
	return m, nil
}

func (s *Store) uploadLocked(id string) (storage.Upload, error) {
	if s.closed {
		return storage.Upload{}, storage.ErrClosed
	}
	u, ok := s.uploads[id]
	if !ok {
		return storage.Upload{}, fmt.Errorf("upload %s: %w", id, storage.ErrNotFound)
	}
	return u, nil
}

// appendGrow appends src to dst, at least doubling dst's capacity when it
// must grow (append grows large slices by only 1.25x, which makes chunked
// uploads copy their data many times over).
func appendGrow(dst, src []byte) []byte {
	if cap(dst)-len(dst) < len(src) {
		next := make([]byte, len(dst), max(2*cap(dst), len(dst)+len(src)))
		copy(next, dst)
		dst = next
	}
	return append(dst, src...)
}

func addToSet[K, V comparable](m map[K]map[V]struct{}, k K, v V) {
	set := m[k]
	if set == nil {
		set = make(map[V]struct{})
		m[k] = set
	}
	set[v] = struct{}{}
}

func removeFromSet[K, V comparable](m map[K]map[V]struct{}, k K, v V) {
	set := m[k]
	delete(set, v)
	if len(set) == 0 {
		delete(m, k)
	}
}

// walk calls fn for each item, stopping at the first error. SkipAll stops
// the walk with a nil error.
func walk[T any](ctx context.Context, items []T, fn func(T) error) error {
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(it); err != nil {
			if errors.Is(err, storage.SkipAll) {
				return nil
			}
			return err
		}
	}
	return nil
}

func walkManifests(ctx context.Context, ms []storage.Manifest, fn func(storage.Manifest) error) error {
	slices.SortFunc(ms, func(a, b storage.Manifest) int { return cmp.Compare(a.Digest, b.Digest) })
	return walk(ctx, ms, func(m storage.Manifest) error { return fn(cloneManifest(m, false)) })
}

func cloneRepository(r storage.Repository) storage.Repository {
	r.MutabilityExclusionFilters = slices.Clone(r.MutabilityExclusionFilters)
	r.ResourceTags = maps.Clone(r.ResourceTags)
	return r
}

func cloneManifest(m storage.Manifest, payload bool) storage.Manifest {
	m.Annotations = maps.Clone(m.Annotations)
	m.Blobs = slices.Clone(m.Blobs)
	m.Manifests = slices.Clone(m.Manifests)
	if payload {
		m.Payload = slices.Clone(m.Payload)
	} else {
		m.Payload = nil
	}
	return m
}

func cloneUpload(u storage.Upload) storage.Upload {
	u.HashState = slices.Clone(u.HashState)
	u.Parts = slices.Clone(u.Parts)
	return u
}
