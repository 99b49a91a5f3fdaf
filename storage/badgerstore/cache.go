package badgerstore

import (
	"hash/maphash"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/storage"
)

// The read cache.
//
// The pull path reads a tag, a manifest record and its payload, and often
// a repository record, for every request. The Store keeps the latest of
// those in a bounded LRU cache in memory (Options.CacheSize), so that a hot
// pull does not open a badger transaction at all. It also keeps the blob
// links that pushes check, and whole tag lists of repositories, which
// WalkTags serves when nothing changed them since they were read.
//
// The cache is exact, not eventually consistent: it never serves a moved
// or deleted tag, a deleted manifest or an outdated record. That relies on
// two facts. First, badger holds a lock on its directory, so this Store is
// the only writer of its database, and every change goes through one of
// its methods. Second, every method that changes a cached key holds that
// key (hold) from before its transaction commits until after it has
// committed (release):
//
//   - hold removes the entry and, until release, makes every fill of that
//     key fail, so between the two the key is only read from badger, whose
//     reads are consistent;
//   - hold and release bump the generation of the key's shard, and a fill
//     succeeds only if the generation is the one the reader saw before it
//     opened its read transaction (its ticket). A reader that read the old
//     value before the commit therefore cannot put it back afterwards.
//
// Creating a key needs no hold: the cache holds only keys that exist, and
// a stale entry of an earlier incarnation was dropped when it was deleted.
// Which keys each write holds:
//
//   - PutManifest: its tags and the repository's tag list (the manifest
//     record is only ever created);
//   - DeleteManifest: the manifest, each tag that pointed at it and the
//     tag list;
//   - DeleteTag: the tag and the tag list; RecordPull: the manifest;
//     UpdateRepository: the repository record; LinkBlob, CompleteUpload
//     and UnlinkBlob: the link;
//   - DeleteRepository: the whole repository (holdRepo).
//
// Besides reads, LinkBlob and CompleteUpload fill the link they wrote:
// they hold it while they write it, and releaseFill caches it if nothing
// else was held or released in its part of the cache meanwhile.
//
// PutManifest uses the cache inside its write transaction: a cached
// repository record or blob link saves reading that key. This is sound
// because a key is held from before its change is queued until after it
// committed, and the group commit runs writes in queue order: a write
// queued after a change of the key does not find it cached, and reads it
// in the transaction. The reads it saves only served badger's conflict
// detection against DeleteRepository, which the repository lock already
// excludes.
//
// A cache per process would be wrong for several processes sharing one
// database. Badger does not allow that; a backend that does (a shared SQL
// or object store) needs a cache validated against the store, not this one.

// DefaultCacheSize is the default bound of the read cache (Options.CacheSize).
const DefaultCacheSize = 16 << 20

// cacheShards is the number of independently locked parts of the cache
// for small entries. Tag lists, which can be large, have a part of their
// own (listShard), a quarter of the cache.
const (
	cacheShards = 16
	listShard   = cacheShards
)

type cacheKind uint8

const (
	kindTag      cacheKind = iota + 1 // repo, tag -> digest
	kindManifest                      // repo, digest -> manifest with payload
	kindRepo                          // repo -> repository record
	kindLink                          // repo, blob digest -> blob link
	kindTagList                       // repo -> every tag with its digest, sorted
)

type cacheKey struct {
	kind cacheKind
	repo string
	name string // a tag or a digest; empty for kindRepo
}

func tagCacheKey(repo, tag string) cacheKey { return cacheKey{kindTag, repo, tag} }

func manifestCacheKey(repo string, d digest.Digest) cacheKey {
	return cacheKey{kindManifest, repo, string(d)}
}

func repoCacheKey(name string) cacheKey { return cacheKey{kind: kindRepo, repo: name} }

func linkCacheKey(repo string, d digest.Digest) cacheKey {
	return cacheKey{kindLink, repo, string(d)}
}

// cacheEntry is one cached value. Its value fields never change once it is
// in the cache, so a reader may use them after unlocking the shard.
type cacheEntry struct {
	key        cacheKey
	prev, next *cacheEntry // LRU list, guarded by the shard's mu
	size       int64

	dgst     digest.Digest       // kindTag
	manifest *storage.Manifest   // kindManifest, with its payload
	repo     *storage.Repository // kindRepo
	link     storage.BlobLink    // kindLink
	tags     []tagEntry          // kindTagList
}

type cacheShard struct {
	mu      sync.Mutex
	gen     atomic.Uint64 // changed only with mu held
	entries map[cacheKey]*cacheEntry
	held    map[cacheKey]int
	lru     cacheEntry // sentinel: lru.next is the most recently used
	size    int64
	max     int64
	// maxEntry is the largest entry the shard takes, so that a few large
	// ones cannot flush everything else.
	maxEntry int64
}

// cache is the read cache. A nil *cache caches nothing.
type cache struct {
	seed   maphash.Seed
	shards [cacheShards + 1]cacheShard

	// Repositories being deleted: no key of theirs may be filled.
	repoHolds atomic.Int32
	repoMu    sync.Mutex
	repoHeld  map[string]int
}

