package memory_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/storage"
	"github.com/berth-dev/berth/storage/memory"
	"github.com/berth-dev/berth/storage/storagetest"
)

func TestStore(t *testing.T) {
	storagetest.Run(t, func(*testing.T) storage.Storage { return memory.New() })
}

func BenchmarkMemory(b *testing.B) {
	storagetest.Bench(b, func(*testing.B) storage.Storage { return memory.New() })
}

// TestWalkCallbackWrites checks the memory-specific promise that walk
// callbacks run outside the lock and may write to the store.
func TestWalkCallbackWrites(t *testing.T) {
	ctx := t.Context()
	s := memory.New()
	for _, name := range []string{"a", "b", "c"} {
		if err := s.CreateRepository(ctx, storage.Repository{Name: name}); err != nil {
			t.Fatalf("CreateRepository(%s): %v", name, err)
		}
	}
	var seen []string
	err := s.WalkRepositories(ctx, "", func(r storage.Repository) error {
		seen = append(seen, r.Name)
		return s.DeleteRepository(ctx, r.Name, false)
	})
	if err != nil {
		t.Fatalf("WalkRepositories with deleting callback: %v", err)
	}
	if len(seen) != 3 {
		t.Errorf("walked %q, want all three repositories of the snapshot", seen)
	}
	err = s.WalkRepositories(ctx, "", func(r storage.Repository) error {
		return errors.New("repository " + r.Name + " left")
	})
	if err != nil {
		t.Errorf("WalkRepositories after deleting all: %v", err)
	}
}

// TestCheckTagSameDigest pins the memory store's choice: CheckTag is not
// called for a tag that already points at the manifest being put.
func TestCheckTagSameDigest(t *testing.T) {
	ctx := t.Context()
	s := memory.New()
	if err := s.CreateRepository(ctx, storage.Repository{Name: "app"}); err != nil {
		t.Fatal(err)
	}
	m := storage.Manifest{Digest: digest.FromString("m"), MediaType: "application/vnd.oci.image.index.v1+json"}
	req := storage.PutManifestRequest{Repository: "app", Manifest: m, Tags: []string{"v1"}}
	if err := s.PutManifest(ctx, req); err != nil {
		t.Fatal(err)
	}
	req.CheckTag = func(tag string, current digest.Digest) error {
		t.Errorf("CheckTag(%s, %s) called for a tag already on the manifest", tag, current)
		return nil
	}
	if err := s.PutManifest(ctx, req); err != nil {
		t.Fatalf("PutManifest(same tag again): %v", err)
	}
}

// TestReadUploadIsStable checks that a reader from ReadUpload keeps its
// bytes when a later append truncates and rewrites the upload.
func TestReadUploadIsStable(t *testing.T) {
	ctx := t.Context()
	s := memory.New()
	u := &storage.Upload{ID: "u"}
	if _, err := s.AppendUpload(ctx, u, bytes.NewReader([]byte("hello world"))); err != nil {
		t.Fatal(err)
	}
	u.Offset = 11
	rc, err := s.ReadUpload(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	rewind := &storage.Upload{ID: "u", Offset: 5}
	if _, err := s.AppendUpload(ctx, rewind, bytes.NewReader([]byte(", gopher"))); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "hello world" {
		t.Errorf("ReadUpload reader after a truncating append = %q, want %q", got, "hello world")
	}
}

// TestAppendReturnsBytesRead pins what AppendUpload returns when r fails:
// the bytes read, none of which are kept.
func TestAppendReturnsBytesRead(t *testing.T) {
	ctx := t.Context()
	s := memory.New()
	u := &storage.Upload{ID: "u"}
	boom := errors.New("boom")
	n, err := s.AppendUpload(ctx, u, io.MultiReader(bytes.NewReader([]byte("abc")), &errReader{boom}))
	if !errors.Is(err, boom) || n != 3 {
		t.Errorf("AppendUpload(failing reader) = %d, %v, want 3, %v", n, err, boom)
	}
	if err := s.CommitUpload(ctx, u, digest.FromString("")); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("CommitUpload after a failed first append: error = %v, want %v", err, storage.ErrNotFound)
	}
}

type errReader struct{ err error }

func (r *errReader) Read([]byte) (int, error) { return 0, r.err }
