package storagetest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/berth-dev/berth/storage"
)

var repositoryTests = []test{
	{"CreateGet", testRepositoryCreateGet},
	{"Unknown", testRepositoryUnknown},
	{"Update", testRepositoryUpdate},
	{"UpdateError", testRepositoryUpdateError},
	{"NotAliased", testRepositoryNotAliased},
	{"WalkOrder", testWalkRepositoriesOrder},
	{"WalkPages", testWalkRepositoriesPages},
	{"WalkSkipAllAndError", testWalkRepositoriesStops},
	{"DeleteEmpty", testDeleteRepositoryEmpty},
	{"DeleteNotEmpty", testDeleteRepositoryNotEmpty},
	{"ForceDelete", testForceDeleteRepository},
}

// fullRepository returns a repository record with every field set.
func fullRepository(name string) storage.Repository {
	return storage.Repository{
		Name:                       name,
		CreatedAt:                  now(),
		TagMutability:              storage.MutabilityImmutableWithExclusion,
		MutabilityExclusionFilters: []string{"latest", "dev-*"},
		ResourceTags:               map[string]string{"team": "core", "env": "prod"},
		ScanOnPush:                 true,
	}
}

func testRepositoryCreateGet(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	want := fullRepository("team/app")
	must(t, "CreateRepository", s.CreateRepository(ctx, want))
	got, err := s.GetRepository(ctx, want.Name)
	must(t, "GetRepository", err)
	checkRepository(t, "GetRepository", got, want)

	other := storage.Repository{Name: want.Name, CreatedAt: now(), TagMutability: storage.MutabilityMutable}
	wantErr(t, "CreateRepository(duplicate)", s.CreateRepository(ctx, other), storage.ErrAlreadyExists)
	got, err = s.GetRepository(ctx, want.Name)
	must(t, "GetRepository", err)
	checkRepository(t, "GetRepository after duplicate create", got, want)
}

func testRepositoryUnknown(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	createRepo(t, s, "known")
	_, err := s.GetRepository(ctx, "unknown")
	wantErr(t, "GetRepository(unknown)", err, storage.ErrNotFound)
	called := false
	err = s.UpdateRepository(ctx, "unknown", func(*storage.Repository) error {
		called = true
		return nil
	})
	wantErr(t, "UpdateRepository(unknown)", err, storage.ErrNotFound)
	if called {
		t.Errorf("UpdateRepository(unknown) called fn")
	}
	wantErr(t, "DeleteRepository(unknown, false)", s.DeleteRepository(ctx, "unknown", false), storage.ErrNotFound)
	wantErr(t, "DeleteRepository(unknown, true)", s.DeleteRepository(ctx, "unknown", true), storage.ErrNotFound)
	// A name that is a prefix of an existing one does not exist either.
	_, err = s.GetRepository(ctx, "kno")
	wantErr(t, "GetRepository(prefix of a name)", err, storage.ErrNotFound)
}

func testRepositoryUpdate(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	want := fullRepository("upd")
	must(t, "CreateRepository", s.CreateRepository(ctx, want))
	err := s.UpdateRepository(ctx, want.Name, func(r *storage.Repository) error {
		checkRepository(t, "UpdateRepository fn argument", *r, want)
		r.TagMutability = storage.MutabilityMutable
		r.MutabilityExclusionFilters = append(r.MutabilityExclusionFilters, "rc-*")
		r.ResourceTags["owner"] = "alice"
		r.ScanOnPush = false
		return nil
	})
	must(t, "UpdateRepository", err)
	want.TagMutability = storage.MutabilityMutable
	want.MutabilityExclusionFilters = []string{"latest", "dev-*", "rc-*"}
	want.ResourceTags = map[string]string{"team": "core", "env": "prod", "owner": "alice"}
	want.ScanOnPush = false
	got, err := s.GetRepository(ctx, want.Name)
	must(t, "GetRepository", err)
	checkRepository(t, "GetRepository after update", got, want)
}

func testRepositoryUpdateError(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	want := fullRepository("upd-err")
	must(t, "CreateRepository", s.CreateRepository(ctx, want))
	err := s.UpdateRepository(ctx, want.Name, func(r *storage.Repository) error {
		r.TagMutability = storage.MutabilityMutable
		r.ResourceTags["owner"] = "mallory"
		return errBoom
	})
	wantErr(t, "UpdateRepository(fn fails)", err, errBoom)
	got, err := s.GetRepository(ctx, want.Name)
	must(t, "GetRepository", err)
	checkRepository(t, "GetRepository after failed update", got, want)
}

