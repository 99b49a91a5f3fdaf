package storagetest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"testing"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/storage"
)

// The concurrency tests are most useful under the race detector.
var concurrencyTests = []test{
	{"SameDigest", testConcurrentSameDigest},
	{"CreateRepository", testConcurrentCreateRepository},
	{"PutManifests", testConcurrentPutManifests},
	{"TagMoves", testConcurrentTagMoves},
}

// testConcurrentSameDigest pushes the same content through eight uploads at
// once while readers check that the blob is never visible half-written.
func testConcurrentSameDigest(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	createRepo(t, s, "app")
	const chunk = 16 << 10
	content := randomBytes(4 * chunk)
	d := digest.FromBytes(content)
	link := storage.BlobLink{Digest: d, Size: int64(len(content))}

	var writers, readers sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				info, err := s.StatBlob(ctx, d)
				switch {
				case errors.Is(err, storage.ErrNotFound):
					continue
				case err != nil:
					t.Errorf("StatBlob during pushes: %v", err)
					return
				case info.Size != link.Size:
					t.Errorf("StatBlob during pushes: Size = %d, want %d", info.Size, link.Size)
					return
				}
				rc, err := s.OpenBlob(ctx, d)
				if err != nil {
					t.Errorf("OpenBlob after StatBlob found the blob: %v", err)
					return
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || !bytes.Equal(got, content) {
					t.Errorf("OpenBlob during pushes: read %d bytes, %v; want the full blob", len(got), err)
					return
				}
			}
		})
	}
	for range 8 {
		writers.Go(func() {
			u := newUpload("app")
			if err := s.PutUpload(ctx, u); err != nil {
				t.Errorf("PutUpload: %v", err)
				return
			}
			for off := 0; off < len(content); off += chunk {
				n, err := s.AppendUpload(ctx, &u, bytes.NewReader(content[off:off+chunk]))
				if err != nil {
					t.Errorf("AppendUpload: %v", err)
					return
				}
				u.Offset += n
				if err := s.PutUpload(ctx, u); err != nil {
					t.Errorf("PutUpload: %v", err)
					return
				}
			}
			if err := s.CommitUpload(ctx, &u, d); err != nil {
				t.Errorf("CommitUpload(same digest, concurrently): %v", err)
				return
			}
			if err := s.CompleteUpload(ctx, u.ID, link); err != nil {
				t.Errorf("CompleteUpload(same digest, concurrently): %v", err)
			}
		})
	}
	writers.Wait()
	close(stop)
	readers.Wait()

	checkBlob(t, s, d, content)
	if got, err := s.GetBlobLink(ctx, "app", d); err != nil || got != link {
		t.Errorf("GetBlobLink = %+v, %v, want %+v", got, err, link)
	}
	checkStrings(t, "WalkUploads after all pushes", uploadIDs(t, s), nil)
	checkStrings(t, "WalkBlobLinks", linkDigests(t, s, "app"), []digest.Digest{d})
}

func testConcurrentCreateRepository(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.CreateRepository(ctx, storage.Repository{Name: "same", CreatedAt: now()})
		})
	}
	wg.Wait()
	created := 0
	for _, err := range errs {
		switch {
		case err == nil:
			created++
		case !errors.Is(err, storage.ErrAlreadyExists):
			t.Errorf("CreateRepository(concurrently): error = %v, want nil or %v", err, storage.ErrAlreadyExists)
		}
	}
	if created != 1 {
		t.Errorf("%d of %d concurrent CreateRepository calls succeeded, want 1", created, n)
	}
}

