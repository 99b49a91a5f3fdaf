package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/storage"
)

var manifestTests = []test{
	{"PutGet", testPutGetManifest},
	{"Unknown", testManifestUnknown},
	{"UnknownRepository", testPutManifestUnknownRepository},
	{"CreateOnPush", testPutManifestCreateOnPush},
	{"MissingBlob", testPutManifestMissingBlob},
	{"MissingChildManifest", testPutManifestMissingChild},
	{"NotAliased", testManifestNotAliased},
	{"RePutKeepsTimes", testRePutKeepsTimes},
	{"RecordPull", testRecordPull},
	{"Walk", testWalkManifests},
	{"WalkSkipAllAndError", testWalkManifestsStops},
	{"Delete", testDeleteManifest},
}

func testPutGetManifest(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	createRepo(t, s, "app")
	img := newImage(t, s, "app")
	put(t, s, "app", img, "v1")
	got, err := s.GetManifest(ctx, "app", img.Digest)
	must(t, "GetManifest", err)
	checkManifest(t, "GetManifest(image)", got, img, true)
	if d, err := s.ResolveTag(ctx, "app", "v1"); err != nil || d != img.Digest {
		t.Errorf("ResolveTag(v1) = %s, %v, want %s", d, err, img.Digest)
	}

	pushEmptyJSON(t, s, "app")
	sig := artifact(t, "application/vnd.test.signature", img.Digest)
	put(t, s, "app", sig)
	got, err = s.GetManifest(ctx, "app", sig.Digest)
	must(t, "GetManifest", err)
	checkManifest(t, "GetManifest(artifact)", got, sig, true)

	idx := index(t, img, sig)
	put(t, s, "app", idx, "multi")
	got, err = s.GetManifest(ctx, "app", idx.Digest)
	must(t, "GetManifest", err)
	checkManifest(t, "GetManifest(index)", got, idx, true)
}

func testManifestUnknown(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	createRepo(t, s, "app")
	d := digest.FromBytes(randomBytes(16))
	_, err := s.GetManifest(ctx, "app", d)
	wantErr(t, "GetManifest(unknown digest)", err, storage.ErrNotFound)
	_, err = s.GetManifest(ctx, "nope", d)
	wantErr(t, "GetManifest(unknown repository)", err, storage.ErrNotFound)
	wantErr(t, "DeleteManifest(unknown digest)", s.DeleteManifest(ctx, "app", d), storage.ErrNotFound)
	wantErr(t, "DeleteManifest(unknown repository)", s.DeleteManifest(ctx, "nope", d), storage.ErrNotFound)
	wantErr(t, "RecordPull(unknown digest)", s.RecordPull(ctx, "app", d, now()), storage.ErrNotFound)
	wantErr(t, "RecordPull(unknown repository)", s.RecordPull(ctx, "nope", d, now()), storage.ErrNotFound)
	_, err = s.ResolveTag(ctx, "app", "latest")
	wantErr(t, "ResolveTag(unknown tag)", err, storage.ErrNotFound)
	_, err = s.ResolveTag(ctx, "nope", "latest")
	wantErr(t, "ResolveTag(unknown repository)", err, storage.ErrNotFound)
	wantErr(t, "DeleteTag(unknown tag)", s.DeleteTag(ctx, "app", "latest"), storage.ErrNotFound)
	wantErr(t, "DeleteTag(unknown repository)", s.DeleteTag(ctx, "nope", "latest"), storage.ErrNotFound)
}

// checkNotWritten checks that a failed PutManifest left no trace of m or
// of tags in repo.
func checkNotWritten(t *testing.T, s storage.Storage, repo string, m storage.Manifest, tags ...string) {
	t.Helper()
	ctx := t.Context()
	_, err := s.GetManifest(ctx, repo, m.Digest)
	wantErr(t, "GetManifest after failed PutManifest", err, storage.ErrNotFound)
	for _, tag := range tags {
		_, err := s.ResolveTag(ctx, repo, tag)
		wantErr(t, "ResolveTag("+tag+") after failed PutManifest", err, storage.ErrNotFound)
	}
	if ds := manifestDigests(t, s, repo, ""); slices.Contains(ds, m.Digest) {
		t.Errorf("WalkManifests after failed PutManifest lists %s", m.Digest)
	}
}

