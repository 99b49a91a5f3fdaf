package badgerstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/berth-dev/berth/storage"
)

// CreateRepository stores a new repository record. It returns
// storage.ErrAlreadyExists if one with that name exists.
func (s *Store) CreateRepository(ctx context.Context, repo storage.Repository) error {
	if err := checkComponent("repository", repo.Name); err != nil {
		return err
	}
	l := s.lockRepo(repo.Name)
	l.RLock()
	defer l.RUnlock()
	return s.write(ctx, func(txn *badger.Txn) error {
		k := repoKey(repo.Name)
		ok, err := exists(txn, k)
		if err != nil {
			return err
		}
		if ok {
			return fmt.Errorf("repository %q: %w", repo.Name, storage.ErrAlreadyExists)
		}
		return setJSON(txn, k, repo)
	})
}

// GetRepository returns a repository record, or storage.ErrNotFound. It is
// served from the read cache, or reads one key.
func (s *Store) GetRepository(ctx context.Context, name string) (storage.Repository, error) {
	if err := checkReadComponent("repository", name); err != nil {
		return storage.Repository{}, err
	}
	if err := s.checkOpen(); err != nil {
		return storage.Repository{}, err
	}
	if e := s.cache.get(repoCacheKey(name)); e != nil {
		return cloneRepository(*e.repo), nil
	}
	t := s.cache.ticket()
	var r storage.Repository
	err := s.view(func(txn *badger.Txn) error {
		return notFound(getJSON(txn, repoKey(name), &r), "repository %q", name)
	})
	if err != nil {
		return storage.Repository{}, err
	}
	if s.cache != nil {
		c := cloneRepository(r)
		s.cache.add(&t, newRepoEntry(&c))
	}
	return r, nil
}

// UpdateRepository applies fn to the record inside a transaction and stores
// the result. It returns storage.ErrNotFound if the repository does not
// exist; an error from fn aborts and is returned unchanged. fn may run more
// than once if a concurrent writer conflicts, and must not call the Store.
// The name cannot be changed: it is reset after fn.
func (s *Store) UpdateRepository(ctx context.Context, name string, fn func(*storage.Repository) error) error {
	if err := checkReadComponent("repository", name); err != nil {
		return err
	}
	ck := repoCacheKey(name)
	s.cache.hold(ck)
	defer s.cache.release(ck)
	return s.write(ctx, func(txn *badger.Txn) error {
		k := repoKey(name)
		var r storage.Repository
		if err := getJSON(txn, k, &r); err != nil {
			return notFound(err, "repository %q", name)
		}
		if err := fn(&r); err != nil {
			return err
		}
		r.Name = name
		return setJSON(txn, k, r)
	})
}

// deleteBatch bounds how many keys one DeleteRepository transaction
// deletes. It halves on badger.ErrTxnTooBig. A variable for tests.
var deleteBatch = 4096

// DeleteRepository removes the repository and every key under it:
// manifests, payloads, tags, the reverse tag and referrers indexes, the
// blob-reference entries of its manifests and its blob links. Upload
// sessions are left to expire. It returns storage.ErrNotEmpty if the
// repository holds manifests and force is false, storage.ErrNotFound if it
// does not exist.
//
// A small repository is deleted in one transaction. A large one is deleted
// in batches, tags first and the repository record last, so that a crash
// midway leaves a smaller repository that still exists (and can be deleted
// again), never unreachable keys. While it runs, no key is added to the
// repository (see lockRepo).
func (s *Store) DeleteRepository(ctx context.Context, name string, force bool) error {
	if err := checkReadComponent("repository", name); err != nil {
		return err
	}
	l := s.lockRepo(name)
	l.Lock()
	defer l.Unlock()
	s.cache.holdRepo(name)
	defer s.cache.releaseRepo(name)

	limit := deleteBatch
	for {
		done := false
		err := s.update(ctx, func(txn *badger.Txn) error {
			var err error
			done, err = deleteRepoBatch(txn, name, force, limit)
			return err
		})
		switch {
		case errors.Is(err, badger.ErrTxnTooBig) && limit > 1:
			limit /= 2
			continue
		case err != nil:
			return err
		case done:
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// deleteRepoBatch deletes up to about limit keys of a repository and, once
// nothing else is left, its record. It reports whether the record is gone.
func deleteRepoBatch(txn *badger.Txn, name string, force bool, limit int) (bool, error) {
	ok, err := exists(txn, repoKey(name))
	if err != nil {
		return false, err
	}
	if !ok {
		return false, fmt.Errorf("repository %q: %w", name, storage.ErrNotFound)
	}
	if !force && anyWithPrefix(txn, scope(pManifest, name)) {
		return false, fmt.Errorf("repository %q holds manifests: %w", name, storage.ErrNotEmpty)
	}
	budget := limit

	// Tags and their reverse index first: a partial delete never leaves a
	// tag pointing at a deleted manifest.
	for _, p := range []string{pTag, pManifestTag} {
		keys := keysWithPrefix(txn, scope(p, name), budget)
		for _, k := range keys {
			if err := txn.Delete(k); err != nil {
				return false, err
			}
		}
		if budget -= len(keys); budget <= 0 {
			return false, nil
		}
	}

	// Manifests with their payloads, referrers and blob-reference entries.
	{
		var ms []storage.Manifest
		cost := 0
		prefix := scope(pManifest, name)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		for it.Seek(prefix); it.ValidForPrefix(prefix) && cost < budget; it.Next() {
			var m storage.Manifest
			if err := it.Item().Value(func(v []byte) error { return decodeManifest(v, &m) }); err != nil {
				it.Close()
				return false, err
			}
			ms = append(ms, m)
			cost += 3 + len(m.Blobs)
		}
		it.Close()
		for _, m := range ms {
			if err := deleteManifestKeys(txn, name, &m, nil); err != nil {
				return false, err
			}
		}
		if budget -= cost; budget <= 0 {
			return false, nil
		}
	}

	// Sweep entries that no manifest record accounts for (there should be
	// none), then the blob links.
	for _, p := range []string{pPayload, pReferrer, pLink} {
		keys := keysWithPrefix(txn, scope(p, name), budget)
		for _, k := range keys {
			if err := txn.Delete(k); err != nil {
				return false, err
			}
		}
		if budget -= len(keys); budget <= 0 {
			return false, nil
		}
	}
	return true, txn.Delete(repoKey(name))
}

// WalkRepositories calls fn for each repository whose name sorts after
// `after`, in lexical byte order. fn may return storage.SkipAll to stop.
func (s *Store) WalkRepositories(ctx context.Context, cursor string, fn func(storage.Repository) error) error {
	prefix := []byte(pRepo)
	return walk(ctx, s, walkOptions[storage.Repository]{
		prefix: prefix,
		start:  after(prefix, cursor),
		load: func(_ *badger.Txn, item *badger.Item) (storage.Repository, bool, error) {
			var r storage.Repository
			err := item.Value(func(v []byte) error { return json.Unmarshal(v, &r) })
			return r, err == nil, err
		},
	}, fn)
}

// repoExists is a walk precheck: storage.ErrNotFound unless the repository
// exists.
func repoExists(name string) func(*badger.Txn) error {
	return func(txn *badger.Txn) error {
		_, err := txn.Get(repoKey(name))
		return notFound(err, "repository %q", name)
	}
}
