package badgerstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/storage"
	"github.com/berth-dev/berth/storage/badgerstore"
	"github.com/berth-dev/berth/storage/storagetest"
)

// The conformance suite again, without the read cache and with a cache so
// small that it evicts all the time.
func TestConformanceCacheSizes(t *testing.T) {
	for _, size := range []int64{-1, 8 << 10} {
		t.Run(fmt.Sprintf("CacheSize=%d", size), func(t *testing.T) {
			storagetest.Run(t, func(t *testing.T) storage.Storage {
				s, err := badgerstore.New(badgerstore.Options{Dir: t.TempDir(), NoSync: true, CacheSize: size})
				if err != nil {
					t.Fatalf("New() error = %v", err)
				}
				t.Cleanup(func() { _ = s.Close() })
				return s
			})
		})
	}
}

// resolve reads a manifest as the pull path does.
func resolve(s *badgerstore.Store, repo, tag string, d digest.Digest) (storage.Manifest, error) {
	return s.ResolveManifest(context.Background(), repo, tag, d, true)
}

func wantResolved(t *testing.T, s *badgerstore.Store, repo, tag string, d digest.Digest, want storage.Manifest) {
	t.Helper()
	got, err := resolve(s, repo, tag, d)
	if err != nil {
		t.Fatalf("ResolveManifest(%q, %q, %s) error = %v", repo, tag, d, err)
	}
	if got.Digest != want.Digest || !bytes.Equal(got.Payload, want.Payload) || !got.LastPulledAt.Equal(want.LastPulledAt) {
		t.Fatalf("ResolveManifest(%q, %q, %s) = %s (pulled %v), want %s (pulled %v)", repo, tag, d, got.Digest, got.LastPulledAt, want.Digest, want.LastPulledAt)
	}
}

func wantUnresolved(t *testing.T, s *badgerstore.Store, repo, tag string, d digest.Digest) {
	t.Helper()
	if m, err := resolve(s, repo, tag, d); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("ResolveManifest(%q, %q, %s) = %s, %v; want ErrNotFound", repo, tag, d, m.Digest, err)
	}
}

func walkAllTags(t *testing.T, s *badgerstore.Store, repo, after string) []string {
	t.Helper()
	var tags []string
	err := s.WalkTags(context.Background(), repo, after, func(tag string, _ digest.Digest) error {
		tags = append(tags, tag)
		return nil
	})
	must(t, "WalkTags", err)
	return tags
}