func testPutManifestUnknownRepository(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	m := index(t) // references nothing, so only the repository is missing
	err := s.PutManifest(ctx, storage.PutManifestRequest{Repository: "nope", Manifest: m, Tags: []string{"v1"}})
	wantErr(t, "PutManifest(unknown repository)", err, storage.ErrNotFound)
	_, err = s.GetRepository(ctx, "nope")
	wantErr(t, "GetRepository after failed PutManifest", err, storage.ErrNotFound)
	checkStrings(t, "WalkRepositories", repoNames(t, s, ""), nil)
}

func testPutManifestCreateOnPush(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	repo := fullRepository("new/repo")
	m := index(t)
	must(t, "PutManifest(create on push)", s.PutManifest(ctx, storage.PutManifestRequest{
		Repository:       repo.Name,
		Manifest:         m,
		Tags:             []string{"latest"},
		CreateRepository: &repo,
	}))
	got, err := s.GetRepository(ctx, repo.Name)
	must(t, "GetRepository", err)
	checkRepository(t, "GetRepository after create on push", got, repo)
	gotM, err := s.GetManifest(ctx, repo.Name, m.Digest)
	must(t, "GetManifest", err)
	checkManifest(t, "GetManifest", gotM, m, true)
	if d, err := s.ResolveTag(ctx, repo.Name, "latest"); err != nil || d != m.Digest {
		t.Errorf("ResolveTag(latest) = %s, %v, want %s", d, err, m.Digest)
	}

	// With the repository there, CreateRepository is ignored.
	other := storage.Repository{Name: repo.Name, CreatedAt: now().Add(time.Hour)}
	m2 := index(t)
	must(t, "PutManifest(create on push, repository exists)", s.PutManifest(ctx, storage.PutManifestRequest{
		Repository:       repo.Name,
		Manifest:         m2,
		CreateRepository: &other,
	}))
	got, err = s.GetRepository(ctx, repo.Name)
	must(t, "GetRepository", err)
	checkRepository(t, "GetRepository after second create on push", got, repo)
	checkStrings(t, "WalkManifests", manifestDigests(t, s, repo.Name, ""), sortedDigests(m, m2))
}

// checkMissing checks that err is ErrMissingReference and names d.
func checkMissing(t *testing.T, op string, err error, d digest.Digest) {
	t.Helper()
	if !errors.Is(err, storage.ErrMissingReference) {
		t.Errorf("%s: error = %v, want %v", op, err, storage.ErrMissingReference)
		return
	}
	if !strings.Contains(err.Error(), d.String()) {
		t.Errorf("%s: error %q does not name the missing digest %s", op, err, d)
	}
}

func testPutManifestMissingBlob(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	createRepo(t, s, "app")
	createRepo(t, s, "other")
	img := newImage(t, s, "other") // blobs are linked to "other" only

	// Link the config but not the layers.
	l, err := s.GetBlobLink(ctx, "other", img.Blobs[0])
	must(t, "GetBlobLink", err)
	must(t, "LinkBlob", s.LinkBlob(ctx, "app", l))
	err = s.PutManifest(ctx, storage.PutManifestRequest{Repository: "app", Manifest: img, Tags: []string{"v1"}})
	checkMissing(t, "PutManifest(layer not linked)", err, img.Blobs[1])
	checkNotWritten(t, s, "app", img, "v1")

	// A committed blob that is not linked is missing too.
	d := commitBlob(t, s, randomBytes(100))
	m := img
	m.Blobs = []digest.Digest{img.Blobs[0], d}
	err = s.PutManifest(ctx, storage.PutManifestRequest{Repository: "app", Manifest: m})
	checkMissing(t, "PutManifest(blob committed but not linked)", err, d)
	checkNotWritten(t, s, "app", m)

	// Create on push writes nothing either, not even the repository.
	repo := storage.Repository{Name: "created", CreatedAt: now()}
	err = s.PutManifest(ctx, storage.PutManifestRequest{
		Repository:       repo.Name,
		Manifest:         img,
		Tags:             []string{"v1"},
		CreateRepository: &repo,
	})
	checkMissing(t, "PutManifest(create on push, blob missing)", err, img.Blobs[0])
	_, err = s.GetRepository(ctx, repo.Name)
	wantErr(t, "GetRepository after failed create on push", err, storage.ErrNotFound)

	// Once linked, the same put succeeds.
	for _, d := range img.Blobs[1:] {
		l, err := s.GetBlobLink(ctx, "other", d)
		must(t, "GetBlobLink", err)
		must(t, "LinkBlob", s.LinkBlob(ctx, "app", l))
	}
	put(t, s, "app", img, "v1")
}