// testConcurrentPutManifests puts sixteen manifests with their own tags into
// one repository at once, with readers walking it.
func testConcurrentPutManifests(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	createRepo(t, s, "app")
	pushEmptyJSON(t, s, "app")
	const n = 16
	ms := make([]storage.Manifest, n)
	for i := range ms {
		ms[i] = artifact(t, "application/vnd.test", "")
	}
	tag := func(i int) string { return fmt.Sprintf("t-%02d", i) }

	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			err := s.PutManifest(ctx, storage.PutManifestRequest{Repository: "app", Manifest: ms[i], Tags: []string{tag(i)}})
			if err != nil {
				t.Errorf("PutManifest(concurrently): %v", err)
				return
			}
			if _, err := s.GetManifest(ctx, "app", ms[i].Digest); err != nil {
				t.Errorf("GetManifest after PutManifest: %v", err)
			}
			if err := s.RecordPull(ctx, "app", ms[i].Digest, now()); err != nil {
				t.Errorf("RecordPull: %v", err)
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for range 20 {
				err := s.WalkTags(ctx, "app", "", func(tag string, d digest.Digest) error {
					_, err := s.GetManifest(ctx, "app", d)
					return err
				})
				if err != nil {
					t.Errorf("WalkTags during pushes: %v", err)
					return
				}
				if err := s.WalkManifests(ctx, "app", "", func(storage.Manifest) error { return nil }); err != nil {
					t.Errorf("WalkManifests during pushes: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()

	checkStrings(t, "WalkManifests", manifestDigests(t, s, "app", ""), sortedDigests(ms...))
	for i, m := range ms {
		if d, err := s.ResolveTag(ctx, "app", tag(i)); err != nil || d != m.Digest {
			t.Errorf("ResolveTag(%s) = %s, %v, want %s", tag(i), d, err, m.Digest)
		}
	}
}

// testConcurrentTagMoves moves the same tags between manifests from many
// goroutines, then checks that the tag index and its reverse agree.
func testConcurrentTagMoves(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	createRepo(t, s, "app")
	pushEmptyJSON(t, s, "app")
	ms := make([]storage.Manifest, 6)
	for i := range ms {
		ms[i] = artifact(t, "application/vnd.test", "")
		put(t, s, "app", ms[i])
	}
	put(t, s, "app", ms[0], "latest") // never deleted, so always resolvable

	var wg sync.WaitGroup
	for i := range ms {
		wg.Go(func() {
			for j := range 30 {
				shared := fmt.Sprintf("shared-%d", j%3)
				err := s.PutManifest(ctx, storage.PutManifestRequest{
					Repository: "app",
					Manifest:   ms[i],
					Tags:       []string{"latest", shared},
					CheckTag:   func(string, digest.Digest) error { return nil },
				})
				if err != nil {
					t.Errorf("PutManifest(tag move): %v", err)
					return
				}
				if j%7 == 0 {
					if err := s.DeleteTag(ctx, "app", shared); err != nil && !errors.Is(err, storage.ErrNotFound) {
						t.Errorf("DeleteTag: %v", err)
						return
					}
				}
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for j := range 30 {
				if _, err := s.TagsOf(ctx, "app", ms[j%len(ms)].Digest); err != nil {
					t.Errorf("TagsOf during moves: %v", err)
					return
				}
				if _, err := s.ResolveTag(ctx, "app", "latest"); err != nil {
					t.Errorf("ResolveTag(latest) during moves: %v", err)
					return
				}
				if err := s.WalkTags(ctx, "app", "", func(string, digest.Digest) error { return nil }); err != nil {
					t.Errorf("WalkTags during moves: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()

	tags := make(map[string]digest.Digest)
	must(t, "WalkTags", s.WalkTags(ctx, "app", "", func(tag string, d digest.Digest) error {
		tags[tag] = d
		return nil
	}))
	if _, ok := tags["latest"]; !ok {
		t.Errorf("tag latest is gone after concurrent moves")
	}
	for _, m := range ms {
		var want []string
		for _, tag := range slices.Sorted(maps.Keys(tags)) {
			if tags[tag] == m.Digest {
				want = append(want, tag)
			}
		}
		checkStrings(t, fmt.Sprintf("TagsOf(%s) after concurrent moves", m.Digest), tagsOf(t, s, "app", m.Digest), want)
	}
}
