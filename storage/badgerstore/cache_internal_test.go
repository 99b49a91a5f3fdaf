package badgerstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/storage"
)

// TestCacheFillProtocol checks the rules that keep fills from putting back
// a value read before a write committed.
func TestCacheFillProtocol(t *testing.T) {
	c := newCache(1 << 20)
	k := tagCacheKey("r", "latest")
	other := tagCacheKey("r", "other")
	entry := func(k cacheKey, d string) *cacheEntry { return newTagEntry(k.repo, k.name, digest.Digest(d)) }
	get := func(k cacheKey) string {
		if e := c.get(k); e != nil {
			return string(e.dgst)
		}
		return ""
	}

	tk := c.ticket()
	c.add(&tk, entry(k, "a"))
	if got := get(k); got != "a" {
		t.Fatalf("after a fill: %q, want a", got)
	}

	// A reader that took its ticket before a write held the key cannot
	// fill, before or after the write's release.
	before := c.ticket()
	c.hold(k)
	if got := get(k); got != "" {
		t.Fatalf("held key served %q", got)
	}
	c.add(&before, entry(k, "a"))
	if got := get(k); got != "" {
		t.Fatalf("fill during a hold with an old ticket: %q", got)
	}
	during := c.ticket()
	c.add(&during, entry(k, "a"))
	if got := get(k); got != "" {
		t.Fatalf("fill of a held key: %q", got)
	}
	c.release(k)
	c.add(&before, entry(k, "a"))
	c.add(&during, entry(k, "a"))
	if got := get(k); got != "" {
		t.Fatalf("fill after the release with a ticket from before: %q", got)
	}
	after := c.ticket()
	c.add(&after, entry(k, "b"))
	if got := get(k); got != "b" {
		t.Fatalf("fill after the release: %q, want b", got)
	}

	// Holds nest.
	c.hold(k)
	c.hold(k)
	c.release(k)
	tk = c.ticket()
	c.add(&tk, entry(k, "c"))
	if got := get(k); got != "" {
		t.Fatalf("fill while still held once: %q", got)
	}
	c.release(k)

	// A writer fills the value it wrote if nothing else happened to the
	// key's shard while it held the key.
	g := c.hold(k)
	c.releaseFill(k, g, entry(k, "w"))
	if got := get(k); got != "w" {
		t.Fatalf("after releaseFill: %q, want w", got)
	}
	g = c.hold(k)
	c.hold(k) // a second writer of the same key
	c.releaseFill(k, g, entry(k, "w1"))
	c.release(k)
	if got := get(k); got != "" {
		t.Fatalf("releaseFill with a concurrent writer cached %q", got)
	}
	same := tagCacheKey("r", "same-shard")
	for i := 0; c.shardIndex(same) != c.shardIndex(k); i++ {
		same = tagCacheKey("r", fmt.Sprint("same-shard-", i))
	}
	g = c.hold(k)
	c.hold(same) // another write in the shard: k may have changed too, for all the shard knows
	c.release(same)
	c.releaseFill(k, g, entry(k, "w2"))
	if got := get(k); got != "" {
		t.Fatalf("releaseFill after another hold in the shard cached %q", got)
	}

	// A repository hold stops fills of all its keys and drops them.
	tk = c.ticket()
	c.add(&tk, entry(other, "x"))
	c.holdRepo("r")
	if got := get(other); got != "" {
		t.Fatalf("key of a held repository served %q", got)
	}
	tk = c.ticket()
	c.add(&tk, entry(other, "x"))
	c.add(&tk, newRepoEntry(&storage.Repository{Name: "r"}))
	if c.get(other) != nil || c.get(repoCacheKey("r")) != nil {
		t.Fatal("fill in a held repository")
	}
	c.add(&tk, entry(tagCacheKey("s", "latest"), "y"))
	if got := get(tagCacheKey("s", "latest")); got != "y" {
		t.Fatalf("other repository during a repository hold: %q, want y", got)
	}
	c.releaseRepo("r")
	c.add(&tk, entry(other, "x"))
	if got := get(other); got != "" {
		t.Fatalf("fill with a ticket from the repository hold: %q", got)
	}
	tk = c.ticket()
	c.add(&tk, entry(other, "x"))
	if got := get(other); got != "x" {
		t.Fatalf("fill after the repository hold: %q, want x", got)
	}

	// A nil cache caches nothing and holds nothing.
	var nc *cache
	tk = nc.ticket()
	nc.add(&tk, entry(k, "a"))
	nc.hold(k)
	nc.release(k)
	nc.holdRepo("r")
	nc.releaseRepo("r")
	if nc.get(k) != nil {
		t.Fatal("nil cache served an entry")
	}
}

