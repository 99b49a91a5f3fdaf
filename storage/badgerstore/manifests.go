package badgerstore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/dgraph-io/badger/v4"
	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/storage"
)

// PutManifest stores a manifest, its payload, its tags and its index
// entries in one badger transaction (which it may share with concurrent
// writes, see the package documentation). Inside that transaction it
// creates the
// repository if req.CreateRepository is set and the repository is missing
// (storage.ErrNotFound if it is missing and not set), checks that every
// blob in m.Blobs is linked to the repository and every manifest in
// m.Manifests is in it (storage.ErrMissingReference, wrapped with the
// digest), and calls req.CheckTag for each tag that points at another
// digest; an error from CheckTag aborts the write and is returned
// unchanged. CheckTag may run more than once if a concurrent writer
// conflicts, and must not call the Store.
//
// Putting a manifest that already exists keeps its record (PushedAt,
// LastPulledAt) and payload and only moves tags. Moving a tag also moves
// its entry in the reverse tag index.
func (s *Store) PutManifest(ctx context.Context, req storage.PutManifestRequest) error {
	repo, m := req.Repository, &req.Manifest
	if err := checkManifestRequest(req); err != nil {
		return err
	}
	tags := dedupe(req.Tags)

	l := s.lockRepo(repo)
	l.RLock()
	defer l.RUnlock()
	h := keyHolds{c: s.cache}
	for _, t := range tags {
		h.holdNew(tagCacheKey(repo, t))
	}
	if len(tags) > 0 {
		h.holdNew(tagListCacheKey(repo))
	}
	defer h.release()
	return s.write(ctx, func(txn *badger.Txn) error {
		// The repository, created on push if asked for. A cached record
		// or link exists (see cache.go).
		ok := s.cache.has(repoCacheKey(repo))
		if !ok {
			var err error
			if ok, err = exists(txn, repoKey(repo)); err != nil {
				return err
			}
		}
		if !ok {
			if req.CreateRepository == nil {
				return fmt.Errorf("repository %q: %w", repo, storage.ErrNotFound)
			}
			r := *req.CreateRepository
			r.Name = repo
			if err := setJSON(txn, repoKey(repo), r); err != nil {
				return err
			}
		}

		// References. UnlinkBlob and DeleteManifest go through the
		// group commit too, so this sees them in queue order; a cached
		// link was not held by an UnlinkBlob queued before this write.
		for _, b := range m.Blobs {
			if s.cache.has(linkCacheKey(repo, b)) {
				continue
			}
			ok, err := exists(txn, linkKey(repo, b))
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("blob %s not in repository %q: %w", b, repo, storage.ErrMissingReference)
			}
		}
		for _, c := range m.Manifests {
			ok, err := exists(txn, manifestKey(repo, c))
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("manifest %s not in repository %q: %w", c, repo, storage.ErrMissingReference)
			}
		}

		// Tags: check all before writing anything.
		type move struct {
			tag  string
			from digest.Digest // "" for a new tag
		}
		var moves []move
		for _, t := range tags {
			cur, err := getTag(txn, repo, t)
			switch {
			case errors.Is(err, badger.ErrKeyNotFound):
				moves = append(moves, move{tag: t})
				continue
			case err != nil:
				return err
			case cur == m.Digest:
				continue
			}
			if req.CheckTag != nil {
				if err := req.CheckTag(t, cur); err != nil {
					return err
				}
			}
			moves = append(moves, move{tag: t, from: cur})
		}

		// The manifest, unless it is already stored.
		mk := manifestKey(repo, m.Digest)
		ok, err := exists(txn, mk)
		if err != nil {
			return err
		}
		if !ok {
			if err := setManifest(txn, mk, m); err != nil {
				return err
			}
			payload := m.Payload
			if payload == nil {
				payload = []byte{}
			}
			if err := txn.Set(payloadKey(repo, m.Digest), payload); err != nil {
				return err
			}
			if m.Subject != "" {
				if err := txn.Set(referrerKey(repo, m.Subject, m.Digest), nil); err != nil {
					return err
				}
			}
			for _, b := range m.Blobs {
				if err := txn.Set(blobRefKey(b, repo, m.Digest), nil); err != nil {
					return err
				}
			}
		}

		for _, mv := range moves {
			if err := txn.Set(tagKey(repo, mv.tag), []byte(m.Digest)); err != nil {
				return err
			}
			if mv.from != "" {
				if err := txn.Delete(manifestTagKey(repo, mv.from, mv.tag)); err != nil {
					return err
				}
			}
			if err := txn.Set(manifestTagKey(repo, m.Digest, mv.tag), nil); err != nil {
				return err
			}
		}
		return nil
	})
}

