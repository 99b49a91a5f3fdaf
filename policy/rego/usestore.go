package rego

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"strings"

	"github.com/berth-dev/berth/policy"
)

var _ policy.StoreUser = (*Authorizer)(nil)

// UseStore implements policy.StoreUser: from now on the Authorizer keeps
// its policies in s. The registry calls it in registry.New with a Store
// over its storage's records, when the storage has them.
//
// UseStore loads every policy and module held in s, then applies on top
// the ones the Authorizer holds in memory (those of Options, and any set
// before UseStore), as New does with Options.Store: they replace stored
// entries with the same key (and, if Options.Modules was given or
// SetModules called, the whole stored module set) and are written to s.
// The result takes effect atomically, and every later change is written
// to s before it takes effect.
//
// A stored policy that no longer compiles is not dropped: UseStore fails
// with an error matching ErrInvalidPolicy that names its key, and the
// Authorizer keeps its policies and its previous Store. Replace or remove
// the entry in s to recover.
//
// An Authorizer created with Options.Store keeps that Store: UseStore
// returns nil and changes nothing. Calling UseStore again with the same
// Store does nothing; with another Store, it fails.
func (a *Authorizer) UseStore(ctx context.Context, s Store) error {
	if s == nil {
		return errors.New("rego: UseStore: nil Store")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.ownStore:
		return nil
	case a.bound != nil && sameStore(a.bound, s):
		return nil
	case a.bound != nil:
		return errors.New("rego: UseStore: the Authorizer already keeps its policies in another Store")
	}

	cur := a.snap.Load()
	st := &state{
		repositories: map[string]*document{},
		identities:   map[string]map[string]*document{},
		modules:      map[string]string{},
	}
	stored := map[string]string{}
	if err := load(ctx, s, st, stored); err != nil {
		return err
	}

	// What the Authorizer holds goes on top, as Options do in New.
	mine := map[string]string{}
	err := a.store.List(ctx, keyPrefix, func(key, text string) error {
		mine[key] = text
		return nil
	})
	if err != nil {
		return fmt.Errorf("rego: UseStore: read policies in memory: %w", err)
	}
	var dels []string
	if a.modulesSet {
		st.modules = map[string]string{}
		for key := range stored {
			if _, ok := mine[key]; !ok && strings.HasPrefix(key, keyModulePrefix) {
				dels = append(dels, key)
			}
		}
	}
	for _, key := range sortedKeys(mine) {
		if err := st.apply(key, mine[key]); err != nil {
			return fmt.Errorf("rego: UseStore: %s: %w", key, err)
		}
	}

	q := cur.q
	if !maps.Equal(st.modules, cur.st.modules) {
		if q, err = a.prepare(ctx, st.modules); err != nil {
			return err
		}
	}
	// Write before the new policies take effect.
	for _, key := range sortedKeys(mine) {
		if text, ok := stored[key]; ok && text == mine[key] {
			continue
		}
		if err := s.Put(ctx, key, mine[key]); err != nil {
			return fmt.Errorf("rego: UseStore: store %s: %w", key, err)
		}
	}
	for _, key := range dels {
		if err := s.Delete(ctx, key); err != nil {
			return fmt.Errorf("rego: UseStore: store %s: %w", key, err)
		}
	}
	a.store, a.bound = s, s
	a.snap.Store(a.newSnapshot(st, q))
	a.logger.LogAttrs(ctx, slog.LevelInfo, "policies loaded from store",
		slog.Int("stored", len(stored)), slog.Int("applied", len(mine)), slog.Int("repositoryPolicies", len(st.repositories)))
	return nil
}

// sameStore reports whether x and y are the same Store, without panicking
// on Store implementations that are not comparable.
func sameStore(x, y Store) bool {
	tx, ty := reflect.TypeOf(x), reflect.TypeOf(y)
	return tx == ty && tx.Comparable() && x == y
}