// testRepositoryNotAliased checks that records go in and out as copies.
func testRepositoryNotAliased(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	in := fullRepository("alias")
	want := fullRepository("alias")
	want.CreatedAt = in.CreatedAt
	must(t, "CreateRepository", s.CreateRepository(ctx, in))
	in.ResourceTags["team"] = "changed"
	in.MutabilityExclusionFilters[0] = "changed"

	got, err := s.GetRepository(ctx, in.Name)
	must(t, "GetRepository", err)
	checkRepository(t, "GetRepository after the caller changed its record", got, want)
	got.ResourceTags["team"] = "changed"
	got.MutabilityExclusionFilters[0] = "changed"
	got, err = s.GetRepository(ctx, in.Name)
	must(t, "GetRepository", err)
	checkRepository(t, "GetRepository after the caller changed a returned record", got, want)

	var kept *storage.Repository
	must(t, "UpdateRepository", s.UpdateRepository(ctx, in.Name, func(r *storage.Repository) error {
		kept = r
		return nil
	}))
	kept.ResourceTags["team"] = "changed"
	got, err = s.GetRepository(ctx, in.Name)
	must(t, "GetRepository", err)
	checkRepository(t, "GetRepository after the caller changed a record it kept from UpdateRepository", got, want)

	must(t, "WalkRepositories", s.WalkRepositories(ctx, "", func(r storage.Repository) error {
		r.ResourceTags["team"] = "changed"
		return nil
	}))
	got, err = s.GetRepository(ctx, in.Name)
	must(t, "GetRepository", err)
	checkRepository(t, "GetRepository after the caller changed a walked record", got, want)
}

// repoNamesByteOrder are names whose byte order differs from a
// path-segment order: '-' < '.' < '/' < '0' < '_' < 'a'.
var repoNamesByteOrder = []string{"b", "a/b/c", "a", "a_b", "a-b", "a/b", "a.b", "a0", "a/b-c", "ab"}

func testWalkRepositoriesOrder(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	if got := repoNames(t, s, ""); len(got) != 0 {
		t.Fatalf("WalkRepositories on a new store = %q, want none", got)
	}
	recs := make(map[string]storage.Repository)
	for _, name := range repoNamesByteOrder {
		recs[name] = createRepo(t, s, name)
	}
	all := slices.Sorted(slices.Values(repoNamesByteOrder))
	// all is: a a-b a.b a/b a/b-c a/b/c a0 a_b ab b

	checkStrings(t, `WalkRepositories(after "")`, repoNames(t, s, ""), all)
	for _, after := range []string{"a", "a/b", "a/a", "a/b/c", "a0", "aa", "b"} {
		var want []string
		for _, n := range all {
			if n > after {
				want = append(want, n)
			}
		}
		checkStrings(t, fmt.Sprintf("WalkRepositories(after %q)", after), repoNames(t, s, after), want)
	}
	must(t, "WalkRepositories", s.WalkRepositories(ctx, "", func(r storage.Repository) error {
		checkRepository(t, "WalkRepositories record", r, recs[r.Name])
		return nil
	}))
}

func testWalkRepositoriesPages(t *testing.T, s storage.Storage) {
	var want []string
	for i := range 23 {
		name := fmt.Sprintf("org/repo-%02d", i)
		createRepo(t, s, name)
		want = append(want, name)
	}
	for _, size := range []int{1, 5, 23, 100} {
		got := paginate(t, size, func(after string, fn func(string) error) error {
			return s.WalkRepositories(t.Context(), after, func(r storage.Repository) error { return fn(r.Name) })
		})
		checkStrings(t, fmt.Sprintf("WalkRepositories in pages of %d", size), got, want)
	}
}

func testWalkRepositoriesStops(t *testing.T, s storage.Storage) {
	createRepo(t, s, "one")
	createRepo(t, s, "two")
	checkWalkStops(t, "WalkRepositories", func(fn func() error) error {
		return s.WalkRepositories(t.Context(), "", func(storage.Repository) error { return fn() })
	})
}

func testDeleteRepositoryEmpty(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	createRepo(t, s, "empty")
	createRepo(t, s, "empty/child")
	d := pushBlob(t, s, "empty", randomBytes(32)) // links are not manifests
	must(t, "DeleteRepository(empty, false)", s.DeleteRepository(ctx, "empty", false))
	_, err := s.GetRepository(ctx, "empty")
	wantErr(t, "GetRepository(deleted)", err, storage.ErrNotFound)
	if _, err := s.GetRepository(ctx, "empty/child"); err != nil {
		t.Errorf("GetRepository(empty/child) after deleting empty: %v", err)
	}
	if _, err := s.StatBlob(ctx, d); err != nil {
		t.Errorf("StatBlob after DeleteRepository: %v (blob bytes must stay)", err)
	}
	checkStrings(t, "WalkRepositories", repoNames(t, s, ""), []string{"empty/child"})
}