// checkManifestRequest rejects names that cannot be key components.
func checkManifestRequest(req storage.PutManifestRequest) error {
	m := &req.Manifest
	if err := checkComponent("repository", req.Repository); err != nil {
		return err
	}
	if err := checkComponent("digest", string(m.Digest)); err != nil {
		return err
	}
	if m.Subject != "" {
		if err := checkComponent("subject", string(m.Subject)); err != nil {
			return err
		}
	}
	for _, t := range req.Tags {
		if err := checkComponent("tag", t); err != nil {
			return err
		}
	}
	for _, d := range m.Blobs {
		if err := checkComponent("blob digest", string(d)); err != nil {
			return err
		}
	}
	for _, d := range m.Manifests {
		if err := checkComponent("manifest digest", string(d)); err != nil {
			return err
		}
	}
	return nil
}

// dedupe returns ss without repeated elements, in first-seen order.
func dedupe(ss []string) []string {
	if len(ss) < 2 {
		return ss
	}
	out := make([]string, 0, len(ss))
	seen := make(map[string]bool, len(ss))
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// getTag returns the digest a tag points at, or badger.ErrKeyNotFound.
func getTag(txn *badger.Txn, repo, tag string) (digest.Digest, error) {
	item, err := txn.Get(tagKey(repo, tag))
	if err != nil {
		return "", err
	}
	var d digest.Digest
	err = item.Value(func(v []byte) error {
		d = digest.Digest(v) // string conversion copies
		return nil
	})
	return d, err
}

// GetManifest returns a manifest with its payload, or storage.ErrNotFound.
// It is served from the read cache, or reads two keys in one read
// transaction. The result shares no memory with the cache.
func (s *Store) GetManifest(ctx context.Context, repo string, dgst digest.Digest) (storage.Manifest, error) {
	if err := checkReadComponent("repository", repo); err != nil {
		return storage.Manifest{}, err
	}
	if err := checkReadComponent("digest", string(dgst)); err != nil {
		return storage.Manifest{}, err
	}
	m, err := s.lookupManifest(repo, "", dgst, true)
	if err != nil {
		return storage.Manifest{}, err
	}
	return cloneManifest(*m), nil
}

// ResolveManifest implements storage.ManifestResolver: it returns the
// manifest that tag points to, or if tag is empty the manifest dgst, with
// its payload if payload is set. A hot manifest is served from the read
// cache without a transaction; otherwise the tag, the record and the
// payload are read in one read transaction. The result shares memory with
// the cache and must not be modified.
func (s *Store) ResolveManifest(ctx context.Context, repo, tag string, dgst digest.Digest, payload bool) (storage.Manifest, error) {
	if err := checkReadComponent("repository", repo); err != nil {
		return storage.Manifest{}, err
	}
	if tag != "" {
		if err := checkReadComponent("tag", tag); err != nil {
			return storage.Manifest{}, err
		}
	} else if err := checkReadComponent("digest", string(dgst)); err != nil {
		return storage.Manifest{}, err
	}
	m, err := s.lookupManifest(repo, tag, dgst, payload)
	if err != nil {
		return storage.Manifest{}, err
	}
	res := *m
	if !payload {
		res.Payload = nil
	}
	return res, nil
}

// lookupManifest returns the manifest that tag points to, or dgst if tag
// is empty, from the cache or from badger. It reads the payload if payload
// is set or if the manifest will be cached. The result may be the cached
// record itself: callers must not modify it.
func (s *Store) lookupManifest(repo, tag string, dgst digest.Digest, payload bool) (*storage.Manifest, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if tag != "" {
		if e := s.cache.get(tagCacheKey(repo, tag)); e != nil {
			tag, dgst = "", e.dgst
		}
	}
	if tag == "" {
		if e := s.cache.get(manifestCacheKey(repo, dgst)); e != nil {
			return e.manifest, nil
		}
	}
	t := s.cache.ticket() // before the transaction: see cache.go
	withPayload := payload || s.cache != nil
	var m storage.Manifest
	err := s.view(func(txn *badger.Txn) error {
		d := dgst
		if tag != "" {
			var err error
			if d, err = getTag(txn, repo, tag); err != nil {
				return notFound(err, "tag %q in repository %q", tag, repo)
			}
		}
		if err := getManifest(txn, manifestKey(repo, d), &m); err != nil {
			return notFound(err, "manifest %s in repository %q", d, repo)
		}
		m.Digest = d
		if !withPayload {
			return nil
		}
		item, err := txn.Get(payloadKey(repo, d))
		if err != nil {
			return notFound(err, "payload of manifest %s in repository %q", d, repo)
		}
		m.Payload, err = item.ValueCopy(nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	if tag != "" {
		s.cache.add(&t, newTagEntry(repo, tag, m.Digest))
	}
	if withPayload {
		s.cache.add(&t, newManifestEntry(repo, &m))
	}
	return &m, nil
}

// DeleteManifest removes a manifest, its payload, every tag pointing at it,
// its referrers entry and its blob-reference entries, in one transaction.
// Manifests that name it as their subject keep their entries. It returns
// storage.ErrNotFound if the manifest does not exist.
func (s *Store) DeleteManifest(ctx context.Context, repo string, dgst digest.Digest) error {
	if err := checkReadComponent("repository", repo); err != nil {
		return err
	}
	if err := checkReadComponent("digest", string(dgst)); err != nil {
		return err
	}
	h := keyHolds{c: s.cache}
	h.holdNew(manifestCacheKey(repo, dgst))
	h.holdNew(tagListCacheKey(repo))
	defer h.release()
	return s.write(ctx, func(txn *badger.Txn) error {
		var m storage.Manifest
		if err := getManifest(txn, manifestKey(repo, dgst), &m); err != nil {
			return notFound(err, "manifest %s in repository %q", dgst, repo)
		}
		m.Digest = dgst
		return deleteManifestKeys(txn, repo, &m, &h)
	})
}

// deleteManifestKeys deletes every key that exists because of manifest m.
// It holds the cache keys of the tags it deletes in h, if h is not nil.
func deleteManifestKeys(txn *badger.Txn, repo string, m *storage.Manifest, h *keyHolds) error {
	prefix := scope(pManifestTag, repo, string(m.Digest))
	for _, k := range keysWithPrefix(txn, prefix, int(^uint(0)>>1)) {
		tag := string(k[len(prefix):])
		cur, err := getTag(txn, repo, tag)
		switch {
		case err == nil && cur == m.Digest:
			h.hold(tagCacheKey(repo, tag))
			if err := txn.Delete(tagKey(repo, tag)); err != nil {
				return err
			}
		case err != nil && !errors.Is(err, badger.ErrKeyNotFound):
			return err
		}
		if err := txn.Delete(k); err != nil {
			return err
		}
	}
	keys := [][]byte{manifestKey(repo, m.Digest), payloadKey(repo, m.Digest)}
	if m.Subject != "" {
		keys = append(keys, referrerKey(repo, m.Subject, m.Digest))
	}
	for _, b := range m.Blobs {
		keys = append(keys, blobRefKey(b, repo, m.Digest))
	}
	for _, k := range keys {
		if err := txn.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// WalkManifests calls fn for each manifest in the repository whose digest
// sorts after `after`, in lexical order, without payloads. It returns
// storage.ErrNotFound if the repository does not exist.
func (s *Store) WalkManifests(ctx context.Context, repo string, cursor digest.Digest, fn func(storage.Manifest) error) error {
	if err := checkReadComponent("repository", repo); err != nil {
		return err
	}
	prefix := scope(pManifest, repo)
	return walk(ctx, s, walkOptions[storage.Manifest]{
		prefix:   prefix,
		start:    after(prefix, string(cursor)),
		precheck: repoExists(repo),
		load: func(_ *badger.Txn, item *badger.Item) (storage.Manifest, bool, error) {
			var m storage.Manifest
			err := item.Value(func(v []byte) error { return decodeManifest(v, &m) })
			return m, err == nil, err
		},
	}, fn)
}

// RecordPull sets the last-pulled time of a manifest. It returns
// storage.ErrNotFound if the manifest does not exist. Recording the time
// already stored writes nothing.
func (s *Store) RecordPull(ctx context.Context, repo string, dgst digest.Digest, at time.Time) error {
	if err := checkReadComponent("repository", repo); err != nil {
		return err
	}
	if err := checkReadComponent("digest", string(dgst)); err != nil {
		return err
	}
	ck := manifestCacheKey(repo, dgst)
	s.cache.hold(ck)
	defer s.cache.release(ck)
	return s.write(ctx, func(txn *badger.Txn) error {
		k := manifestKey(repo, dgst)
		var m storage.Manifest
		if err := getManifest(txn, k, &m); err != nil {
			return notFound(err, "manifest %s in repository %q", dgst, repo)
		}
		if m.LastPulledAt.Equal(at) {
			return nil
		}
		m.LastPulledAt = at
		return setManifest(txn, k, &m)
	})
}

// ResolveTag returns the digest a tag points to, or storage.ErrNotFound.
// It is served from the read cache, or reads one key.
func (s *Store) ResolveTag(ctx context.Context, repo, tag string) (digest.Digest, error) {
	if err := checkReadComponent("repository", repo); err != nil {
		return "", err
	}
	if err := checkReadComponent("tag", tag); err != nil {
		return "", err
	}
	if err := s.checkOpen(); err != nil {
		return "", err
	}
	if e := s.cache.get(tagCacheKey(repo, tag)); e != nil {
		return e.dgst, nil
	}
	t := s.cache.ticket()
	var d digest.Digest
	err := s.view(func(txn *badger.Txn) error {
		var err error
		d, err = getTag(txn, repo, tag)
		return notFound(err, "tag %q in repository %q", tag, repo)
	})
	if err != nil {
		return "", err
	}
	s.cache.add(&t, newTagEntry(repo, tag, d))
	return d, nil
}

// DeleteTag removes a tag, leaving its manifest. It returns
// storage.ErrNotFound if the tag does not exist.
func (s *Store) DeleteTag(ctx context.Context, repo, tag string) error {
	if err := checkReadComponent("repository", repo); err != nil {
		return err
	}
	if err := checkReadComponent("tag", tag); err != nil {
		return err
	}
	h := keyHolds{c: s.cache}
	h.holdNew(tagCacheKey(repo, tag))
	h.holdNew(tagListCacheKey(repo))
	defer h.release()
	return s.write(ctx, func(txn *badger.Txn) error {
		d, err := getTag(txn, repo, tag)
		if err != nil {
			return notFound(err, "tag %q in repository %q", tag, repo)
		}
		if err := txn.Delete(tagKey(repo, tag)); err != nil {
			return err
		}
		return txn.Delete(manifestTagKey(repo, d, tag))
	})
}

// tagEntry is one step of WalkTags.
type tagEntry struct {
	tag string
	d   digest.Digest
}

// WalkTags calls fn for each tag of the repository that sorts after
// `after`, in lexical byte order. It returns storage.ErrNotFound if the
// repository does not exist. A repository's whole tag list is cached after
// a walk of all of it, and later walks are served from the cache until a
// write changes the tags.
//
// Like walk, it reads a page of tags per read transaction and calls fn
// outside it. Pages start small, for the listing of one page of tags, and
// double up to maxTagPage for a whole listing. The tags and digests of a
// page are copied out of badger into one string, which the entries slice,
// rather than into two strings each.
func (s *Store) WalkTags(ctx context.Context, repo, cursor string, fn func(tag string, dgst digest.Digest) error) error {
	if err := checkReadComponent("repository", repo); err != nil {
		return err
	}
	if err := s.checkOpen(); err != nil {
		return err
	}
	if e := s.cache.get(tagListCacheKey(repo)); e != nil {
		tags := e.tags
		i := sort.Search(len(tags), func(i int) bool { return tags[i].tag > cursor })
		for _, t := range tags[i:] {
			if err := fn(t.tag, t.d); err != nil {
				if errors.Is(err, storage.SkipAll) {
					return nil
				}
				return err
			}
		}
		return nil
	}
	// A walk of every tag fills the cache, if no write changed the tags
	// since it started.
	t := s.cache.ticket()
	var whole []tagEntry
	fill := cursor == "" && s.cache != nil
	var wholeSize int64
	prefix := scope(pTag, repo)
	seek := after(prefix, cursor)
	var (
		buf  []byte
		ends []int // per entry: end of the tag, end of the digest in buf
		page []tagEntry
	)
	size := minTagPage
	for first := true; ; first, size = false, min(2*size, maxTagPage) {
		if err := ctx.Err(); err != nil {
			return err
		}
		more := false
		err := s.view(func(txn *badger.Txn) error {
			buf, ends, more = buf[:0], ends[:0], false
			if first {
				if err := repoExists(repo)(txn); err != nil {
					return err
				}
			}
			it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
			defer it.Close()
			for it.Seek(seek); it.ValidForPrefix(prefix); it.Next() {
				if len(ends) == 2*size {
					more = true
					break
				}
				item := it.Item()
				buf = append(buf, item.Key()[len(prefix):]...)
				ends = append(ends, len(buf))
				err := item.Value(func(v []byte) error {
					buf = append(buf, v...)
					return nil
				})
				if err != nil {
					return err
				}
				ends = append(ends, len(buf))
			}
			return nil
		})
		if err != nil {
			return err
		}
		all := string(buf)
		page = page[:0]
		for i, start := 0, 0; i < len(ends); i += 2 {
			e := tagEntry{tag: all[start:ends[i]], d: digest.Digest(all[ends[i]:ends[i+1]])}
			page = append(page, e)
			start = ends[i+1]
		}
		if fill {
			if wholeSize += int64(len(all)); wholeSize > maxTagListBytes {
				fill, whole = false, nil
			} else {
				whole = append(whole, page...)
			}
		}
		for _, e := range page {
			if err := fn(e.tag, e.d); err != nil {
				if errors.Is(err, storage.SkipAll) {
					return nil
				}
				return err
			}
		}
		if !more {
			if fill {
				s.cache.add(&t, newTagListEntry(repo, whole))
			}
			return nil
		}
		seek = after(prefix, page[len(page)-1].tag)
	}
}

// maxTagListBytes bounds the tags and digests a walk collects to fill the
// cache; the cache refuses larger lists anyway.
const maxTagListBytes = 4 << 20

// The number of tags WalkTags reads per read transaction.
const (
	minTagPage = 128
	maxTagPage = 4096
)

// TagsOf returns the tags that point at a manifest, sorted. It returns
// storage.ErrNotFound if the repository or the manifest does not exist.
func (s *Store) TagsOf(ctx context.Context, repo string, dgst digest.Digest) ([]string, error) {
	if err := checkReadComponent("repository", repo); err != nil {
		return nil, err
	}
	if err := checkReadComponent("digest", string(dgst)); err != nil {
		return nil, err
	}
	var tags []string
	err := s.view(func(txn *badger.Txn) error {
		if err := repoExists(repo)(txn); err != nil {
			return err
		}
		if _, err := txn.Get(manifestKey(repo, dgst)); err != nil {
			return notFound(err, "manifest %s in repository %q", dgst, repo)
		}
		prefix := scope(pManifestTag, repo, string(dgst))
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			tags = append(tags, string(it.Item().Key()[len(prefix):]))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return tags, nil
}

// WalkReferrers calls fn for each manifest in the repository whose subject
// is `subject`, in digest order, without payloads. It returns
// storage.ErrNotFound if the repository does not exist.
func (s *Store) WalkReferrers(ctx context.Context, repo string, subject digest.Digest, fn func(storage.Manifest) error) error {
	if err := checkReadComponent("repository", repo); err != nil {
		return err
	}
	if err := checkReadComponent("subject", string(subject)); err != nil {
		return err
	}
	prefix := scope(pReferrer, repo, string(subject))
	return walk(ctx, s, walkOptions[storage.Manifest]{
		prefix:   prefix,
		precheck: repoExists(repo),
		load: func(txn *badger.Txn, item *badger.Item) (storage.Manifest, bool, error) {
			d := digest.Digest(item.Key()[len(prefix):])
			var m storage.Manifest
			err := getManifest(txn, manifestKey(repo, d), &m)
			if errors.Is(err, badger.ErrKeyNotFound) {
				return m, false, nil
			}
			return m, err == nil, err
		},
	}, fn)
}