func testPutManifestMissingChild(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	createRepo(t, s, "app")
	createRepo(t, s, "other")
	a := newImage(t, s, "app")
	put(t, s, "app", a)
	b := newImage(t, s, "app") // blobs linked, manifest not put
	c := newImage(t, s, "other")
	put(t, s, "other", c) // in another repository

	idx := index(t, a, b)
	err := s.PutManifest(ctx, storage.PutManifestRequest{Repository: "app", Manifest: idx, Tags: []string{"multi"}})
	checkMissing(t, "PutManifest(index, child not put)", err, b.Digest)
	checkNotWritten(t, s, "app", idx, "multi")

	idx2 := index(t, a, c)
	err = s.PutManifest(ctx, storage.PutManifestRequest{Repository: "app", Manifest: idx2})
	checkMissing(t, "PutManifest(index, child in another repository)", err, c.Digest)
	checkNotWritten(t, s, "app", idx2)

	put(t, s, "app", b)
	put(t, s, "app", idx, "multi")
	got, err := s.GetManifest(ctx, "app", idx.Digest)
	must(t, "GetManifest(index)", err)
	checkManifest(t, "GetManifest(index)", got, idx, true)
}

// testManifestNotAliased checks that records and payloads go in and out as
// copies.
func testManifestNotAliased(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	createRepo(t, s, "app")
	pushEmptyJSON(t, s, "app")
	m := artifact(t, "application/vnd.test", "")
	want := cloneManifest(m)
	put(t, s, "app", m)
	scribble := func(m *storage.Manifest) {
		if len(m.Payload) > 0 {
			m.Payload[0] ^= 0xff
		}
		if len(m.Blobs) > 0 {
			m.Blobs[0] = "sha256:scribbled"
		}
		if m.Annotations != nil {
			m.Annotations["dev.berth.test.nonce"] = "scribbled"
		}
	}
	check := func(op string) {
		t.Helper()
		got, err := s.GetManifest(ctx, "app", want.Digest)
		must(t, "GetManifest", err)
		checkManifest(t, op, got, want, true)
	}

	scribble(&m)
	check("GetManifest after the caller changed the record it put")
	got, err := s.GetManifest(ctx, "app", want.Digest)
	must(t, "GetManifest", err)
	scribble(&got)
	check("GetManifest after the caller changed a returned record")
	must(t, "WalkManifests", s.WalkManifests(ctx, "app", "", func(m storage.Manifest) error {
		scribble(&m)
		return nil
	}))
	check("GetManifest after the caller changed a walked record")
}

func testRePutKeepsTimes(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	createRepo(t, s, "app")
	m := newImage(t, s, "app")
	m.PushedAt = now().Add(-time.Hour)
	put(t, s, "app", m, "a")
	pulled := now().Add(-time.Minute)
	must(t, "RecordPull", s.RecordPull(ctx, "app", m.Digest, pulled))

	again := cloneManifest(m)
	again.PushedAt = now()
	put(t, s, "app", again, "b")

	want := m
	want.LastPulledAt = pulled
	got, err := s.GetManifest(ctx, "app", m.Digest)
	must(t, "GetManifest", err)
	checkManifest(t, "GetManifest after re-put", got, want, true)
	tags, err := s.TagsOf(ctx, "app", m.Digest)
	must(t, "TagsOf", err)
	checkStrings(t, "TagsOf after re-put", tags, []string{"a", "b"})
	checkStrings(t, "WalkManifests after re-put", manifestDigests(t, s, "app", ""), []digest.Digest{m.Digest})
}

