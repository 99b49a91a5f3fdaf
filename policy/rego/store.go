package rego

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/berth-dev/berth/policy"
)

// Store persists policy texts and custom modules so that an Authorizer can
// reload them. The Authorizer is the only writer; it keeps its own copy in
// memory and reads the Store only in New and UseStore.
//
// Keys are versioned and prefix-namespaced:
//
//	v1/registry                          the registry policy
//	v1/repository/<name>                 the repository policy of <name>
//	v1/identity/<esc(arn)>/<esc(name)>   identity policy <name> attached to <arn>
//	v1/module/<esc(name)>                custom Rego module <name>
//
// where esc is url.PathEscape (so neither part contains '/', and every key
// is printable ASCII).
//
// Implementations must be safe for concurrent use.
type Store = policy.Store

// Store key layout.
const (
	keyPrefix           = "v1/"
	keyRegistry         = keyPrefix + "registry"
	keyRepositoryPrefix = keyPrefix + "repository/"
	keyIdentityPrefix   = keyPrefix + "identity/"
	keyModulePrefix     = keyPrefix + "module/"
)

func repositoryKey(repo string) string { return keyRepositoryPrefix + repo }

func identityKey(arn, name string) string {
	return keyIdentityPrefix + url.PathEscape(arn) + "/" + url.PathEscape(name)
}

func moduleKey(name string) string { return keyModulePrefix + url.PathEscape(name) }

// parseIdentityKey splits the part of an identity key after its prefix.
func parseIdentityKey(rest string) (arn, name string, err error) {
	a, n, ok := strings.Cut(rest, "/")
	if !ok {
		return "", "", fmt.Errorf("bad identity policy key %q", rest)
	}
	if arn, err = url.PathUnescape(a); err != nil {
		return "", "", err
	}
	if name, err = url.PathUnescape(n); err != nil {
		return "", "", err
	}
	return arn, name, nil
}

// MemoryStore is a Store that keeps policies in memory. It is the default
// when Options.Store is nil. The zero value is ready to use.
type MemoryStore struct {
	mu sync.RWMutex
	m  map[string]string
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

// Get implements Store.
func (s *MemoryStore) Get(_ context.Context, key string) (string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	text, ok := s.m[key]
	if !ok {
		return "", fmt.Errorf("%s: %w", key, ErrPolicyNotFound)
	}
	return text, nil
}

// Put implements Store.
func (s *MemoryStore) Put(_ context.Context, key, text string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]string{}
	}
	s.m[key] = text
	return nil
}

// Delete implements Store.
func (s *MemoryStore) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}

// List implements Store.
func (s *MemoryStore) List(ctx context.Context, prefix string, fn func(key, text string) error) error {
	s.mu.RLock()
	type kv struct{ k, v string }
	var list []kv
	for k, v := range s.m {
		if strings.HasPrefix(k, prefix) {
			list = append(list, kv{k, v})
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(list, func(a, b kv) int { return strings.Compare(a.k, b.k) })
	for _, e := range list {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(e.k, e.v); err != nil {
			return err
		}
	}
	return nil
}