// TestCacheBounded checks the LRU eviction and the entry size limit.
func TestCacheBounded(t *testing.T) {
	c := newCache(64 << 10)
	var keys []cacheKey
	for i := range 2000 {
		k := tagCacheKey("r", strings.Repeat("t", 10)+string(rune('a'+i%26))+strings.Repeat("x", i%50)+string(rune(i)))
		keys = append(keys, k)
		tk := c.ticket()
		c.add(&tk, newTagEntry(k.repo, k.name, "sha256:x"))
	}
	var total int64
	for i := range c.shards {
		sh := &c.shards[i]
		if sh.size > sh.max {
			t.Fatalf("shard %d holds %d bytes, bound %d", i, sh.size, sh.max)
		}
		n := int64(0)
		for e := sh.lru.next; e != &sh.lru; e = e.next {
			n += e.size
		}
		if n != sh.size || len(sh.entries) == 0 && n != 0 {
			t.Fatalf("shard %d: size %d, entries sum to %d", i, sh.size, n)
		}
		total += sh.size
	}
	if total > 64<<10 {
		t.Fatalf("cache holds %d bytes", total)
	}
	if c.get(keys[len(keys)-1]) == nil {
		t.Fatal("the last entry added was evicted")
	}
	big := &storage.Manifest{Digest: "sha256:big", Payload: make([]byte, 64<<10)}
	tk := c.ticket()
	c.add(&tk, newManifestEntry("r", big))
	if c.get(manifestCacheKey("r", big.Digest)) != nil {
		t.Fatal("an entry larger than its share of the cache was cached")
	}
}

func TestManifestRecordEncoding(t *testing.T) {
	pushed := time.Date(2026, 11, 25, 3, 4, 5, 678901234, time.UTC)
	full := storage.Manifest{
		Digest:          "sha256:aaaa",
		MediaType:       "application/vnd.oci.image.manifest.v1+json",
		ArtifactType:    "application/vnd.example+type",
		ConfigMediaType: "application/vnd.oci.image.config.v1+json",
		Size:            1234,
		ImageSize:       -1 << 40,
		Subject:         "sha256:bbbb",
		Annotations:     map[string]string{"z": "1", "a": "", "": "empty key"},
		Blobs:           []digest.Digest{"sha256:c", "sha256:d"},
		Manifests:       []digest.Digest{"sha512:e"},
		PushedAt:        pushed,
		LastPulledAt:    pushed.Add(time.Hour),
		Payload:         []byte("not encoded"),
	}
	for _, m := range []storage.Manifest{full, {Digest: "sha256:minimal"}} {
		b := encodeManifest(&m)
		var got storage.Manifest
		if err := decodeManifest(b, &got); err != nil {
			t.Fatalf("decode(encode(%s)): %v", m.Digest, err)
		}
		want := m
		want.Payload = nil
		if !equalRecords(got, want) {
			t.Errorf("round trip of %s:\n got %+v\nwant %+v", m.Digest, got, want)
		}
		if !m.PushedAt.IsZero() && got.PushedAt.Location() != time.UTC {
			t.Errorf("PushedAt in %v, want UTC", got.PushedAt.Location())
		}
		if m.LastPulledAt.IsZero() && !got.LastPulledAt.IsZero() {
			t.Errorf("zero LastPulledAt came back as %v", got.LastPulledAt)
		}
		// Decoding copies: changing the input changes nothing.
		for i := range b {
			b[i] = 0xff
		}
		if !equalRecords(got, want) {
			t.Errorf("decoded record of %s aliases its input", m.Digest)
		}
		// Every truncation fails cleanly.
		b = encodeManifest(&m)
		for i := range b {
			var x storage.Manifest
			if err := decodeManifest(b[:i], &x); err == nil {
				t.Errorf("decode of %d of %d bytes succeeded", i, len(b))
			}
		}
	}

	// Records of layout version 1 are JSON.
	legacy, err := json.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	var got storage.Manifest
	if err := decodeManifest(legacy, &got); err != nil {
		t.Fatalf("decode JSON record: %v", err)
	}
	want := full
	want.Payload = nil
	if !equalRecords(got, want) {
		t.Errorf("JSON record:\n got %+v\nwant %+v", got, want)
	}
	if err := decodeManifest([]byte{0x7f, 1, 2}, &got); !errors.Is(err, errBadRecord) {
		t.Errorf("decode of an unknown form: %v, want errBadRecord", err)
	}
}

