package badgerstore

import (
	"context"
	"encoding/json"

	"github.com/dgraph-io/badger/v4"
	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/storage"
)

// LinkBlob makes a blob readable from a repository. It returns
// storage.ErrNotFound if the repository does not exist. It does not check
// that the blob is committed: the caller links blobs it has just committed
// or stat'ed.
func (s *Store) LinkBlob(ctx context.Context, repo string, link storage.BlobLink) error {
	if err := checkComponent("repository", repo); err != nil {
		return err
	}
	if err := checkComponent("digest", string(link.Digest)); err != nil {
		return err
	}
	l := s.lockRepo(repo)
	l.RLock()
	defer l.RUnlock()
	ck := linkCacheKey(repo, link.Digest)
	gen := s.cache.hold(ck)
	err := s.write(ctx, func(txn *badger.Txn) error {
		return setLink(txn, repo, link)
	})
	if err != nil {
		s.cache.release(ck)
		return err
	}
	s.cache.releaseFill(ck, gen, newLinkEntry(repo, link))
	return nil
}

// setLink stores a link after checking that the repository exists.
func setLink(txn *badger.Txn, repo string, link storage.BlobLink) error {
	if _, err := txn.Get(repoKey(repo)); err != nil {
		return notFound(err, "repository %q", repo)
	}
	return setJSON(txn, linkKey(repo, link.Digest), link)
}

// GetBlobLink returns the link, or storage.ErrNotFound if the repository
// cannot read the blob. It is served from the read cache, or reads one key.
func (s *Store) GetBlobLink(ctx context.Context, repo string, dgst digest.Digest) (storage.BlobLink, error) {
	var link storage.BlobLink
	if err := checkReadComponent("repository", repo); err != nil {
		return link, err
	}
	if err := checkReadComponent("digest", string(dgst)); err != nil {
		return link, err
	}
	if err := s.checkOpen(); err != nil {
		return link, err
	}
	if e := s.cache.get(linkCacheKey(repo, dgst)); e != nil {
		return e.link, nil
	}
	t := s.cache.ticket()
	err := s.view(func(txn *badger.Txn) error {
		return notFound(getJSON(txn, linkKey(repo, dgst), &link), "blob %s in repository %q", dgst, repo)
	})
	if err != nil {
		return storage.BlobLink{}, err
	}
	s.cache.add(&t, newLinkEntry(repo, link))
	return link, nil
}

// UnlinkBlob removes the link. It returns storage.ErrNotFound if absent.
// Manifests that reference the blob are not checked: a repository that
// unlinks a referenced blob can no longer serve it.
func (s *Store) UnlinkBlob(ctx context.Context, repo string, dgst digest.Digest) error {
	if err := checkReadComponent("repository", repo); err != nil {
		return err
	}
	if err := checkReadComponent("digest", string(dgst)); err != nil {
		return err
	}
	ck := linkCacheKey(repo, dgst)
	s.cache.hold(ck)
	defer s.cache.release(ck)
	return s.write(ctx, func(txn *badger.Txn) error {
		k := linkKey(repo, dgst)
		if _, err := txn.Get(k); err != nil {
			return notFound(err, "blob %s in repository %q", dgst, repo)
		}
		return txn.Delete(k)
	})
}

// WalkBlobLinks calls fn for each blob linked to the repository, in digest
// order. It returns storage.ErrNotFound if the repository does not exist.
func (s *Store) WalkBlobLinks(ctx context.Context, repo string, fn func(storage.BlobLink) error) error {
	if err := checkReadComponent("repository", repo); err != nil {
		return err
	}
	return walk(ctx, s, walkOptions[storage.BlobLink]{
		prefix:   scope(pLink, repo),
		precheck: repoExists(repo),
		load: func(_ *badger.Txn, item *badger.Item) (storage.BlobLink, bool, error) {
			var link storage.BlobLink
			err := item.Value(func(v []byte) error { return json.Unmarshal(v, &link) })
			return link, err == nil, err
		},
	}, fn)
}
