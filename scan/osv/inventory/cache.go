package inventory

import (
	"container/list"
	"sync"

	digest "github.com/opencontainers/go-digest"
)

// LayerCache keeps the contents of layers by digest so that layers shared
// between images are read once. Implementations must be safe for concurrent
// use and must treat the cached values as immutable.
type LayerCache interface {
	// Get returns the cached contents of a layer, if any.
	Get(dgst digest.Digest) (*LayerContents, bool)
	// Add stores the contents of a layer.
	Add(dgst digest.Digest, c *LayerContents)
}

// MemoryCache is an in-memory LayerCache that evicts the least recently
// used layers once the estimated size of the cached contents exceeds a
// bound.
type MemoryCache struct {
	mu       sync.Mutex
	maxBytes int64
	size     int64
	ll       *list.List // front = most recently used; values are *cacheEntry
	items    map[digest.Digest]*list.Element
}

type cacheEntry struct {
	dgst digest.Digest
	c    *LayerContents
	size int64
}

var _ LayerCache = (*MemoryCache)(nil)

// NewMemoryCache returns an LRU cache holding about maxBytes of layer
// contents (as estimated by LayerContents.Size). A layer larger than
// maxBytes is not cached. maxBytes <= 0 means 64 MiB.
func NewMemoryCache(maxBytes int64) *MemoryCache {
	if maxBytes <= 0 {
		maxBytes = 64 << 20
	}
	return &MemoryCache{maxBytes: maxBytes, ll: list.New(), items: make(map[digest.Digest]*list.Element)}
}

// Get implements LayerCache.
func (m *MemoryCache) Get(dgst digest.Digest) (*LayerContents, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.items[dgst]
	if !ok {
		return nil, false
	}
	m.ll.MoveToFront(e)
	return e.Value.(*cacheEntry).c, true
}

// Add implements LayerCache.
func (m *MemoryCache) Add(dgst digest.Digest, c *LayerContents) {
	size := c.Size()
	if size > m.maxBytes {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.items[dgst]; ok {
		old := e.Value.(*cacheEntry)
		m.size += size - old.size
		old.c, old.size = c, size
		m.ll.MoveToFront(e)
	} else {
		m.items[dgst] = m.ll.PushFront(&cacheEntry{dgst: dgst, c: c, size: size})
		m.size += size
	}
	for m.size > m.maxBytes {
		e := m.ll.Back()
		ce := e.Value.(*cacheEntry)
		m.ll.Remove(e)
		delete(m.items, ce.dgst)
		m.size -= ce.size
	}
}

// Len returns the number of cached layers.
func (m *MemoryCache) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ll.Len()
}
