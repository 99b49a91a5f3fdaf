package badgerstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/berth-dev/berth/storage"
)

// PutUpload creates or replaces the state of an upload session.
func (s *Store) PutUpload(ctx context.Context, u storage.Upload) error {
	if err := checkUploadID(u.ID); err != nil {
		return err
	}
	return s.write(ctx, func(txn *badger.Txn) error {
		return setJSON(txn, uploadKey(u.ID), u)
	})
}

// GetUpload returns the state of an upload session, or
// storage.ErrNotFound.
func (s *Store) GetUpload(ctx context.Context, id string) (storage.Upload, error) {
	var u storage.Upload
	if err := checkUploadID(id); err != nil {
		return u, fmt.Errorf("%w (%w)", err, storage.ErrNotFound)
	}
	err := s.view(func(txn *badger.Txn) error {
		return notFound(getJSON(txn, uploadKey(id), &u), "upload %q", id)
	})
	return u, err
}

// DeleteUpload removes the state of an upload session. It returns
// storage.ErrNotFound if absent. It does not touch the upload's data; see
// AbortUpload.
func (s *Store) DeleteUpload(ctx context.Context, id string) error {
	if err := checkUploadID(id); err != nil {
		return fmt.Errorf("%w (%w)", err, storage.ErrNotFound)
	}
	return s.write(ctx, func(txn *badger.Txn) error {
		k := uploadKey(id)
		if _, err := txn.Get(k); err != nil {
			return notFound(err, "upload %q", id)
		}
		return txn.Delete(k)
	})
}

// CompleteUpload deletes the upload state and links the blob to the
// upload's repository in one transaction. It returns storage.ErrNotFound if
// the upload or its repository does not exist.
func (s *Store) CompleteUpload(ctx context.Context, id string, link storage.BlobLink) error {
	if err := checkUploadID(id); err != nil {
		return fmt.Errorf("%w (%w)", err, storage.ErrNotFound)
	}
	if err := checkComponent("digest", string(link.Digest)); err != nil {
		return err
	}
	// The repository lock is taken before the transaction, so read the
	// upload's repository first and check it again inside.
	u, err := s.GetUpload(ctx, id)
	if err != nil {
		return err
	}
	l := s.lockRepo(u.Repository)
	l.RLock()
	defer l.RUnlock()
	ck := linkCacheKey(u.Repository, link.Digest)
	gen := s.cache.hold(ck)
	err = s.write(ctx, func(txn *badger.Txn) error {
		k := uploadKey(id)
		var cur storage.Upload
		if err := getJSON(txn, k, &cur); err != nil {
			return notFound(err, "upload %q", id)
		}
		if cur.Repository != u.Repository {
			return fmt.Errorf("upload %q moved from repository %q to %q during completion", id, u.Repository, cur.Repository)
		}
		if err := checkComponent("repository", cur.Repository); err != nil {
			return err
		}
		if err := txn.Delete(k); err != nil {
			return err
		}
		return setLink(txn, cur.Repository, link)
	})
	if err != nil {
		s.cache.release(ck)
		return err
	}
	s.cache.releaseFill(ck, gen, newLinkEntry(u.Repository, link))
	return nil
}

// WalkUploads calls fn for every upload session, in ID order.
func (s *Store) WalkUploads(ctx context.Context, fn func(storage.Upload) error) error {
	return walk(ctx, s, walkOptions[storage.Upload]{
		prefix: []byte(pUpload),
		load: func(_ *badger.Txn, item *badger.Item) (storage.Upload, bool, error) {
			var u storage.Upload
			err := item.Value(func(v []byte) error { return json.Unmarshal(v, &u) })
			return u, err == nil, err
		},
	}, fn)
}
