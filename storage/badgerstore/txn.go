package badgerstore

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/dgraph-io/badger/v4"

	"github.com/berth-dev/berth/storage"
)

// getJSON decodes the value of k into v. It returns badger.ErrKeyNotFound
// unchanged so the caller can translate it with context. json.Unmarshal
// copies what it decodes, so v never aliases badger's memory.
func getJSON(txn *badger.Txn, k []byte, v any) error {
	item, err := txn.Get(k)
	if err != nil {
		return err
	}
	return item.Value(func(b []byte) error { return json.Unmarshal(b, v) })
}

// setJSON stores v as the JSON value of k.
func setJSON(txn *badger.Txn, k []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return txn.Set(k, b)
}

// exists reports whether k is set.
func exists(txn *badger.Txn, k []byte) (bool, error) {
	_, err := txn.Get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, err
}

// anyWithPrefix reports whether any key starts with prefix.
func anyWithPrefix(txn *badger.Txn, prefix []byte) bool {
	opts := badger.IteratorOptions{Prefix: prefix, PrefetchValues: false}
	it := txn.NewIterator(opts)
	defer it.Close()
	it.Seek(prefix)
	return it.ValidForPrefix(prefix)
}

// keysWithPrefix returns up to limit keys that start with prefix, copied
// out of the iterator.
func keysWithPrefix(txn *badger.Txn, prefix []byte, limit int) [][]byte {
	opts := badger.IteratorOptions{Prefix: prefix, PrefetchValues: false}
	it := txn.NewIterator(opts)
	defer it.Close()
	var keys [][]byte
	for it.Seek(prefix); it.ValidForPrefix(prefix) && len(keys) < limit; it.Next() {
		keys = append(keys, it.Item().KeyCopy(nil))
	}
	return keys
}

// walkPageSize is how many entries a walk reads per read transaction.
const walkPageSize = 256

// walkOptions describes a paged prefix walk.
type walkOptions[T any] struct {
	// prefix bounds the walk; start (at or after prefix) is where it
	// begins.
	prefix, start []byte
	// precheck runs in the first page's transaction, before iterating
	// (for example to check that the repository exists).
	precheck func(*badger.Txn) error
	// load turns an entry into a T inside the transaction. Returning
	// false skips the entry.
	load func(txn *badger.Txn, item *badger.Item) (T, bool, error)
}

// walk iterates a prefix in key order. It reads a page of entries inside a
// read transaction, leaves the transaction, and only then calls fn for each
// entry, so callbacks never hold badger resources or block Close, and may
// call the store. storage.SkipAll from fn stops the walk without an error.
func walk[T any](ctx context.Context, s *Store, o walkOptions[T], fn func(T) error) error {
	seek := o.start
	if seek == nil {
		seek = o.prefix
	}
	first := true
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var (
			page []T
			last []byte
			more bool
		)
		err := s.view(func(txn *badger.Txn) error {
			page, last, more = page[:0], nil, false
			if first && o.precheck != nil {
				if err := o.precheck(txn); err != nil {
					return err
				}
			}
			// No prefetching: badger would start a goroutine per
			// item to copy values that the LSM holds inline anyway
			// (every record is below ValueThreshold). load reads them
			// with item.Value.
			it := txn.NewIterator(badger.IteratorOptions{Prefix: o.prefix})
			defer it.Close()
			n := 0
			for it.Seek(seek); it.ValidForPrefix(o.prefix); it.Next() {
				if n == walkPageSize {
					more = true
					break
				}
				n++
				item := it.Item()
				last = item.KeyCopy(last)
				v, ok, err := o.load(txn, item)
				if err != nil {
					return err
				}
				if ok {
					page = append(page, v)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		first = false
		for _, v := range page {
			if err := fn(v); err != nil {
				if errors.Is(err, storage.SkipAll) {
					return nil
				}
				return err
			}
		}
		if !more {
			return nil
		}
		seek = append(last, 0)
	}
}