func equalRecords(a, b storage.Manifest) bool {
	return a.Digest == b.Digest && a.MediaType == b.MediaType && a.ArtifactType == b.ArtifactType &&
		a.ConfigMediaType == b.ConfigMediaType && a.Size == b.Size && a.ImageSize == b.ImageSize &&
		a.Subject == b.Subject && maps.Equal(a.Annotations, b.Annotations) &&
		slices.Equal(a.Blobs, b.Blobs) && slices.Equal(a.Manifests, b.Manifests) &&
		a.PushedAt.Equal(b.PushedAt) && a.LastPulledAt.Equal(b.LastPulledAt) &&
		string(a.Payload) == string(b.Payload)
}

// TestSchemaUpgrade opens a database of layout version 1, with a JSON
// manifest record, and checks that it is stamped version 2 and still read.
func TestSchemaUpgrade(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := New(Options{Dir: dir, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	must := func(op string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
	}
	must("CreateRepository", s.CreateRepository(ctx, storage.Repository{Name: "r"}))
	payload := []byte(`{"schemaVersion":2}`)
	m := storage.Manifest{
		Digest: digest.FromBytes(payload), MediaType: "application/vnd.oci.image.manifest.v1+json",
		Size: int64(len(payload)), PushedAt: time.Now().UTC().Truncate(time.Second), Payload: payload,
	}
	// What version 1 wrote: the schema key, a JSON record, the payload
	// and a tag.
	must("write v1 keys", s.db.Update(func(txn *badger.Txn) error {
		rec, err := json.Marshal(m)
		if err != nil {
			return err
		}
		for k, v := range map[string][]byte{
			schemaKey:                                       []byte(schemaV1),
			string(manifestKey("r", m.Digest)):              rec,
			string(payloadKey("r", m.Digest)):               payload,
			string(tagKey("r", "latest")):                   []byte(m.Digest),
			string(manifestTagKey("r", m.Digest, "latest")): nil,
		} {
			if err := txn.Set([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	}))
	must("Close", s.Close())

	s, err = New(Options{Dir: dir, NoSync: true})
	if err != nil {
		t.Fatalf("New on a version 1 database: %v", err)
	}
	defer s.Close()
	var version string
	must("read schema", s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(schemaKey))
		if err != nil {
			return err
		}
		v, err := item.ValueCopy(nil)
		version = string(v)
		return err
	}))
	if version != schemaVersion {
		t.Fatalf("schema after open = %q, want %q", version, schemaVersion)
	}
	got, err := s.ResolveManifest(ctx, "r", "latest", "", true)
	must("ResolveManifest", err)
	if !equalRecords(got, m) {
		t.Fatalf("JSON record read as %+v, want %+v", got, m)
	}
	pulled := m.PushedAt.Add(time.Minute)
	must("RecordPull", s.RecordPull(ctx, "r", m.Digest, pulled))
	must("check binary", s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(manifestKey("r", m.Digest))
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if v[0] != recordBinary {
				return errors.New("record not rewritten in binary")
			}
			return nil
		})
	}))
	got, err = s.GetManifest(ctx, "r", m.Digest)
	must("GetManifest", err)
	m.LastPulledAt = pulled
	if !equalRecords(got, m) {
		t.Fatalf("rewritten record read as %+v, want %+v", got, m)
	}
	must("DeleteManifest", s.DeleteManifest(ctx, "r", m.Digest))
	keys := dumpKeys(t, s)
	if n := countPrefix(keys, "v1/m"); n != 0 {
		t.Fatalf("%d manifest keys left: %q", n, keys)
	}
}
