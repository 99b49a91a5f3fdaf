package storagetest

import (
	"bytes"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/storage"
)

var lifecycleTests = []test{
	{"Close", testClose},
	{"WalkCallbacksRead", testWalkCallbacksRead},
	{"EmptyAfterDeletes", testEmptyAfterDeletes},
}

// testClose checks that Close is idempotent and that every method returns
// storage.ErrClosed afterwards.
func testClose(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	createRepo(t, s, "app")
	m := newImage(t, s, "app")
	put(t, s, "app", m, "v1")
	u := newUpload("app")
	must(t, "PutUpload", s.PutUpload(ctx, u))
	appendBytes(t, s, &u, randomBytes(10))

	must(t, "Close", s.Close())
	must(t, "Close(again)", s.Close())

	d := m.Blobs[0]
	link := storage.BlobLink{Digest: d, Size: 1}
	none := func() error { return nil }
	ops := []struct {
		name string
		fn   func() error
	}{
		{"StatBlob", func() error { _, err := s.StatBlob(ctx, d); return err }},
		{"OpenBlob", func() error {
			rc, err := s.OpenBlob(ctx, d)
			if err == nil {
				rc.Close()
			}
			return err
		}},
		{"DeleteBlob", func() error { return s.DeleteBlob(ctx, d) }},
		{"AppendUpload", func() error { _, err := s.AppendUpload(ctx, &u, bytes.NewReader([]byte("x"))); return err }},
		{"ReadUpload", func() error {
			rc, err := s.ReadUpload(ctx, &u)
			if err == nil {
				rc.Close()
			}
			return err
		}},
		{"CommitUpload", func() error { return s.CommitUpload(ctx, &u, digest.FromBytes(nil)) }},
		{"AbortUpload", func() error { return s.AbortUpload(ctx, &u) }},
		{"CreateRepository", func() error { return s.CreateRepository(ctx, storage.Repository{Name: "new"}) }},
		{"GetRepository", func() error { _, err := s.GetRepository(ctx, "app"); return err }},
		{"UpdateRepository", func() error {
			return s.UpdateRepository(ctx, "app", func(*storage.Repository) error { return nil })
		}},
		{"DeleteRepository", func() error { return s.DeleteRepository(ctx, "app", true) }},
		{"WalkRepositories", func() error {
			return s.WalkRepositories(ctx, "", func(storage.Repository) error { return none() })
		}},
		{"PutManifest", func() error {
			return s.PutManifest(ctx, storage.PutManifestRequest{Repository: "app", Manifest: m})
		}},
		{"GetManifest", func() error { _, err := s.GetManifest(ctx, "app", m.Digest); return err }},
		{"DeleteManifest", func() error { return s.DeleteManifest(ctx, "app", m.Digest) }},
		{"WalkManifests", func() error {
			return s.WalkManifests(ctx, "app", "", func(storage.Manifest) error { return none() })
		}},
		{"RecordPull", func() error { return s.RecordPull(ctx, "app", m.Digest, now()) }},
		{"ResolveTag", func() error { _, err := s.ResolveTag(ctx, "app", "v1"); return err }},
		{"DeleteTag", func() error { return s.DeleteTag(ctx, "app", "v1") }},
		{"WalkTags", func() error {
			return s.WalkTags(ctx, "app", "", func(string, digest.Digest) error { return none() })
		}},
		{"TagsOf", func() error { _, err := s.TagsOf(ctx, "app", m.Digest); return err }},
		{"WalkReferrers", func() error {
			return s.WalkReferrers(ctx, "app", m.Digest, func(storage.Manifest) error { return none() })
		}},
		{"LinkBlob", func() error { return s.LinkBlob(ctx, "app", link) }},
		{"GetBlobLink", func() error { _, err := s.GetBlobLink(ctx, "app", d); return err }},
		{"UnlinkBlob", func() error { return s.UnlinkBlob(ctx, "app", d) }},
		{"WalkBlobLinks", func() error {
			return s.WalkBlobLinks(ctx, "app", func(storage.BlobLink) error { return none() })
		}},
		{"PutUpload", func() error { return s.PutUpload(ctx, u) }},
		{"GetUpload", func() error { _, err := s.GetUpload(ctx, u.ID); return err }},
		{"DeleteUpload", func() error { return s.DeleteUpload(ctx, u.ID) }},
		{"CompleteUpload", func() error { return s.CompleteUpload(ctx, u.ID, link) }},
		{"WalkUploads", func() error { return s.WalkUploads(ctx, func(storage.Upload) error { return none() }) }},
	}
	if w, ok := s.(storage.BlobWalker); ok {
		ops = append(ops, struct {
			name string
			fn   func() error
		}{"WalkBlobs", func() error { return w.WalkBlobs(ctx, func(storage.BlobInfo) error { return none() }) }})
	}
	for _, op := range ops {
		wantErr(t, op.name+" after Close", op.fn(), storage.ErrClosed)
	}
}

