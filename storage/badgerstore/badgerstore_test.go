package badgerstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/storage"
	"github.com/berth-dev/berth/storage/badgerstore"
	"github.com/berth-dev/berth/storage/storagetest"
)

// TestConformance runs the shared suite with NoSync stores; TestPersistent
// runs it again (RunPersistent includes Run) with durable stores, plus the
// restart tests.
func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Storage {
		s, err := badgerstore.New(badgerstore.Options{Dir: t.TempDir(), NoSync: true})
		if err != nil {
			t.Fatalf("New() error = %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func TestPersistent(t *testing.T) {
	storagetest.RunPersistent(t, func(t *testing.T, dir string) storage.Storage {
		s, err := badgerstore.New(badgerstore.Options{Dir: dir})
		if err != nil {
			t.Fatalf("New(%s) error = %v", dir, err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func BenchmarkBadger(b *testing.B) {
	storagetest.Bench(b, func(b *testing.B) storage.Storage {
		s, err := badgerstore.New(badgerstore.Options{Dir: b.TempDir()})
		if err != nil {
			b.Fatalf("New() error = %v", err)
		}
		b.Cleanup(func() { _ = s.Close() })
		return s
	})
}

// open opens a store on dir and closes it when the test ends.
func open(t testing.TB, dir string) *badgerstore.Store {
	t.Helper()
	s, err := badgerstore.New(badgerstore.Options{Dir: dir})
	if err != nil {
		t.Fatalf("New(%s) error = %v", dir, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func newStore(t testing.TB) (*badgerstore.Store, string) {
	t.Helper()
	dir := t.TempDir()
	return open(t, dir), dir
}

func must(t testing.TB, op string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
}

func wantErr(t testing.TB, op string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error = %v, want %v", op, err, target)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func blobFile(dir string, d digest.Digest) string {
	return filepath.Join(dir, "blobs", string(d.Algorithm()), d.Encoded()[:2], d.Encoded())
}

// appendAll appends p and advances u.Offset as a registry does.
func appendAll(t testing.TB, s *badgerstore.Store, u *storage.Upload, p []byte) {
	t.Helper()
	n, err := s.AppendUpload(context.Background(), u, bytes.NewReader(p))
	must(t, "AppendUpload", err)
	if n != int64(len(p)) {
		t.Fatalf("AppendUpload() = %d, want %d", n, len(p))
	}
	u.Offset += n
}

// pushBlob uploads content into repo and links it; it returns the digest.
func pushBlob(t testing.TB, s *badgerstore.Store, repo, id string, content []byte) digest.Digest {
	t.Helper()
	ctx := context.Background()
	d := digest.FromBytes(content)
	u := storage.Upload{ID: id, Repository: repo}
	must(t, "PutUpload", s.PutUpload(ctx, u))
	appendAll(t, s, &u, content)
	must(t, "PutUpload", s.PutUpload(ctx, u))
	must(t, "CommitUpload", s.CommitUpload(ctx, &u, d))
	must(t, "CompleteUpload", s.CompleteUpload(ctx, id, storage.BlobLink{Digest: d, Size: int64(len(content))}))
	return d
}

func createRepo(t testing.TB, s *badgerstore.Store, name string) {
	t.Helper()
	must(t, "CreateRepository("+name+")", s.CreateRepository(context.Background(), storage.Repository{Name: name, CreatedAt: time.Now().UTC()}))
}

// manifest returns a manifest record over blobs with a unique payload.
func manifest(name string, blobs ...digest.Digest) storage.Manifest {
	payload := fmt.Appendf(nil, `{"schemaVersion":2,"name":%q,"blobs":%q}`, name, blobs)
	return storage.Manifest{
		Digest:    digest.FromBytes(payload),
		MediaType: "application/vnd.oci.image.manifest.v1+json",
		Size:      int64(len(payload)),
		Blobs:     blobs,
		PushedAt:  time.Now().UTC().Truncate(time.Millisecond),
		Payload:   payload,
	}
}

func put(t testing.TB, s *badgerstore.Store, repo string, m storage.Manifest, tags ...string) {
	t.Helper()
	must(t, "PutManifest", s.PutManifest(context.Background(), storage.PutManifestRequest{Repository: repo, Manifest: m, Tags: tags}))
}

func TestNewValidates(t *testing.T) {
	if _, err := badgerstore.New(badgerstore.Options{}); err == nil {
		t.Fatal("New(Options{}) error = nil, want Dir required")
	}
	f := filepath.Join(t.TempDir(), "file")
	must(t, "WriteFile", os.WriteFile(f, nil, 0o644))
	if _, err := badgerstore.New(badgerstore.Options{Dir: f}); err == nil {
		t.Fatal("New on a regular file: error = nil")
	}
}

func TestLayout(t *testing.T) {
	_, dir := newStore(t)
	for _, d := range []string{"meta", "blobs", "ingest"} {
		if fi, err := os.Stat(filepath.Join(dir, d)); err != nil || !fi.IsDir() {
			t.Errorf("%s/ missing after New: %v", d, err)
		}
	}
}

func TestBlobVisibleOnlyAfterCommit(t *testing.T) {
	s, dir := newStore(t)
	ctx := context.Background()
	content := []byte("hello, blob")
	d := digest.FromBytes(content)
	u := &storage.Upload{ID: "u1"}

	appendAll(t, s, u, content[:5])
	appendAll(t, s, u, content[5:])
	if exists(blobFile(dir, d)) {
		t.Fatal("blob file exists before CommitUpload")
	}
	_, err := s.StatBlob(ctx, d)
	wantErr(t, "StatBlob before commit", err, storage.ErrNotFound)
	_, err = s.OpenBlob(ctx, d)
	wantErr(t, "OpenBlob before commit", err, storage.ErrNotFound)
	if !exists(filepath.Join(dir, "ingest", "u1")) {
		t.Fatal("ingest/u1 missing after AppendUpload")
	}

	must(t, "CommitUpload", s.CommitUpload(ctx, u, d))
	if !exists(blobFile(dir, d)) {
		t.Fatal("blob file missing after CommitUpload")
	}
	if exists(filepath.Join(dir, "ingest", "u1")) {
		t.Error("ingest/u1 still exists after CommitUpload")
	}
	info, err := s.StatBlob(ctx, d)
	must(t, "StatBlob", err)
	if info.Size != int64(len(content)) || info.Digest != d {
		t.Errorf("StatBlob() = %+v, want size %d", info, len(content))
	}
	rc, err := s.OpenBlob(ctx, d)
	must(t, "OpenBlob", err)
	defer rc.Close()
	if _, ok := rc.(*os.File); !ok {
		t.Errorf("OpenBlob() returned %T, want *os.File (for sendfile)", rc)
	}
	got, err := io.ReadAll(rc)
	must(t, "ReadAll", err)
	if !bytes.Equal(got, content) {
		t.Errorf("blob content = %q, want %q", got, content)
	}
}

func TestCommitExistingBlobRemovesIngest(t *testing.T) {
	s, dir := newStore(t)
	ctx := context.Background()
	content := []byte("same bytes twice")
	d := digest.FromBytes(content)
	for _, id := range []string{"first", "second"} {
		u := &storage.Upload{ID: id}
		appendAll(t, s, u, content)
		must(t, "CommitUpload("+id+")", s.CommitUpload(ctx, u, d))
		if exists(filepath.Join(dir, "ingest", id)) {
			t.Errorf("ingest/%s still exists after CommitUpload", id)
		}
	}
	ents, err := os.ReadDir(filepath.Join(dir, "ingest"))
	must(t, "ReadDir", err)
	if len(ents) != 0 {
		t.Errorf("ingest/ holds %d entries, want 0", len(ents))
	}
}

func TestAbortRemovesIngest(t *testing.T) {
	s, dir := newStore(t)
	ctx := context.Background()
	u := &storage.Upload{ID: "abort-me"}
	appendAll(t, s, u, []byte("doomed"))
	must(t, "AbortUpload", s.AbortUpload(ctx, u))
	if exists(filepath.Join(dir, "ingest", "abort-me")) {
		t.Error("ingest file exists after AbortUpload")
	}
	must(t, "AbortUpload again", s.AbortUpload(ctx, u))
	must(t, "AbortUpload unknown", s.AbortUpload(ctx, &storage.Upload{ID: "never-seen"}))
}

func TestCommitSizeMismatch(t *testing.T) {
	s, dir := newStore(t)
	ctx := context.Background()
	u := &storage.Upload{ID: "short"}
	appendAll(t, s, u, []byte("12345"))
	u.Offset = 4
	err := s.CommitUpload(ctx, u, digest.FromString("1234"))
	wantErr(t, "CommitUpload with wrong offset", err, storage.ErrSizeMismatch)
	if exists(blobFile(dir, digest.FromString("1234"))) {
		t.Error("blob committed despite size mismatch")
	}
	err = s.CommitUpload(ctx, &storage.Upload{ID: "nodata"}, digest.FromString(""))
	wantErr(t, "CommitUpload without data", err, storage.ErrNotFound)
}

func TestUploadIDValidation(t *testing.T) {
	s, dir := newStore(t)
	ctx := context.Background()
	bad := []string{"", "../x", "..", ".", "a/b", `a\b`, "x\x00y", "a.b", strings.Repeat("a", 129)}
	for _, id := range bad {
		u := &storage.Upload{ID: id}
		if _, err := s.AppendUpload(ctx, u, strings.NewReader("x")); err == nil {
			t.Errorf("AppendUpload(%q) error = nil", id)
		}
		if _, err := s.ReadUpload(ctx, u); err == nil {
			t.Errorf("ReadUpload(%q) error = nil", id)
		}
		if err := s.CommitUpload(ctx, u, digest.FromString("x")); err == nil {
			t.Errorf("CommitUpload(%q) error = nil", id)
		}
		if err := s.AbortUpload(ctx, u); err == nil {
			t.Errorf("AbortUpload(%q) error = nil", id)
		}
		if err := s.PutUpload(ctx, storage.Upload{ID: id}); err == nil {
			t.Errorf("PutUpload(%q) error = nil", id)
		}
		_, err := s.GetUpload(ctx, id)
		wantErr(t, fmt.Sprintf("GetUpload(%q)", id), err, storage.ErrNotFound)
	}
	if exists(filepath.Join(dir, "x")) {
		t.Error(`"../x" escaped the ingest directory`)
	}
	ok := &storage.Upload{ID: strings.Repeat("aZ09_-", 22)[:128]}
	if _, err := s.AppendUpload(ctx, ok, strings.NewReader("x")); err != nil {
		t.Errorf("AppendUpload(valid 128-char id) error = %v", err)
	}
}

// failingReader returns data, then an error.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestAppendTruncatesOnResume(t *testing.T) {
	s, dir := newStore(t)
	ctx := context.Background()
	u := &storage.Upload{ID: "resume"}
	appendAll(t, s, u, []byte("abc"))

	// A crashed append left bytes beyond the recorded offset.
	f, err := os.OpenFile(filepath.Join(dir, "ingest", "resume"), os.O_WRONLY|os.O_APPEND, 0)
	must(t, "OpenFile", err)
	_, err = f.WriteString("GARBAGE")
	must(t, "WriteString", err)
	must(t, "Close", f.Close())

	appendAll(t, s, u, []byte("def"))
	rc, err := s.ReadUpload(ctx, u)
	must(t, "ReadUpload", err)
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "abcdef" {
		t.Errorf("upload data = %q, want %q", got, "abcdef")
	}

	// A failed read is rolled back.
	boom := errors.New("client went away")
	_, err = s.AppendUpload(ctx, u, &failingReader{data: []byte("partial"), err: boom})
	wantErr(t, "AppendUpload with failing reader", err, boom)
	fi, err := os.Stat(filepath.Join(dir, "ingest", "resume"))
	must(t, "Stat", err)
	if fi.Size() != u.Offset {
		t.Errorf("ingest size after failed append = %d, want %d", fi.Size(), u.Offset)
	}

	// Data shorter than the recorded offset is an offset mismatch.
	short := &storage.Upload{ID: "resume", Offset: 100}
	_, err = s.AppendUpload(ctx, short, strings.NewReader("x"))
	wantErr(t, "AppendUpload beyond data", err, storage.ErrOffsetMismatch)
	_, err = s.AppendUpload(ctx, &storage.Upload{ID: "missing", Offset: 3}, strings.NewReader("x"))
	wantErr(t, "AppendUpload to missing data", err, storage.ErrOffsetMismatch)

	must(t, "CommitUpload", s.CommitUpload(ctx, u, digest.FromString("abcdef")))
}

func TestLargeAppend(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	content := bytes.Repeat([]byte("0123456789abcdef"), 300_000) // ~4.6 MiB, several buffers
	u := &storage.Upload{ID: "large"}
	// iotest-style one-byte-at-a-time is too slow; a small-chunk reader
	// exercises buffer filling.
	n, err := s.AppendUpload(ctx, u, &chunkReader{r: bytes.NewReader(content), max: 4000})
	must(t, "AppendUpload", err)
	u.Offset = n
	d := digest.FromBytes(content)
	must(t, "CommitUpload", s.CommitUpload(ctx, u, d))
	info, err := s.StatBlob(ctx, d)
	must(t, "StatBlob", err)
	if info.Size != int64(len(content)) {
		t.Errorf("size = %d, want %d", info.Size, len(content))
	}
}

type chunkReader struct {
	r   io.Reader
	max int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(p) > c.max {
		p = p[:c.max]
	}
	return c.r.Read(p)
}

func TestWalkBlobs(t *testing.T) {
	s, dir := newStore(t)
	ctx := context.Background()
	var want []digest.Digest
	for i := range 20 {
		c := fmt.Appendf(nil, "blob %d", i)
		u := &storage.Upload{ID: fmt.Sprintf("w%d", i)}
		appendAll(t, s, u, c)
		d := digest.FromBytes(c)
		must(t, "CommitUpload", s.CommitUpload(ctx, u, d))
		want = append(want, d)
	}
	// Stray files are ignored.
	must(t, "WriteFile", os.WriteFile(filepath.Join(dir, "blobs", "sha256", "zz"), nil, 0o644))
	slices.Sort(want)
	var got []digest.Digest
	must(t, "WalkBlobs", s.WalkBlobs(ctx, func(b storage.BlobInfo) error {
		got = append(got, b.Digest)
		return nil
	}))
	if !slices.Equal(got, want) {
		t.Errorf("WalkBlobs() = %v, want %v", got, want)
	}
	must(t, "DeleteBlob", s.DeleteBlob(ctx, want[0]))
	wantErr(t, "DeleteBlob again", s.DeleteBlob(ctx, want[0]), storage.ErrNotFound)
	_, err := s.StatBlob(ctx, "sha256:../../etc/passwd")
	wantErr(t, "StatBlob(invalid)", err, storage.ErrNotFound)
}

// TestKeyPrefixIsolation checks that repositories whose names are prefixes
// of each other never see each other's keys.
func TestKeyPrefixIsolation(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	names := []string{"a", "a/b", "a-b", "a/b/c", "ab"}
	manifests := map[string]storage.Manifest{}
	for i, name := range names {
		createRepo(t, s, name)
		b := pushBlob(t, s, name, fmt.Sprintf("u%d", i), []byte("layer of "+name))
		m := manifest(name, b)
		put(t, s, name, m, "latest", "v-"+strings.ReplaceAll(name, "/", "_"))
		manifests[name] = m
	}

	var repos []string
	must(t, "WalkRepositories", s.WalkRepositories(ctx, "", func(r storage.Repository) error {
		repos = append(repos, r.Name)
		return nil
	}))
	if want := []string{"a", "a-b", "a/b", "a/b/c", "ab"}; !slices.Equal(repos, want) {
		t.Errorf("WalkRepositories() = %q, want %q (lexical byte order)", repos, want)
	}
	repos = nil
	must(t, "WalkRepositories(after a-b)", s.WalkRepositories(ctx, "a-b", func(r storage.Repository) error {
		repos = append(repos, r.Name)
		return nil
	}))
	if want := []string{"a/b", "a/b/c", "ab"}; !slices.Equal(repos, want) {
		t.Errorf("WalkRepositories(after a-b) = %q, want %q", repos, want)
	}

	for _, name := range names {
		var tags []string
		must(t, "WalkTags", s.WalkTags(ctx, name, "", func(tag string, d digest.Digest) error {
			if d != manifests[name].Digest {
				t.Errorf("%s: tag %s -> %s, want %s", name, tag, d, manifests[name].Digest)
			}
			tags = append(tags, tag)
			return nil
		}))
		if len(tags) != 2 {
			t.Errorf("%s: tags = %q, want 2", name, tags)
		}
		var ms []digest.Digest
		must(t, "WalkManifests", s.WalkManifests(ctx, name, "", func(m storage.Manifest) error {
			if m.Payload != nil {
				t.Errorf("WalkManifests returned a payload")
			}
			ms = append(ms, m.Digest)
			return nil
		}))
		if !slices.Equal(ms, []digest.Digest{manifests[name].Digest}) {
			t.Errorf("%s: manifests = %v, want only its own", name, ms)
		}
		var links int
		must(t, "WalkBlobLinks", s.WalkBlobLinks(ctx, name, func(storage.BlobLink) error { links++; return nil }))
		if links != 1 {
			t.Errorf("%s: %d links, want 1", name, links)
		}
	}

	must(t, "DeleteRepository(a)", s.DeleteRepository(ctx, "a", true))
	for _, name := range names[1:] {
		if _, err := s.GetManifest(ctx, name, manifests[name].Digest); err != nil {
			t.Errorf("after deleting a: GetManifest(%s) error = %v", name, err)
		}
		if _, err := s.ResolveTag(ctx, name, "latest"); err != nil {
			t.Errorf("after deleting a: ResolveTag(%s) error = %v", name, err)
		}
	}
	_, err := s.GetRepository(ctx, "a")
	wantErr(t, "GetRepository(a) after delete", err, storage.ErrNotFound)
	_, err = s.GetManifest(ctx, "a", manifests["a"].Digest)
	wantErr(t, "GetManifest(a) after delete", err, storage.ErrNotFound)

	// NUL can never be part of a name.
	err = s.CreateRepository(ctx, storage.Repository{Name: "a\x00b"})
	if err == nil {
		t.Error("CreateRepository(name with NUL) error = nil")
	}
}

func TestPutManifestSemantics(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	b := digest.FromString("never linked")
	m := manifest("x", b)

	err := s.PutManifest(ctx, storage.PutManifestRequest{Repository: "r", Manifest: m})
	wantErr(t, "PutManifest to missing repo", err, storage.ErrNotFound)

	err = s.PutManifest(ctx, storage.PutManifestRequest{
		Repository: "r", Manifest: m,
		CreateRepository: &storage.Repository{Name: "r"},
	})
	wantErr(t, "PutManifest with unlinked blob", err, storage.ErrMissingReference)
	if !strings.Contains(err.Error(), string(b)) {
		t.Errorf("error %q does not name the missing digest", err)
	}
	_, err = s.GetRepository(ctx, "r")
	wantErr(t, "repository created by a failed put", err, storage.ErrNotFound)

	createRepo(t, s, "r")
	l1 := pushBlob(t, s, "r", "l1", []byte("layer one"))
	m1 := manifest("one", l1)
	put(t, s, "r", m1, "latest")
	must(t, "RecordPull", s.RecordPull(ctx, "r", m1.Digest, m1.PushedAt.Add(time.Hour)))

	// Re-put keeps PushedAt and LastPulledAt.
	again := m1
	again.PushedAt = m1.PushedAt.Add(2 * time.Hour)
	put(t, s, "r", again, "stable")
	got, err := s.GetManifest(ctx, "r", m1.Digest)
	must(t, "GetManifest", err)
	if !got.PushedAt.Equal(m1.PushedAt) || !got.LastPulledAt.Equal(m1.PushedAt.Add(time.Hour)) {
		t.Errorf("re-put changed times: PushedAt %v LastPulledAt %v", got.PushedAt, got.LastPulledAt)
	}
	if !bytes.Equal(got.Payload, m1.Payload) {
		t.Errorf("payload = %q, want %q", got.Payload, m1.Payload)
	}

	// CheckTag vetoes moving a tag; its error comes back unchanged.
	m2 := manifest("two", l1)
	immutable := errors.New("tag is immutable")
	var checked []string
	err = s.PutManifest(ctx, storage.PutManifestRequest{
		Repository: "r", Manifest: m2, Tags: []string{"latest", "new"},
		CheckTag: func(tag string, cur digest.Digest) error {
			checked = append(checked, tag+"="+string(cur))
			return immutable
		},
	})
	if err != immutable {
		t.Fatalf("PutManifest with vetoing CheckTag error = %v, want it unchanged", err)
	}
	if want := []string{"latest=" + string(m1.Digest)}; !slices.Equal(checked, want) {
		t.Errorf("CheckTag calls = %q, want %q", checked, want)
	}
	_, err = s.GetManifest(ctx, "r", m2.Digest)
	wantErr(t, "manifest written despite veto", err, storage.ErrNotFound)

	// Moving a tag fixes the reverse index.
	put(t, s, "r", m2, "latest")
	tags, err := s.TagsOf(ctx, "r", m1.Digest)
	must(t, "TagsOf(m1)", err)
	if !slices.Equal(tags, []string{"stable"}) {
		t.Errorf("TagsOf(m1) = %q, want [stable]", tags)
	}
	tags, err = s.TagsOf(ctx, "r", m2.Digest)
	must(t, "TagsOf(m2)", err)
	if !slices.Equal(tags, []string{"latest"}) {
		t.Errorf("TagsOf(m2) = %q, want [latest]", tags)
	}

	// An index needs its children.
	idx := manifest("index")
	idx.Manifests = []digest.Digest{m1.Digest, digest.FromString("absent")}
	err = s.PutManifest(ctx, storage.PutManifestRequest{Repository: "r", Manifest: idx})
	wantErr(t, "PutManifest index with missing child", err, storage.ErrMissingReference)

	// Referrers.
	ref := manifest("sig", l1)
	ref.Subject = m1.Digest
	put(t, s, "r", ref)
	var refs []digest.Digest
	must(t, "WalkReferrers", s.WalkReferrers(ctx, "r", m1.Digest, func(m storage.Manifest) error {
		refs = append(refs, m.Digest)
		return nil
	}))
	if !slices.Equal(refs, []digest.Digest{ref.Digest}) {
		t.Errorf("WalkReferrers() = %v, want [%s]", refs, ref.Digest)
	}

	// Deleting a manifest removes its tags and referrers entry.
	must(t, "DeleteManifest(m1)", s.DeleteManifest(ctx, "r", m1.Digest))
	_, err = s.ResolveTag(ctx, "r", "stable")
	wantErr(t, "ResolveTag(stable) after delete", err, storage.ErrNotFound)
	if d, err := s.ResolveTag(ctx, "r", "latest"); err != nil || d != m2.Digest {
		t.Errorf("ResolveTag(latest) = %s, %v; want %s", d, err, m2.Digest)
	}
	must(t, "DeleteManifest(ref)", s.DeleteManifest(ctx, "r", ref.Digest))
	refs = nil
	must(t, "WalkReferrers", s.WalkReferrers(ctx, "r", m1.Digest, func(m storage.Manifest) error {
		refs = append(refs, m.Digest)
		return nil
	}))
	if len(refs) != 0 {
		t.Errorf("WalkReferrers() after delete = %v, want none", refs)
	}
	wantErr(t, "DeleteManifest again", s.DeleteManifest(ctx, "r", m1.Digest), storage.ErrNotFound)

	// Not empty without force.
	wantErr(t, "DeleteRepository without force", s.DeleteRepository(ctx, "r", false), storage.ErrNotEmpty)
	must(t, "DeleteRepository(force)", s.DeleteRepository(ctx, "r", true))
	wantErr(t, "DeleteRepository again", s.DeleteRepository(ctx, "r", true), storage.ErrNotFound)
}

func TestConcurrentPutManifest(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	createRepo(t, s, "r")
	l := pushBlob(t, s, "r", "l", []byte("shared layer"))
	const workers, each = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				m := manifest(fmt.Sprintf("w%d-%d", w, i), l)
				err := s.PutManifest(ctx, storage.PutManifestRequest{
					Repository: "r", Manifest: m,
					Tags: []string{"latest", fmt.Sprintf("w%d-%d", w, i)},
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("PutManifest: %v", err)
	}
	n := 0
	must(t, "WalkManifests", s.WalkManifests(ctx, "r", "", func(storage.Manifest) error { n++; return nil }))
	if n != workers*each {
		t.Errorf("%d manifests, want %d", n, workers*each)
	}
	latest, err := s.ResolveTag(ctx, "r", "latest")
	must(t, "ResolveTag", err)
	tags, err := s.TagsOf(ctx, "r", latest)
	must(t, "TagsOf", err)
	if !slices.Contains(tags, "latest") {
		t.Errorf("TagsOf(latest target) = %q, missing latest: reverse index inconsistent", tags)
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := open(t, dir)
	createRepo(t, s, "keep")
	l := pushBlob(t, s, "keep", "u1", []byte("kept layer"))
	m := manifest("kept", l)
	put(t, s, "keep", m, "v1")

	// An upload in progress.
	u := storage.Upload{ID: "inflight", Repository: "keep", StartedAt: time.Now().UTC().Truncate(time.Millisecond)}
	must(t, "PutUpload", s.PutUpload(ctx, u))
	appendAll(t, s, &u, []byte("first half|"))
	must(t, "PutUpload", s.PutUpload(ctx, u))
	must(t, "Close", s.Close())

	s = open(t, dir)
	got, err := s.GetManifest(ctx, "keep", m.Digest)
	must(t, "GetManifest after reopen", err)
	if !bytes.Equal(got.Payload, m.Payload) {
		t.Error("payload changed across reopen")
	}
	if d, err := s.ResolveTag(ctx, "keep", "v1"); err != nil || d != m.Digest {
		t.Errorf("ResolveTag after reopen = %s, %v", d, err)
	}
	if _, err := s.GetBlobLink(ctx, "keep", l); err != nil {
		t.Errorf("GetBlobLink after reopen: %v", err)
	}
	if _, err := s.StatBlob(ctx, l); err != nil {
		t.Errorf("StatBlob after reopen: %v", err)
	}

	// The upload continues where it stopped.
	u2, err := s.GetUpload(ctx, "inflight")
	must(t, "GetUpload after reopen", err)
	if u2.Offset != u.Offset || u2.Repository != "keep" || !u2.StartedAt.Equal(u.StartedAt) {
		t.Fatalf("upload after reopen = %+v, want %+v", u2, u)
	}
	appendAll(t, s, &u2, []byte("second half"))
	d := digest.FromString("first half|second half")
	must(t, "CommitUpload", s.CommitUpload(ctx, &u2, d))
	must(t, "CompleteUpload", s.CompleteUpload(ctx, u2.ID, storage.BlobLink{Digest: d, Size: u2.Offset}))
	_, err = s.GetUpload(ctx, "inflight")
	wantErr(t, "GetUpload after complete", err, storage.ErrNotFound)
	if link, err := s.GetBlobLink(ctx, "keep", d); err != nil || link.Size != u2.Offset {
		t.Errorf("GetBlobLink(completed) = %+v, %v", link, err)
	}
}

func TestCloseIdempotent(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	createRepo(t, s, "r")
	must(t, "Close", s.Close())
	must(t, "Close again", s.Close())
	var nilStore *badgerstore.Store
	must(t, "nil Close", nilStore.Close())

	_, err := s.GetRepository(ctx, "r")
	wantErr(t, "GetRepository after Close", err, storage.ErrClosed)
	wantErr(t, "CreateRepository after Close", s.CreateRepository(ctx, storage.Repository{Name: "x"}), storage.ErrClosed)
	_, err = s.StatBlob(ctx, digest.FromString("x"))
	wantErr(t, "StatBlob after Close", err, storage.ErrClosed)
	_, err = s.AppendUpload(ctx, &storage.Upload{ID: "x"}, strings.NewReader("x"))
	wantErr(t, "AppendUpload after Close", err, storage.ErrClosed)
	wantErr(t, "WalkRepositories after Close", s.WalkRepositories(ctx, "", func(storage.Repository) error { return nil }), storage.ErrClosed)
	wantErr(t, "CollectGarbage after Close", s.CollectGarbage(ctx), storage.ErrClosed)
}

func TestWalkPagingAndSkipAll(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	createRepo(t, s, "r")
	const n = 600 // more than one page
	m := manifest("m")
	tags := make([]string, n)
	for i := range tags {
		tags[i] = fmt.Sprintf("t%04d", i)
	}
	put(t, s, "r", m, tags...)

	var got []string
	must(t, "WalkTags", s.WalkTags(ctx, "r", "", func(tag string, _ digest.Digest) error {
		got = append(got, tag)
		// Callbacks run outside the read transaction and may write.
		if tag == "t0300" {
			return s.PutUpload(ctx, storage.Upload{ID: "from-callback"})
		}
		return nil
	}))
	if !slices.Equal(got, tags) {
		t.Errorf("WalkTags() returned %d tags, want %d in order", len(got), n)
	}
	got = nil
	must(t, "WalkTags(after, SkipAll)", s.WalkTags(ctx, "r", "t0100", func(tag string, _ digest.Digest) error {
		got = append(got, tag)
		if len(got) == 3 {
			return storage.SkipAll
		}
		return nil
	}))
	if want := []string{"t0101", "t0102", "t0103"}; !slices.Equal(got, want) {
		t.Errorf("WalkTags(after t0100) = %q, want %q", got, want)
	}
	boom := errors.New("boom")
	if err := s.WalkTags(ctx, "r", "", func(string, digest.Digest) error { return boom }); err != boom {
		t.Errorf("WalkTags callback error = %v, want it unchanged", err)
	}
	wantErr(t, "WalkTags(unknown repo)", s.WalkTags(ctx, "nope", "", func(string, digest.Digest) error { return nil }), storage.ErrNotFound)
}

func TestCollectGarbage(t *testing.T) {
	s, _ := newStore(t)
	must(t, "CollectGarbage", s.CollectGarbage(context.Background()))
}

func TestLoggerReceivesBadgerLines(t *testing.T) {
	var buf syncBuffer
	s, err := badgerstore.New(badgerstore.Options{
		Dir:    t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	must(t, "New", err)
	must(t, "Close", s.Close())
	if !strings.Contains(buf.String(), "component=badger") {
		t.Errorf("no badger log lines reached the slog logger:\n%s", buf.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