func testRecordPull(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	createRepo(t, s, "app")
	m := newImage(t, s, "app")
	put(t, s, "app", m)
	got, err := s.GetManifest(ctx, "app", m.Digest)
	must(t, "GetManifest", err)
	if !got.LastPulledAt.IsZero() {
		t.Errorf("LastPulledAt before any pull = %v, want zero", got.LastPulledAt)
	}
	for _, at := range []time.Time{now().Add(-time.Hour), now()} {
		must(t, "RecordPull", s.RecordPull(ctx, "app", m.Digest, at))
		want := m
		want.LastPulledAt = at
		got, err := s.GetManifest(ctx, "app", m.Digest)
		must(t, "GetManifest", err)
		checkManifest(t, "GetManifest after RecordPull", got, want, true)
		must(t, "WalkManifests", s.WalkManifests(ctx, "app", "", func(got storage.Manifest) error {
			checkManifest(t, "WalkManifests after RecordPull", got, want, false)
			return nil
		}))
	}
}

func testWalkManifests(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	createRepo(t, s, "app")
	createRepo(t, s, "other")
	checkStrings(t, "WalkManifests(empty repository)", manifestDigests(t, s, "app", ""), nil)
	pushEmptyJSON(t, s, "app")
	pushEmptyJSON(t, s, "other")
	byDigest := make(map[digest.Digest]storage.Manifest)
	var ms []storage.Manifest
	for range 7 {
		m := artifact(t, "application/vnd.test", "")
		put(t, s, "app", m)
		byDigest[m.Digest] = m
		ms = append(ms, m)
	}
	put(t, s, "other", artifact(t, "application/vnd.test", ""))
	all := sortedDigests(ms...)

	checkStrings(t, "WalkManifests", manifestDigests(t, s, "app", ""), all)
	for _, i := range []int{0, 3, 6} {
		checkStrings(t, fmt.Sprintf("WalkManifests(after #%d)", i), manifestDigests(t, s, "app", all[i]), all[i+1:])
	}
	checkStrings(t, "WalkManifests(after sha256:)", manifestDigests(t, s, "app", "sha256:"), all)
	checkStrings(t, "WalkManifests(after sha256:g)", manifestDigests(t, s, "app", "sha256:g"), nil)
	must(t, "WalkManifests", s.WalkManifests(ctx, "app", "", func(got storage.Manifest) error {
		checkManifest(t, "WalkManifests record", got, byDigest[got.Digest], false)
		return nil
	}))
	got := paginate(t, 3, func(after string, fn func(string) error) error {
		return s.WalkManifests(ctx, "app", digest.Digest(after), func(m storage.Manifest) error { return fn(m.Digest.String()) })
	})
	checkStrings(t, "WalkManifests in pages of 3", got, digestStrings(all))
}

func digestStrings(ds []digest.Digest) []string {
	ss := make([]string, len(ds))
	for i, d := range ds {
		ss[i] = d.String()
	}
	return ss
}

func testWalkManifestsStops(t *testing.T, s storage.Storage) {
	createRepo(t, s, "app")
	pushEmptyJSON(t, s, "app")
	put(t, s, "app", artifact(t, "application/vnd.test", ""))
	put(t, s, "app", artifact(t, "application/vnd.test", ""))
	checkWalkStops(t, "WalkManifests", func(fn func() error) error {
		return s.WalkManifests(t.Context(), "app", "", func(storage.Manifest) error { return fn() })
	})
}