// cacheTicket is the generation of every shard, taken before a read
// transaction starts.
type cacheTicket [cacheShards + 1]uint64

func newCache(size int64) *cache {
	if size <= 0 {
		return nil
	}
	c := &cache{seed: maphash.MakeSeed(), repoHeld: make(map[string]int)}
	lists := size / 4
	per := max((size-lists)/cacheShards, 1)
	for i := range c.shards {
		sh := &c.shards[i]
		sh.entries = make(map[cacheKey]*cacheEntry)
		sh.held = make(map[cacheKey]int)
		sh.lru.next, sh.lru.prev = &sh.lru, &sh.lru
		sh.max, sh.maxEntry = per, per/8
		if i == listShard {
			sh.max, sh.maxEntry = lists, lists/2
		}
	}
	return c
}

func (c *cache) shardIndex(k cacheKey) int {
	if k.kind == kindTagList {
		return listShard
	}
	h := maphash.String(c.seed, k.repo) ^ (maphash.String(c.seed, k.name) * 0x9e3779b97f4a7c15) ^ uint64(k.kind)
	return int(h % cacheShards)
}

// get returns the entry of k, or nil.
func (c *cache) get(k cacheKey) *cacheEntry {
	if c == nil {
		return nil
	}
	sh := &c.shards[c.shardIndex(k)]
	sh.mu.Lock()
	e := sh.entries[k]
	if e != nil && sh.lru.next != e {
		unlink(e)
		sh.pushFront(e)
	}
	sh.mu.Unlock()
	return e
}

// has reports whether k is cached.
func (c *cache) has(k cacheKey) bool { return c.get(k) != nil }

// ticket returns the current generations, for add. Take it before the read
// transaction whose results will be added.
func (c *cache) ticket() (t cacheTicket) {
	if c == nil {
		return t
	}
	for i := range c.shards {
		t[i] = c.shards[i].gen.Load()
	}
	return t
}

