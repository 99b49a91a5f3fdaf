package storagetest

import (
	"bytes"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/storage"
)

// Bench runs benchmarks against a fresh store from newStore for each:
// chunked blob uploads, PutManifest, GetManifest, ResolveTag and WalkTags
// over 5,000 tags. Stores do not verify digests, so the benchmarks use
// synthetic digests to keep hashing out of the measurements.
func Bench(b *testing.B, newStore func(b *testing.B) storage.Storage) {
	for _, size := range []int{4 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("AppendCommit/%dKiB", size>>10), func(b *testing.B) {
			benchAppendCommit(b, newStore(b), size)
		})
	}
	b.Run("PutManifest", func(b *testing.B) { benchPutManifest(b, newStore(b)) })
	b.Run("PutManifest/c16", func(b *testing.B) { benchPutManifestParallel(b, newStore(b), 16) })
	b.Run("GetManifest", func(b *testing.B) { benchGetManifest(b, newStore(b)) })
	b.Run("ResolveTag", func(b *testing.B) { benchResolveTag(b, newStore(b)) })
	b.Run("WalkTags/5000/All", func(b *testing.B) { benchWalkTags(b, newStore(b), 0) })
	b.Run("WalkTags/5000/Page100", func(b *testing.B) { benchWalkTags(b, newStore(b), 100) })
}

// syntheticDigest returns a well-formed sha256 digest for i.
func syntheticDigest(i int) digest.Digest {
	return digest.NewDigestFromEncoded(digest.SHA256, fmt.Sprintf("%064x", i))
}

// benchAppendCommit uploads size bytes in 64 KiB chunks (or one chunk if
// smaller), commits them, and deletes the blob again so that memory-backed
// stores do not grow with b.N.
func benchAppendCommit(b *testing.B, s storage.Storage, size int) {
	ctx := b.Context()
	content := randomBytes(size)
	chunk := min(size, 64<<10)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		u := storage.Upload{ID: fmt.Sprintf("bench-%d", i), Algorithm: digest.SHA256}
		for off := 0; off < size; off += chunk {
			n, err := s.AppendUpload(ctx, &u, bytes.NewReader(content[off:off+chunk]))
			if err != nil {
				b.Fatalf("AppendUpload: %v", err)
			}
			u.Offset += n
		}
		d := syntheticDigest(i)
		if err := s.CommitUpload(ctx, &u, d); err != nil {
			b.Fatalf("CommitUpload: %v", err)
		}
		if err := s.DeleteBlob(ctx, d); err != nil {
			b.Fatalf("DeleteBlob: %v", err)
		}
	}
}

// benchManifests creates repository "bench" and returns a template artifact
// record whose only blob is linked there.
func benchManifests(b *testing.B, s storage.Storage) storage.Manifest {
	b.Helper()
	createRepo(b, s, "bench")
	pushEmptyJSON(b, s, "bench")
	return artifact(b, "application/vnd.bench", "")
}

// putSynthetic puts n copies of tmpl under synthetic digests, each tagged
// tag(i).
func putSynthetic(b *testing.B, s storage.Storage, tmpl storage.Manifest, n int, tag func(int) string) {
	b.Helper()
	for i := range n {
		m := tmpl
		m.Digest = syntheticDigest(i)
		must(b, "PutManifest", s.PutManifest(b.Context(), storage.PutManifestRequest{
			Repository: "bench", Manifest: m, Tags: []string{tag(i)},
		}))
	}
}

func benchPutManifest(b *testing.B, s storage.Storage) {
	ctx := b.Context()
	tmpl := benchManifests(b, s)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		m := tmpl
		m.Digest = syntheticDigest(i)
		err := s.PutManifest(ctx, storage.PutManifestRequest{
			Repository: "bench", Manifest: m, Tags: []string{"latest", fmt.Sprintf("v%d", i)},
		})
		if err != nil {
			b.Fatalf("PutManifest: %v", err)
		}
	}
}

// benchPutManifestParallel is benchPutManifest with conc writers at once,
// each pushing its own tags: what group commit is for.
func benchPutManifestParallel(b *testing.B, s storage.Storage, conc int) {
	ctx := b.Context()
	tmpl := benchManifests(b, s)
	b.ReportAllocs()
	var next atomic.Int64
	b.SetParallelism((conc + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1))
			m := tmpl
			m.Digest = syntheticDigest(i)
			err := s.PutManifest(ctx, storage.PutManifestRequest{
				Repository: "bench", Manifest: m, Tags: []string{fmt.Sprintf("v%d", i)},
			})
			if err != nil {
				b.Errorf("PutManifest: %v", err)
				return
			}
		}
	})
}

func benchGetManifest(b *testing.B, s storage.Storage) {
	ctx := b.Context()
	tmpl := benchManifests(b, s)
	putSynthetic(b, s, tmpl, 1000, func(i int) string { return fmt.Sprintf("v%d", i) })
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := s.GetManifest(ctx, "bench", syntheticDigest(i%1000)); err != nil {
			b.Fatalf("GetManifest: %v", err)
		}
	}
}

func benchResolveTag(b *testing.B, s storage.Storage) {
	ctx := b.Context()
	tmpl := benchManifests(b, s)
	tags := make([]string, 1000)
	for i := range tags {
		tags[i] = fmt.Sprintf("v%d", i)
	}
	putSynthetic(b, s, tmpl, len(tags), func(i int) string { return tags[i] })
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := s.ResolveTag(ctx, "bench", tags[i%len(tags)]); err != nil {
			b.Fatalf("ResolveTag: %v", err)
		}
	}
}

// benchWalkTags walks a repository of 5,000 tags: entirely if page is 0,
// else one page of that size starting in the middle.
func benchWalkTags(b *testing.B, s storage.Storage, page int) {
	ctx := b.Context()
	tmpl := benchManifests(b, s)
	const n = 5000
	putSynthetic(b, s, tmpl, n, func(i int) string { return fmt.Sprintf("tag-%05d", i) })
	after, want := "", n
	if page > 0 {
		after, want = fmt.Sprintf("tag-%05d", n/2), page
	}
	b.ReportAllocs()
	for b.Loop() {
		count := 0
		err := s.WalkTags(ctx, "bench", after, func(string, digest.Digest) error {
			count++
			if count == page {
				return storage.SkipAll
			}
			return nil
		})
		if err != nil {
			b.Fatalf("WalkTags: %v", err)
		}
		if count != want {
			b.Fatalf("WalkTags: %d tags, want %d", count, want)
		}
	}
}