// TestCacheFollowsWrites reads everything twice after every kind of write
// (the second read is served from the cache) and checks that the cache
// never serves what a write changed or removed.
func TestCacheFollowsWrites(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	createRepo(t, s, "r")
	l := pushBlob(t, s, "r", "l", []byte("layer"))
	m1, m2 := manifest("one", l), manifest("two", l)
	put(t, s, "r", m1, "latest", "v1")
	put(t, s, "r", m2, "v2")
	twice := func(f func()) { f(); f() }

	twice(func() { wantResolved(t, s, "r", "latest", "", m1) })
	twice(func() { wantResolved(t, s, "r", "", m2.Digest, m2) })
	twice(func() {
		if got := walkAllTags(t, s, "r", ""); !slices.Equal(got, []string{"latest", "v1", "v2"}) {
			t.Fatalf("tags = %q", got)
		}
	})

	// A moved tag.
	put(t, s, "r", m2, "latest")
	twice(func() { wantResolved(t, s, "r", "latest", "", m2) })
	d, err := s.ResolveTag(ctx, "r", "latest")
	if err != nil || d != m2.Digest {
		t.Fatalf("ResolveTag(latest) = %s, %v; want %s", d, err, m2.Digest)
	}

	// A new tag shows in the cached list; a deleted one goes.
	put(t, s, "r", m1, "v1.1")
	twice(func() {
		if got := walkAllTags(t, s, "r", ""); !slices.Equal(got, []string{"latest", "v1", "v1.1", "v2"}) {
			t.Fatalf("tags after a push = %q", got)
		}
	})
	if got := walkAllTags(t, s, "r", "v1"); !slices.Equal(got, []string{"v1.1", "v2"}) {
		t.Fatalf("tags after v1 = %q", got)
	}
	must(t, "DeleteTag", s.DeleteTag(ctx, "r", "v1.1"))
	twice(func() { wantUnresolved(t, s, "r", "v1.1", "") })
	twice(func() {
		if got := walkAllTags(t, s, "r", ""); !slices.Equal(got, []string{"latest", "v1", "v2"}) {
			t.Fatalf("tags after DeleteTag = %q", got)
		}
	})

	// RecordPull changes the cached record.
	pulled := time.Now().UTC().Truncate(time.Millisecond)
	must(t, "RecordPull", s.RecordPull(ctx, "r", m1.Digest, pulled))
	want := m1
	want.LastPulledAt = pulled
	twice(func() { wantResolved(t, s, "r", "v1", "", want) })
	got, err := s.GetManifest(ctx, "r", m1.Digest)
	must(t, "GetManifest", err)
	if !got.LastPulledAt.Equal(pulled) {
		t.Fatalf("GetManifest LastPulledAt = %v, want %v", got.LastPulledAt, pulled)
	}

	// A deleted manifest takes its tags with it.
	must(t, "DeleteManifest", s.DeleteManifest(ctx, "r", m2.Digest))
	twice(func() { wantUnresolved(t, s, "r", "", m2.Digest) })
	twice(func() { wantUnresolved(t, s, "r", "latest", "") })
	twice(func() { wantUnresolved(t, s, "r", "v2", "") })
	twice(func() {
		if got := walkAllTags(t, s, "r", ""); !slices.Equal(got, []string{"v1"}) {
			t.Fatalf("tags after DeleteManifest = %q", got)
		}
	})
	// Pushed again, it is a new record.
	m2.PushedAt = m2.PushedAt.Add(time.Minute)
	put(t, s, "r", m2, "latest")
	twice(func() {
		got, err := s.GetManifest(ctx, "r", m2.Digest)
		must(t, "GetManifest", err)
		if !got.PushedAt.Equal(m2.PushedAt) {
			t.Fatalf("PushedAt = %v, want %v", got.PushedAt, m2.PushedAt)
		}
	})

	// Repository records.
	twice(func() {
		r, err := s.GetRepository(ctx, "r")
		must(t, "GetRepository", err)
		if r.TagMutability != "" {
			t.Fatalf("TagMutability = %q", r.TagMutability)
		}
	})
	must(t, "UpdateRepository", s.UpdateRepository(ctx, "r", func(r *storage.Repository) error {
		r.TagMutability = storage.MutabilityImmutable
		return nil
	}))
	twice(func() {
		r, err := s.GetRepository(ctx, "r")
		must(t, "GetRepository", err)
		if r.TagMutability != storage.MutabilityImmutable {
			t.Fatalf("TagMutability after update = %q", r.TagMutability)
		}
	})

	// Links.
	twice(func() {
		if _, err := s.GetBlobLink(ctx, "r", l); err != nil {
			t.Fatalf("GetBlobLink: %v", err)
		}
	})
	must(t, "DeleteManifest", s.DeleteManifest(ctx, "r", m1.Digest))
	must(t, "DeleteManifest", s.DeleteManifest(ctx, "r", m2.Digest))
	must(t, "UnlinkBlob", s.UnlinkBlob(ctx, "r", l))
	twice(func() {
		if _, err := s.GetBlobLink(ctx, "r", l); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("GetBlobLink after unlink: %v", err)
		}
	})
	m3 := manifest("three", l)
	if err := s.PutManifest(ctx, storage.PutManifestRequest{Repository: "r", Manifest: m3}); !errors.Is(err, storage.ErrMissingReference) {
		t.Fatalf("PutManifest over an unlinked blob: error = %v, want ErrMissingReference", err)
	}

	// A deleted repository leaves nothing behind, even once recreated.
	must(t, "LinkBlob", s.LinkBlob(ctx, "r", storage.BlobLink{Digest: l, Size: 5}))
	put(t, s, "r", m3, "latest")
	twice(func() { wantResolved(t, s, "r", "latest", "", m3) })
	walkAllTags(t, s, "r", "")
	must(t, "DeleteRepository", s.DeleteRepository(ctx, "r", true))
	twice(func() { wantUnresolved(t, s, "r", "latest", "") })
	twice(func() { wantUnresolved(t, s, "r", "", m3.Digest) })
	if _, err := s.GetRepository(ctx, "r"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("GetRepository after delete: %v", err)
	}
	if err := s.WalkTags(ctx, "r", "", func(string, digest.Digest) error { return nil }); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("WalkTags after delete: %v", err)
	}
	createRepo(t, s, "r")
	if got := walkAllTags(t, s, "r", ""); len(got) != 0 {
		t.Fatalf("tags of a recreated repository = %q", got)
	}
	if _, err := s.GetBlobLink(ctx, "r", l); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("GetBlobLink in a recreated repository: %v", err)
	}
	if err := s.PutManifest(ctx, storage.PutManifestRequest{Repository: "r", Manifest: m3}); !errors.Is(err, storage.ErrMissingReference) {
		t.Fatalf("PutManifest in a recreated repository: error = %v, want ErrMissingReference", err)
	}
}