// add caches e under e.key unless the key changed, or was held, since t
// was taken, or is held now.
func (c *cache) add(t *cacheTicket, e *cacheEntry) {
	if c == nil {
		return
	}
	i := c.shardIndex(e.key)
	sh := &c.shards[i]
	if e.size > sh.maxEntry {
		return
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.gen.Load() != t[i] || sh.held[e.key] > 0 || c.repoIsHeld(e.key.repo) {
		return
	}
	sh.insert(e)
}

// insert caches e, evicting the least recently used entries beyond the
// bound. mu must be held.
func (sh *cacheShard) insert(e *cacheEntry) {
	if old := sh.entries[e.key]; old != nil {
		sh.remove(old)
	}
	sh.entries[e.key] = e
	sh.pushFront(e)
	sh.size += e.size
	for sh.size > sh.max {
		sh.remove(sh.lru.prev)
	}
}

func (c *cache) repoIsHeld(repo string) bool {
	if c.repoHolds.Load() == 0 {
		return false
	}
	c.repoMu.Lock()
	defer c.repoMu.Unlock()
	return c.repoHeld[repo] > 0
}

// hold drops k and stops it from being filled until release. Call it
// before the transaction that changes k commits. It returns the shard's
// generation after the hold, for releaseFill.
func (c *cache) hold(k cacheKey) uint64 {
	if c == nil {
		return 0
	}
	sh := &c.shards[c.shardIndex(k)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.held[k]++
	sh.invalidate(k)
	return sh.gen.Load()
}

// release ends a hold of k. Call it after the transaction that changed k
// committed (or failed).
func (c *cache) release(k cacheKey) { c.releaseFill(k, 0, nil) }

// releaseFill is release, after a write that committed e's value under k,
// that also caches e if nothing else was held or released in k's shard
// since the hold that returned gen: then no other write changed k
// meanwhile, and no reader could fill it.
func (c *cache) releaseFill(k cacheKey, gen uint64, e *cacheEntry) {
	if c == nil {
		return
	}
	sh := &c.shards[c.shardIndex(k)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	fill := e != nil && sh.gen.Load() == gen && sh.held[k] == 1 &&
		e.size <= sh.maxEntry && !c.repoIsHeld(k.repo)
	if sh.held[k]--; sh.held[k] <= 0 {
		delete(sh.held, k)
	}
	sh.invalidate(k)
	if fill {
		sh.insert(e)
	}
}

// holdRepo is hold for every key of a repository.
func (c *cache) holdRepo(repo string) {
	if c == nil {
		return
	}
	c.repoMu.Lock()
	c.repoHeld[repo]++
	c.repoHolds.Add(1)
	c.repoMu.Unlock()
	c.purgeRepo(repo)
}

// releaseRepo ends a holdRepo.
func (c *cache) releaseRepo(repo string) {
	if c == nil {
		return
	}
	c.purgeRepo(repo)
	c.repoMu.Lock()
	if c.repoHeld[repo]--; c.repoHeld[repo] <= 0 {
		delete(c.repoHeld, repo)
	}
	c.repoHolds.Add(-1)
	c.repoMu.Unlock()
}

// purgeRepo drops every entry of repo and bumps every generation.
func (c *cache) purgeRepo(repo string) {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		sh.gen.Add(1)
		for k, e := range sh.entries {
			if k.repo == repo {
				sh.remove(e)
			}
		}
		sh.mu.Unlock()
	}
}

// clear drops everything (Close).
func (c *cache) clear() {
	if c == nil {
		return
	}
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		sh.gen.Add(1)
		clear(sh.entries)
		sh.lru.next, sh.lru.prev = &sh.lru, &sh.lru
		sh.size = 0
		sh.mu.Unlock()
	}
}

// invalidate drops k and bumps the generation. mu must be held.
func (sh *cacheShard) invalidate(k cacheKey) {
	sh.gen.Add(1)
	if e := sh.entries[k]; e != nil {
		sh.remove(e)
	}
}

// remove drops e. mu must be held.
func (sh *cacheShard) remove(e *cacheEntry) {
	unlink(e)
	delete(sh.entries, e.key)
	sh.size -= e.size
}

func (sh *cacheShard) pushFront(e *cacheEntry) {
	e.prev, e.next = &sh.lru, sh.lru.next
	sh.lru.next.prev = e
	sh.lru.next = e
}

func unlink(e *cacheEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

// keyHolds are the keys one write holds; release them all when it
// returns. A write's transaction function may add keys it finds (and may
// run more than once): holding a key twice is a no-op.
type keyHolds struct {
	c    *cache
	keys []cacheKey
}

func (h *keyHolds) hold(k cacheKey) {
	if h == nil || h.c == nil || slices.Contains(h.keys, k) {
		return
	}
	h.holdNew(k)
}

// holdNew is hold for a key that h does not hold yet.
func (h *keyHolds) holdNew(k cacheKey) {
	if h.c == nil {
		return
	}
	h.c.hold(k)
	h.keys = append(h.keys, k)
}

func (h *keyHolds) release() {
	for _, k := range h.keys {
		h.c.release(k)
	}
	h.keys = nil
}

// Entry sizes: the bytes an entry keeps alive, approximately.
const entryOverhead = 160

func keySize(k cacheKey) int64 { return int64(entryOverhead + len(k.repo) + len(k.name)) }

func newTagEntry(repo, tag string, d digest.Digest) *cacheEntry {
	k := tagCacheKey(repo, tag)
	return &cacheEntry{key: k, dgst: d, size: keySize(k) + int64(len(d))}
}

func newManifestEntry(repo string, m *storage.Manifest) *cacheEntry {
	k := manifestCacheKey(repo, m.Digest)
	n := keySize(k) + 256 + int64(len(m.Payload)+len(m.Digest)+len(m.MediaType)+
		len(m.ArtifactType)+len(m.ConfigMediaType)+len(m.Subject))
	for k, v := range m.Annotations {
		n += int64(len(k) + len(v) + 64)
	}
	for _, d := range m.Blobs {
		n += int64(len(d) + 16)
	}
	for _, d := range m.Manifests {
		n += int64(len(d) + 16)
	}
	return &cacheEntry{key: k, manifest: m, size: n}
}

func newLinkEntry(repo string, link storage.BlobLink) *cacheEntry {
	k := linkCacheKey(repo, link.Digest)
	return &cacheEntry{key: k, link: link, size: keySize(k) + int64(len(link.Digest))}
}

func tagListCacheKey(repo string) cacheKey { return cacheKey{kind: kindTagList, repo: repo} }

func newTagListEntry(repo string, tags []tagEntry) *cacheEntry {
	k := tagListCacheKey(repo)
	n := keySize(k)
	for _, t := range tags {
		n += int64(len(t.tag) + len(t.d) + 32) // the strings share one allocation per page
	}
	return &cacheEntry{key: k, tags: tags, size: n}
}

func newRepoEntry(r *storage.Repository) *cacheEntry {
	k := repoCacheKey(r.Name)
	n := keySize(k) + 128
	for _, f := range r.MutabilityExclusionFilters {
		n += int64(len(f) + 16)
	}
	for k, v := range r.ResourceTags {
		n += int64(len(k) + len(v) + 64)
	}
	return &cacheEntry{key: k, repo: r, size: n}
}

// cloneManifest returns a copy of m that shares no memory with it.
func cloneManifest(m storage.Manifest) storage.Manifest {
	m.Annotations = maps.Clone(m.Annotations)
	m.Blobs = slices.Clone(m.Blobs)
	m.Manifests = slices.Clone(m.Manifests)
	if m.Payload != nil {
		m.Payload = slices.Clone(m.Payload)
	}
	return m
}

// cloneRepository returns a copy of r that shares no memory with it.
func cloneRepository(r storage.Repository) storage.Repository {
	r.MutabilityExclusionFilters = slices.Clone(r.MutabilityExclusionFilters)
	r.ResourceTags = maps.Clone(r.ResourceTags)
	return r
}