// testWalkCallbacksRead reads the store from inside every walk callback.
func testWalkCallbacksRead(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	createRepo(t, s, "app")
	pushEmptyJSON(t, s, "app")
	subject := newImage(t, s, "app")
	put(t, s, "app", subject, "v1")
	put(t, s, "app", artifact(t, "application/vnd.test", subject.Digest), "sig")
	must(t, "PutUpload", s.PutUpload(ctx, newUpload("app")))

	done := make(chan struct{})
	go func() {
		defer close(done)
		check := func(op string, err error) {
			if err != nil {
				t.Errorf("%s with a reading callback: %v", op, err)
			}
		}
		check("WalkRepositories", s.WalkRepositories(ctx, "", func(r storage.Repository) error {
			_, err := s.GetRepository(ctx, r.Name)
			return err
		}))
		check("WalkTags", s.WalkTags(ctx, "app", "", func(tag string, d digest.Digest) error {
			if _, err := s.GetManifest(ctx, "app", d); err != nil {
				return err
			}
			_, err := s.ResolveTag(ctx, "app", tag)
			return err
		}))
		check("WalkManifests", s.WalkManifests(ctx, "app", "", func(m storage.Manifest) error {
			_, err := s.TagsOf(ctx, "app", m.Digest)
			return err
		}))
		check("WalkReferrers", s.WalkReferrers(ctx, "app", subject.Digest, func(m storage.Manifest) error {
			_, err := s.GetManifest(ctx, "app", m.Digest)
			return err
		}))
		check("WalkBlobLinks", s.WalkBlobLinks(ctx, "app", func(l storage.BlobLink) error {
			_, err := s.StatBlob(ctx, l.Digest)
			return err
		}))
		check("WalkUploads", s.WalkUploads(ctx, func(u storage.Upload) error {
			_, err := s.GetUpload(ctx, u.ID)
			return err
		}))
		if w, ok := s.(storage.BlobWalker); ok {
			check("WalkBlobs", w.WalkBlobs(ctx, func(b storage.BlobInfo) error {
				_, err := s.StatBlob(ctx, b.Digest)
				return err
			}))
		}
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("walks whose callbacks read the store did not finish within a minute (deadlock?)")
	}
}

// testEmptyAfterDeletes uses every kind of record, deletes them all through
// the API and checks that nothing is left.
func testEmptyAfterDeletes(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	createRepo(t, s, "app")
	pushEmptyJSON(t, s, "app")
	img := newImage(t, s, "app")
	put(t, s, "app", img, "v1", "latest")
	ref := artifact(t, "application/vnd.test", img.Digest)
	put(t, s, "app", ref, "sig")
	idx := index(t, img)
	put(t, s, "app", idx, "multi")
	pending := newUpload("app")
	must(t, "PutUpload", s.PutUpload(ctx, pending))
	appendBytes(t, s, &pending, randomBytes(100))
	must(t, "PutUpload", s.PutUpload(ctx, pending))

	for _, tag := range []string{"v1", "latest", "sig", "multi"} {
		must(t, "DeleteTag("+tag+")", s.DeleteTag(ctx, "app", tag))
	}
	for _, d := range []digest.Digest{idx.Digest, ref.Digest, img.Digest} {
		must(t, "DeleteManifest", s.DeleteManifest(ctx, "app", d))
	}
	checkStrings(t, "WalkTags", tagNames(t, s, "app", ""), nil)
	checkStrings(t, "WalkManifests", manifestDigests(t, s, "app", ""), nil)
	checkStrings(t, "WalkReferrers", referrerDigests(t, s, "app", img.Digest), nil)
	links := linkDigests(t, s, "app")
	for _, d := range links {
		must(t, "UnlinkBlob", s.UnlinkBlob(ctx, "app", d))
	}
	checkStrings(t, "WalkBlobLinks", linkDigests(t, s, "app"), nil)
	must(t, "AbortUpload", s.AbortUpload(ctx, &pending))
	must(t, "DeleteUpload", s.DeleteUpload(ctx, pending.ID))
	must(t, "DeleteRepository", s.DeleteRepository(ctx, "app", false))
	for _, d := range links {
		must(t, "DeleteBlob", s.DeleteBlob(ctx, d))
	}

	checkStrings(t, "WalkRepositories", repoNames(t, s, ""), nil)
	checkStrings(t, "WalkUploads", uploadIDs(t, s), nil)
	if w, ok := s.(storage.BlobWalker); ok {
		var left []storage.BlobInfo
		must(t, "WalkBlobs", w.WalkBlobs(ctx, func(b storage.BlobInfo) error {
			left = append(left, b)
			return nil
		}))
		if len(left) != 0 {
			t.Errorf("WalkBlobs after deleting everything = %v, want none", left)
		}
	}
}