func testDeleteManifest(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	createRepo(t, s, "app")
	m := newImage(t, s, "app")
	n := newImage(t, s, "app")
	put(t, s, "app", m, "a", "b")
	put(t, s, "app", n, "c")

	must(t, "DeleteManifest", s.DeleteManifest(ctx, "app", m.Digest))
	_, err := s.GetManifest(ctx, "app", m.Digest)
	wantErr(t, "GetManifest(deleted)", err, storage.ErrNotFound)
	for _, tag := range []string{"a", "b"} {
		_, err := s.ResolveTag(ctx, "app", tag)
		wantErr(t, "ResolveTag("+tag+") of a deleted manifest", err, storage.ErrNotFound)
	}
	if d, err := s.ResolveTag(ctx, "app", "c"); err != nil || d != n.Digest {
		t.Errorf("ResolveTag(c) = %s, %v, want %s", d, err, n.Digest)
	}
	checkStrings(t, "WalkTags", tagNames(t, s, "app", ""), []string{"c"})
	checkStrings(t, "WalkManifests", manifestDigests(t, s, "app", ""), []digest.Digest{n.Digest})
	wantErr(t, "DeleteManifest(deleted)", s.DeleteManifest(ctx, "app", m.Digest), storage.ErrNotFound)

	// Blob links and bytes stay.
	for _, d := range m.Blobs {
		if _, err := s.GetBlobLink(ctx, "app", d); err != nil {
			t.Errorf("GetBlobLink(%s) after DeleteManifest: %v", d, err)
		}
		if _, err := s.StatBlob(ctx, d); err != nil {
			t.Errorf("StatBlob(%s) after DeleteManifest: %v", d, err)
		}
	}

	// Putting it again brings it back without its old tags.
	put(t, s, "app", m)
	tags, err := s.TagsOf(ctx, "app", m.Digest)
	must(t, "TagsOf", err)
	checkStrings(t, "TagsOf after re-put", tags, nil)
}

var tagTests = []test{
	{"Move", testMoveTag},
	{"CheckTag", testCheckTag},
	{"CheckTagAborts", testCheckTagAborts},
	{"TagsOf", testTagsOf},
	{"Delete", testDeleteTag},
	{"WalkOrder", testWalkTagsOrder},
	{"WalkPages", testWalkTagsPages},
	{"WalkSkipAllAndError", testWalkTagsStops},
}

func tagsOf(t *testing.T, s storage.Storage, repo string, d digest.Digest) []string {
	t.Helper()
	tags, err := s.TagsOf(t.Context(), repo, d)
	must(t, "TagsOf", err)
	return tags
}

func testMoveTag(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	createRepo(t, s, "app")
	m1, m2 := newImage(t, s, "app"), newImage(t, s, "app")
	put(t, s, "app", m1, "latest", "v1")
	put(t, s, "app", m2, "latest", "v2")

	if d, err := s.ResolveTag(ctx, "app", "latest"); err != nil || d != m2.Digest {
		t.Errorf("ResolveTag(latest) after move = %s, %v, want %s", d, err, m2.Digest)
	}
	checkStrings(t, "TagsOf(m1)", tagsOf(t, s, "app", m1.Digest), []string{"v1"})
	checkStrings(t, "TagsOf(m2)", tagsOf(t, s, "app", m2.Digest), []string{"latest", "v2"})
	want := map[string]digest.Digest{"latest": m2.Digest, "v1": m1.Digest, "v2": m2.Digest}
	must(t, "WalkTags", s.WalkTags(ctx, "app", "", func(tag string, d digest.Digest) error {
		if d != want[tag] {
			t.Errorf("WalkTags: %s -> %s, want %s", tag, d, want[tag])
		}
		return nil
	}))

	// And back.
	put(t, s, "app", m1, "latest")
	checkStrings(t, "TagsOf(m1) after moving back", tagsOf(t, s, "app", m1.Digest), []string{"latest", "v1"})
	checkStrings(t, "TagsOf(m2) after moving back", tagsOf(t, s, "app", m2.Digest), []string{"v2"})
	checkStrings(t, "WalkTags", tagNames(t, s, "app", ""), []string{"latest", "v1", "v2"})
}