func testDeleteRepositoryNotEmpty(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	createRepo(t, s, "full")
	m := newImage(t, s, "full")
	put(t, s, "full", m, "v1")
	wantErr(t, "DeleteRepository(full, false)", s.DeleteRepository(ctx, "full", false), storage.ErrNotEmpty)
	if _, err := s.GetRepository(ctx, "full"); err != nil {
		t.Errorf("GetRepository after refused delete: %v", err)
	}
	if _, err := s.GetManifest(ctx, "full", m.Digest); err != nil {
		t.Errorf("GetManifest after refused delete: %v", err)
	}
	if d, err := s.ResolveTag(ctx, "full", "v1"); err != nil || d != m.Digest {
		t.Errorf("ResolveTag after refused delete = %s, %v, want %s", d, err, m.Digest)
	}
}

func testForceDeleteRepository(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	createRepo(t, s, "doomed")
	createRepo(t, s, "survivor")
	m := newImage(t, s, "doomed")
	put(t, s, "doomed", m, "v1", "latest")
	pushEmptyJSON(t, s, "doomed")
	ref := artifact(t, "application/vnd.test.sbom", m.Digest)
	put(t, s, "doomed", ref)
	// The survivor holds the same image, mounted.
	for _, d := range m.Blobs {
		l, err := s.GetBlobLink(ctx, "doomed", d)
		must(t, "GetBlobLink", err)
		must(t, "LinkBlob(survivor)", s.LinkBlob(ctx, "survivor", l))
	}
	put(t, s, "survivor", m, "v1")

	must(t, "DeleteRepository(doomed, true)", s.DeleteRepository(ctx, "doomed", true))
	_, err := s.GetRepository(ctx, "doomed")
	wantErr(t, "GetRepository(deleted)", err, storage.ErrNotFound)
	_, err = s.GetManifest(ctx, "doomed", m.Digest)
	wantErr(t, "GetManifest in deleted repository", err, storage.ErrNotFound)
	_, err = s.ResolveTag(ctx, "doomed", "v1")
	wantErr(t, "ResolveTag in deleted repository", err, storage.ErrNotFound)
	_, err = s.GetBlobLink(ctx, "doomed", m.Blobs[0])
	wantErr(t, "GetBlobLink in deleted repository", err, storage.ErrNotFound)
	for _, d := range m.Blobs {
		if _, err := s.StatBlob(ctx, d); err != nil {
			t.Errorf("StatBlob(%s) after DeleteRepository: %v (blob bytes must stay)", d, err)
		}
	}
	checkStrings(t, "WalkRepositories", repoNames(t, s, ""), []string{"survivor"})

	// The survivor is untouched.
	if d, err := s.ResolveTag(ctx, "survivor", "v1"); err != nil || d != m.Digest {
		t.Errorf("ResolveTag(survivor, v1) = %s, %v, want %s", d, err, m.Digest)
	}
	checkStrings(t, "WalkBlobLinks(survivor)", linkDigests(t, s, "survivor"), slices.Sorted(slices.Values(m.Blobs)))

	// A new repository with the same name starts empty.
	createRepo(t, s, "doomed")
	checkStrings(t, "WalkManifests(recreated)", manifestDigests(t, s, "doomed", ""), nil)
	checkStrings(t, "WalkTags(recreated)", tagNames(t, s, "doomed", ""), nil)
	checkStrings(t, "WalkBlobLinks(recreated)", linkDigests(t, s, "doomed"), nil)
	checkStrings(t, "WalkReferrers(recreated)", referrerDigests(t, s, "doomed", m.Digest), nil)
	_, err = s.GetManifest(ctx, "doomed", m.Digest)
	wantErr(t, "GetManifest(recreated)", err, storage.ErrNotFound)
	_, err = s.ResolveTag(ctx, "doomed", "latest")
	wantErr(t, "ResolveTag(recreated)", err, storage.ErrNotFound)
	_, err = s.GetBlobLink(ctx, "doomed", m.Blobs[0])
	wantErr(t, "GetBlobLink(recreated)", err, storage.ErrNotFound)
}