// TestCacheResultsAreCopies checks that what GetManifest and
// GetRepository return can be modified without changing the cache.
func TestCacheResultsAreCopies(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	createRepo(t, s, "r")
	l := pushBlob(t, s, "r", "l", []byte("layer"))
	m := manifest("one", l)
	m.Annotations = map[string]string{"a": "b"}
	put(t, s, "r", m, "latest")
	for range 2 {
		got, err := s.GetManifest(ctx, "r", m.Digest)
		must(t, "GetManifest", err)
		if !bytes.Equal(got.Payload, m.Payload) || got.Annotations["a"] != "b" || !slices.Equal(got.Blobs, m.Blobs) {
			t.Fatalf("GetManifest = %+v", got)
		}
		got.Payload[0] = 'X'
		got.Annotations["a"] = "changed"
		got.Blobs[0] = "changed"
	}
	must(t, "UpdateRepository", s.UpdateRepository(ctx, "r", func(r *storage.Repository) error {
		r.ResourceTags = map[string]string{"team": "a"}
		return nil
	}))
	for range 2 {
		r, err := s.GetRepository(ctx, "r")
		must(t, "GetRepository", err)
		if r.ResourceTags["team"] != "a" {
			t.Fatalf("ResourceTags = %v", r.ResourceTags)
		}
		r.ResourceTags["team"] = "changed"
	}
}

// TestCacheNeverStale races writers that move a tag, delete it and delete
// manifests against readers of the same keys. After every write returns,
// the writer's own reads, and every read that starts later, must see it.
func TestCacheNeverStale(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	createRepo(t, s, "r")
	l := pushBlob(t, s, "r", "l", []byte("layer"))
	var ms []storage.Manifest
	for i := range 4 {
		m := manifest(fmt.Sprint(i), l)
		put(t, s, "r", m)
		ms = append(ms, m)
	}

	stop := make(chan struct{})
	var readers sync.WaitGroup
	var reads atomic.Int64
	for range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, _ = resolve(s, "r", "latest", "")
				_, _ = resolve(s, "r", "", ms[int(reads.Add(1))%len(ms)].Digest)
				_, _ = s.GetRepository(ctx, "r")
				_ = s.WalkTags(ctx, "r", "", func(string, digest.Digest) error { return nil })
			}
		}()
	}

	iterations := 300
	if testing.Short() {
		iterations = 60
	}
	for i := range iterations {
		m := ms[i%len(ms)]
		switch i % 5 {
		case 0, 1, 2:
			put(t, s, "r", m, "latest")
			wantResolved(t, s, "r", "latest", "", m)
			if got := walkAllTags(t, s, "r", ""); !slices.Equal(got, []string{"latest"}) {
				t.Fatalf("iteration %d: tags = %q", i, got)
			}
		case 3:
			must(t, "DeleteTag", s.DeleteTag(ctx, "r", "latest"))
			wantUnresolved(t, s, "r", "latest", "")
			if got := walkAllTags(t, s, "r", ""); len(got) != 0 {
				t.Fatalf("iteration %d: tags after DeleteTag = %q", i, got)
			}
			put(t, s, "r", m, "latest")
		case 4:
			must(t, "DeleteManifest", s.DeleteManifest(ctx, "r", m.Digest))
			wantUnresolved(t, s, "r", "", m.Digest)
			put(t, s, "r", m)
			wantResolved(t, s, "r", "", m.Digest, m)
		}
	}
	close(stop)
	readers.Wait()
}