func testCheckTag(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	createRepo(t, s, "app")
	m1, m2 := newImage(t, s, "app"), newImage(t, s, "app")
	put(t, s, "app", m1, "a", "b")

	var calls []string
	err := s.PutManifest(ctx, storage.PutManifestRequest{
		Repository: "app",
		Manifest:   m2,
		Tags:       []string{"a", "b", "c"},
		CheckTag: func(tag string, current digest.Digest) error {
			calls = append(calls, tag+"@"+current.String())
			return nil
		},
	})
	must(t, "PutManifest", err)
	slices.Sort(calls)
	checkStrings(t, "CheckTag calls", calls, []string{"a@" + m1.Digest.String(), "b@" + m1.Digest.String()})
	checkStrings(t, "TagsOf(m2)", tagsOf(t, s, "app", m2.Digest), []string{"a", "b", "c"})
}

var errImmutable = errors.New("storagetest: tag is immutable")

func testCheckTagAborts(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	createRepo(t, s, "app")
	m1, m2 := newImage(t, s, "app"), newImage(t, s, "app")
	put(t, s, "app", m1, "stable")

	err := s.PutManifest(ctx, storage.PutManifestRequest{
		Repository: "app",
		Manifest:   m2,
		Tags:       []string{"new", "stable"},
		CheckTag: func(tag string, current digest.Digest) error {
			if tag == "stable" {
				return errImmutable
			}
			return nil
		},
	})
	wantErr(t, "PutManifest(CheckTag fails)", err, errImmutable)
	checkNotWritten(t, s, "app", m2, "new")
	if d, err := s.ResolveTag(ctx, "app", "stable"); err != nil || d != m1.Digest {
		t.Errorf("ResolveTag(stable) after refused move = %s, %v, want %s", d, err, m1.Digest)
	}
	checkStrings(t, "TagsOf(m1)", tagsOf(t, s, "app", m1.Digest), []string{"stable"})
	checkStrings(t, "WalkTags", tagNames(t, s, "app", ""), []string{"stable"})
}

func testTagsOf(t *testing.T, s storage.Storage) {
	createRepo(t, s, "app")
	m, n := newImage(t, s, "app"), newImage(t, s, "app")
	put(t, s, "app", m, "c", "a", "b", "a")
	put(t, s, "app", n)
	checkStrings(t, "TagsOf(three tags)", tagsOf(t, s, "app", m.Digest), []string{"a", "b", "c"})
	checkStrings(t, "TagsOf(untagged)", tagsOf(t, s, "app", n.Digest), nil)
}

func testDeleteTag(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	createRepo(t, s, "app")
	m := newImage(t, s, "app")
	put(t, s, "app", m, "a", "b")
	must(t, "DeleteTag", s.DeleteTag(ctx, "app", "a"))
	_, err := s.ResolveTag(ctx, "app", "a")
	wantErr(t, "ResolveTag(deleted tag)", err, storage.ErrNotFound)
	if _, err := s.GetManifest(ctx, "app", m.Digest); err != nil {
		t.Errorf("GetManifest after DeleteTag: %v (the manifest must stay)", err)
	}
	checkStrings(t, "TagsOf after DeleteTag", tagsOf(t, s, "app", m.Digest), []string{"b"})
	checkStrings(t, "WalkTags after DeleteTag", tagNames(t, s, "app", ""), []string{"b"})
	wantErr(t, "DeleteTag(deleted tag)", s.DeleteTag(ctx, "app", "a"), storage.ErrNotFound)
}

// tagNamesByteOrder are valid tags whose byte order is not their
// case-insensitive or version order.
var tagNamesByteOrder = []string{"v1", "v1.0", "v1-rc", "V1", "latest", "_x", "1.0", "v10", "v2", "Latest"}

