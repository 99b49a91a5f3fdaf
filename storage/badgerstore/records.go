package badgerstore

import (
	"bytes"
	"context"
	"strings"

	"github.com/dgraph-io/badger/v4"

	"github.com/berth-dev/berth/storage"
)

// pRecord holds the records of storage.RecordStore: <key> -> value.
const pRecord = "v1/rec/"

var _ storage.RecordStore = (*Store)(nil)

// GetRecord returns a record's value, or storage.ErrNotFound.
func (s *Store) GetRecord(ctx context.Context, key string) ([]byte, error) {
	if err := storage.CheckRecordKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var v []byte
	err := s.view(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(pRecord + key))
		if err != nil {
			return notFound(err, "record %q", key)
		}
		v, err = item.ValueCopy(nil)
		return err
	})
	return v, err
}

// PutRecord creates or replaces a record, durably.
func (s *Store) PutRecord(ctx context.Context, key string, value []byte) error {
	if err := storage.CheckRecord(key, len(value)); err != nil {
		return err
	}
	v := bytes.Clone(value)
	return s.write(ctx, func(txn *badger.Txn) error {
		return txn.Set([]byte(pRecord+key), v)
	})
}

// DeleteRecord removes a record; storage.ErrNotFound if absent.
func (s *Store) DeleteRecord(ctx context.Context, key string) error {
	if err := storage.CheckRecordKey(key); err != nil {
		return err
	}
	return s.write(ctx, func(txn *badger.Txn) error {
		k := []byte(pRecord + key)
		if _, err := txn.Get(k); err != nil {
			return notFound(err, "record %q", key)
		}
		return txn.Delete(k)
	})
}

type record struct {
	key   string
	value []byte
}

// WalkRecords calls fn for every record whose key starts with prefix, in
// key order.
func (s *Store) WalkRecords(ctx context.Context, prefix string, fn func(key string, value []byte) error) error {
	return walk(ctx, s, walkOptions[record]{
		prefix: []byte(pRecord + prefix),
		load: func(_ *badger.Txn, item *badger.Item) (record, bool, error) {
			v, err := item.ValueCopy(nil)
			k := strings.TrimPrefix(string(item.Key()), pRecord)
			return record{key: k, value: v}, err == nil, err
		},
	}, func(r record) error { return fn(r.key, r.value) })
}
