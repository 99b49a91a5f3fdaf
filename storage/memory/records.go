package memory

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/berth-dev/berth/storage"
)

var _ storage.RecordStore = (*Store)(nil)

// records holds the storage.RecordStore values of a Store. It has its own
// lock: records are independent of repository content.
type records struct {
	mu sync.RWMutex
	m  map[string][]byte
}

// GetRecord returns a record's value, or storage.ErrNotFound.
func (s *Store) GetRecord(ctx context.Context, key string) ([]byte, error) {
	if err := s.recordCheck(ctx, key); err != nil {
		return nil, err
	}
	s.recs.mu.RLock()
	defer s.recs.mu.RUnlock()
	v, ok := s.recs.m[key]
	if !ok {
		return nil, fmt.Errorf("record %q: %w", key, storage.ErrNotFound)
	}
	return bytes.Clone(v), nil
}

// PutRecord creates or replaces a record.
func (s *Store) PutRecord(ctx context.Context, key string, value []byte) error {
	if err := storage.CheckRecord(key, len(value)); err != nil {
		return err
	}
	if err := s.recordCheck(ctx, key); err != nil {
		return err
	}
	s.recs.mu.Lock()
	defer s.recs.mu.Unlock()
	if s.recs.m == nil {
		s.recs.m = make(map[string][]byte)
	}
	v := bytes.Clone(value)
	if v == nil {
		v = []byte{}
	}
	s.recs.m[key] = v
	return nil
}

// DeleteRecord removes a record; storage.ErrNotFound if absent.
func (s *Store) DeleteRecord(ctx context.Context, key string) error {
	if err := s.recordCheck(ctx, key); err != nil {
		return err
	}
	s.recs.mu.Lock()
	defer s.recs.mu.Unlock()
	if _, ok := s.recs.m[key]; !ok {
		return fmt.Errorf("record %q: %w", key, storage.ErrNotFound)
	}
	delete(s.recs.m, key)
	return nil
}

// WalkRecords calls fn for every record whose key starts with prefix, in
// key order.
func (s *Store) WalkRecords(ctx context.Context, prefix string, fn func(key string, value []byte) error) error {
	if err := s.checkOpen(ctx); err != nil {
		return err
	}
	type rec struct {
		k string
		v []byte
	}
	s.recs.mu.RLock()
	var rs []rec
	for k, v := range s.recs.m {
		if strings.HasPrefix(k, prefix) {
			rs = append(rs, rec{k, v})
		}
	}
	s.recs.mu.RUnlock()
	slices.SortFunc(rs, func(a, b rec) int { return strings.Compare(a.k, b.k) })
	return walk(ctx, rs, func(r rec) error { return fn(r.k, bytes.Clone(r.v)) })
}

func (s *Store) recordCheck(ctx context.Context, key string) error {
	if err := storage.CheckRecordKey(key); err != nil {
		return err
	}
	return s.checkOpen(ctx)
}

// checkOpen returns the context's error or storage.ErrClosed.
func (s *Store) checkOpen(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.metaMu.RLock()
	defer s.metaMu.RUnlock()
	if s.closed {
		return storage.ErrClosed
	}
	return nil
}