func testWalkTagsOrder(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	createRepo(t, s, "app")
	createRepo(t, s, "other")
	m, n := newImage(t, s, "app"), newImage(t, s, "app")
	put(t, s, "app", m, tagNamesByteOrder[:5]...)
	put(t, s, "app", n, tagNamesByteOrder[5:]...)
	put(t, s, "other", index(t), "zzz")
	want := make(map[string]digest.Digest)
	for i, tag := range tagNamesByteOrder {
		want[tag] = m.Digest
		if i >= 5 {
			want[tag] = n.Digest
		}
	}
	all := slices.Sorted(slices.Values(tagNamesByteOrder))
	// all is: 1.0 Latest V1 _x latest v1 v1-rc v1.0 v10 v2

	checkStrings(t, "WalkTags", tagNames(t, s, "app", ""), all)
	for _, after := range []string{"1.0", "V1", "v1", "v1-", "v2", "zzz"} {
		var wantTags []string
		for _, tag := range all {
			if tag > after {
				wantTags = append(wantTags, tag)
			}
		}
		checkStrings(t, fmt.Sprintf("WalkTags(after %q)", after), tagNames(t, s, "app", after), wantTags)
	}
	must(t, "WalkTags", s.WalkTags(ctx, "app", "", func(tag string, d digest.Digest) error {
		if d != want[tag] {
			t.Errorf("WalkTags: %s -> %s, want %s", tag, d, want[tag])
		}
		return nil
	}))
}

func testWalkTagsPages(t *testing.T, s storage.Storage) {
	createRepo(t, s, "app")
	var want []string
	for i := range 4 {
		var tags []string
		for j := range 6 {
			tags = append(tags, fmt.Sprintf("t-%d-%d", j, i))
		}
		put(t, s, "app", index(t), tags...)
		want = append(want, tags...)
	}
	slices.Sort(want)
	for _, size := range []int{1, 5, 24, 100} {
		got := paginate(t, size, func(after string, fn func(string) error) error {
			return s.WalkTags(t.Context(), "app", after, func(tag string, _ digest.Digest) error { return fn(tag) })
		})
		checkStrings(t, fmt.Sprintf("WalkTags in pages of %d", size), got, want)
	}
}

func testWalkTagsStops(t *testing.T, s storage.Storage) {
	createRepo(t, s, "app")
	put(t, s, "app", index(t), "a", "b", "c")
	checkWalkStops(t, "WalkTags", func(fn func() error) error {
		return s.WalkTags(t.Context(), "app", "", func(string, digest.Digest) error { return fn() })
	})
}

var referrerTests = []test{
	{"Walk", testWalkReferrers},
	{"SubjectAbsent", testReferrerSubjectAbsent},
	{"Delete", testDeleteReferrer},
	{"PerRepository", testReferrersPerRepository},
	{"RePut", testReferrerRePut},
	{"SkipAllAndError", testWalkReferrersStops},
}

func testWalkReferrers(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	createRepo(t, s, "app")
	pushEmptyJSON(t, s, "app")
	subject := newImage(t, s, "app")
	put(t, s, "app", subject, "v1")
	other := newImage(t, s, "app")
	put(t, s, "app", other)

	byDigest := make(map[digest.Digest]storage.Manifest)
	var refs []storage.Manifest
	for _, at := range []string{"application/vnd.test.signature", "application/vnd.test.sbom", "application/vnd.test.signature"} {
		r := artifact(t, at, subject.Digest)
		put(t, s, "app", r)
		refs = append(refs, r)
		byDigest[r.Digest] = r
	}
	put(t, s, "app", artifact(t, "application/vnd.test.sbom", other.Digest))
	put(t, s, "app", artifact(t, "application/vnd.test.sbom", ""))

	checkStrings(t, "WalkReferrers(subject)", referrerDigests(t, s, "app", subject.Digest), sortedDigests(refs...))
	must(t, "WalkReferrers", s.WalkReferrers(ctx, "app", subject.Digest, func(got storage.Manifest) error {
		checkManifest(t, "WalkReferrers record", got, byDigest[got.Digest], false)
		return nil
	}))
	if got := referrerDigests(t, s, "app", other.Digest); len(got) != 1 {
		t.Errorf("WalkReferrers(other) = %v, want 1 referrer", got)
	}
	checkStrings(t, "WalkReferrers(unreferenced)", referrerDigests(t, s, "app", refs[0].Digest), nil)
}

func testReferrerSubjectAbsent(t *testing.T, s storage.Storage) {
	createRepo(t, s, "app")
	pushEmptyJSON(t, s, "app")
	subject := newImage(t, s, "app") // not put yet
	ref := artifact(t, "application/vnd.test.signature", subject.Digest)
	put(t, s, "app", ref)
	checkStrings(t, "WalkReferrers(absent subject)", referrerDigests(t, s, "app", subject.Digest), []digest.Digest{ref.Digest})
	put(t, s, "app", subject)
	checkStrings(t, "WalkReferrers(subject put later)", referrerDigests(t, s, "app", subject.Digest), []digest.Digest{ref.Digest})
}

func testDeleteReferrer(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	createRepo(t, s, "app")
	pushEmptyJSON(t, s, "app")
	subject := newImage(t, s, "app")
	put(t, s, "app", subject)
	r1 := artifact(t, "application/vnd.test", subject.Digest)
	r2 := artifact(t, "application/vnd.test", subject.Digest)
	put(t, s, "app", r1, "sig")
	put(t, s, "app", r2)

	must(t, "DeleteManifest(referrer)", s.DeleteManifest(ctx, "app", r1.Digest))
	checkStrings(t, "WalkReferrers after deleting a referrer", referrerDigests(t, s, "app", subject.Digest), []digest.Digest{r2.Digest})

	// Deleting the subject leaves its referrers: they are manifests of
	// their own.
	must(t, "DeleteManifest(subject)", s.DeleteManifest(ctx, "app", subject.Digest))
	checkStrings(t, "WalkReferrers after deleting the subject", referrerDigests(t, s, "app", subject.Digest), []digest.Digest{r2.Digest})
	must(t, "DeleteManifest(referrer)", s.DeleteManifest(ctx, "app", r2.Digest))
	checkStrings(t, "WalkReferrers after deleting all", referrerDigests(t, s, "app", subject.Digest), nil)
}

func testReferrersPerRepository(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	createRepo(t, s, "a")
	createRepo(t, s, "b")
	pushEmptyJSON(t, s, "a")
	pushEmptyJSON(t, s, "b")
	subject := digest.FromBytes(randomBytes(8))
	ra := artifact(t, "application/vnd.test", subject)
	rb := artifact(t, "application/vnd.test", subject)
	put(t, s, "a", ra)
	put(t, s, "b", rb)
	put(t, s, "b", ra)
	checkStrings(t, "WalkReferrers(a)", referrerDigests(t, s, "a", subject), []digest.Digest{ra.Digest})
	checkStrings(t, "WalkReferrers(b)", referrerDigests(t, s, "b", subject), sortedDigests(ra, rb))
	must(t, "DeleteRepository(b)", s.DeleteRepository(ctx, "b", true))
	checkStrings(t, "WalkReferrers(a) after deleting b", referrerDigests(t, s, "a", subject), []digest.Digest{ra.Digest})
}

func testReferrerRePut(t *testing.T, s storage.Storage) {
	createRepo(t, s, "app")
	pushEmptyJSON(t, s, "app")
	subject := digest.FromBytes(randomBytes(8))
	r := artifact(t, "application/vnd.test", subject)
	put(t, s, "app", r)
	put(t, s, "app", r, "again")
	checkStrings(t, "WalkReferrers after re-put", referrerDigests(t, s, "app", subject), []digest.Digest{r.Digest})
}

func testWalkReferrersStops(t *testing.T, s storage.Storage) {
	createRepo(t, s, "app")
	pushEmptyJSON(t, s, "app")
	subject := digest.FromBytes(randomBytes(8))
	put(t, s, "app", artifact(t, "application/vnd.test", subject))
	put(t, s, "app", artifact(t, "application/vnd.test", subject))
	checkWalkStops(t, "WalkReferrers", func(fn func() error) error {
		return s.WalkReferrers(t.Context(), "app", subject, func(storage.Manifest) error { return fn() })
	})
}
