package storagetest

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/storage"
)

var blobTests = []test{
	{"UnknownBlob", testUnknownBlob},
	{"ChunkedUpload", testChunkedUpload},
	{"OpenBlobSeek", testOpenBlobSeek},
	{"ResumeFromUploadStore", testResumeFromUploadStore},
	{"FailedAppend", testFailedAppend},
	{"FailedFirstAppend", testFailedFirstAppend},
	{"DiscardBeyondOffset", testDiscardBeyondOffset},
	{"OffsetBeyondData", testOffsetBeyondData},
	{"Abort", testAbort},
	{"SizeMismatch", testSizeMismatch},
	{"SHA512", testSHA512},
	{"EmptyBlob", testEmptyBlob},
	{"CommitExistingDigest", testCommitExistingDigest},
	{"InterleavedUploads", testInterleavedUploads},
	{"NotAliased", testBlobNotAliased},
	{"DeleteBlob", testDeleteBlob},
}

func testUnknownBlob(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	d := digest.FromBytes(randomBytes(16))
	_, err := s.StatBlob(ctx, d)
	wantErr(t, "StatBlob(unknown)", err, storage.ErrNotFound)
	_, err = s.OpenBlob(ctx, d)
	wantErr(t, "OpenBlob(unknown)", err, storage.ErrNotFound)
	wantErr(t, "DeleteBlob(unknown)", s.DeleteBlob(ctx, d), storage.ErrNotFound)
}

func testChunkedUpload(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	content := randomBytes(3*1024 + 17)
	d := digest.FromBytes(content)
	u := newUpload("")
	for _, chunk := range [][]byte{content[:1000], content[1000:1001], content[1001:]} {
		appendBytes(t, s, &u, chunk)
		if got := readUpload(t, s, &u); !bytes.Equal(got, content[:u.Offset]) {
			t.Errorf("ReadUpload at offset %d: got %d bytes, want the first %d bytes appended", u.Offset, len(got), u.Offset)
		}
		_, err := s.StatBlob(ctx, d)
		wantErr(t, "StatBlob before commit", err, storage.ErrNotFound)
		_, err = s.OpenBlob(ctx, d)
		wantErr(t, "OpenBlob before commit", err, storage.ErrNotFound)
	}
	if u.Offset != int64(len(content)) {
		t.Fatalf("offset after appends = %d, want %d", u.Offset, len(content))
	}
	must(t, "CommitUpload", s.CommitUpload(ctx, &u, d))
	checkBlob(t, s, d, content)
}

func testOpenBlobSeek(t *testing.T, s storage.Storage) {
	content := randomBytes(1000)
	d := commitBlob(t, s, content)
	rc, err := s.OpenBlob(t.Context(), d)
	must(t, "OpenBlob", err)
	defer rc.Close()

	seek := func(offset int64, whence int, want int64) {
		t.Helper()
		got, err := rc.Seek(offset, whence)
		must(t, "Seek", err)
		if got != want {
			t.Fatalf("Seek(%d, %d) = %d, want %d", offset, whence, got, want)
		}
	}
	read := func(n int, want []byte) {
		t.Helper()
		buf := make([]byte, n)
		_, err := io.ReadFull(rc, buf)
		must(t, "read", err)
		if !bytes.Equal(buf, want) {
			t.Fatalf("read %d bytes: content differs", n)
		}
	}
	seek(500, io.SeekStart, 500)
	read(100, content[500:600])
	seek(10, io.SeekCurrent, 610)
	read(10, content[610:620])
	seek(-10, io.SeekEnd, 990)
	rest, err := io.ReadAll(rc)
	must(t, "ReadAll", err)
	if !bytes.Equal(rest, content[990:]) {
		t.Errorf("ReadAll after Seek(-10, SeekEnd) = %x, want %x", rest, content[990:])
	}
	seek(0, io.SeekStart, 0)
	all, err := io.ReadAll(rc)
	must(t, "ReadAll", err)
	if !bytes.Equal(all, content) {
		t.Errorf("ReadAll after Seek(0, SeekStart): got %d bytes, want the blob", len(all))
	}
}

// testResumeFromUploadStore continues an upload from the state in the
// UploadStore alone, as another node would.
func testResumeFromUploadStore(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	const repo = "resume"
	createRepo(t, s, repo)
	content := randomBytes(4096)
	d := digest.FromBytes(content)

	u := newUpload(repo)
	must(t, "PutUpload", s.PutUpload(ctx, u))
	appendBytes(t, s, &u, content[:1500])
	u.HashState = []byte("hash-state-1")
	must(t, "PutUpload", s.PutUpload(ctx, u))

	for _, chunk := range [][]byte{content[1500:3000], content[3000:]} {
		got, err := s.GetUpload(ctx, u.ID)
		must(t, "GetUpload", err)
		checkUpload(t, "GetUpload", got, u)
		u = got
		appendBytes(t, s, &u, chunk)
		must(t, "PutUpload", s.PutUpload(ctx, u))
	}
	if got := readUpload(t, s, &u); !bytes.Equal(got, content) {
		t.Fatalf("ReadUpload after resumed appends: got %d bytes, want the %d bytes appended", len(got), len(content))
	}
	must(t, "CommitUpload", s.CommitUpload(ctx, &u, d))
	must(t, "CompleteUpload", s.CompleteUpload(ctx, u.ID, storage.BlobLink{Digest: d, Size: u.Offset}))
	checkBlob(t, s, d, content)
}

func testFailedAppend(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	content := randomBytes(2048)
	u := newUpload("")
	appendBytes(t, s, &u, content[:1000])

	_, err := s.AppendUpload(ctx, &u, &failingReader{data: randomBytes(500), err: errBoom})
	if !errors.Is(err, errBoom) {
		t.Fatalf("AppendUpload(failing reader): error = %v, want %v", err, errBoom)
	}
	// The registry does not advance u.Offset after a failed append.
	if got := readUpload(t, s, &u); !bytes.Equal(got, content[:1000]) {
		t.Fatalf("ReadUpload after failed append: got %d bytes, want the %d bytes before it", len(got), 1000)
	}
	appendBytes(t, s, &u, content[1000:])
	if got := readUpload(t, s, &u); !bytes.Equal(got, content) {
		t.Fatalf("ReadUpload after retry: got %d bytes, want %d", len(got), len(content))
	}
	d := digest.FromBytes(content)
	must(t, "CommitUpload", s.CommitUpload(ctx, &u, d))
	checkBlob(t, s, d, content)
}

func testFailedFirstAppend(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	content := randomBytes(1024)
	u := newUpload("")
	_, err := s.AppendUpload(ctx, &u, &failingReader{data: randomBytes(700), err: errBoom})
	if !errors.Is(err, errBoom) {
		t.Fatalf("AppendUpload(failing reader): error = %v, want %v", err, errBoom)
	}
	appendBytes(t, s, &u, content)
	d := digest.FromBytes(content)
	must(t, "CommitUpload", s.CommitUpload(ctx, &u, d))
	checkBlob(t, s, d, content)
}

// testDiscardBeyondOffset appends bytes whose new offset is never recorded
// (the registry died before PutUpload); the next append at the recorded
// offset replaces them.
func testDiscardBeyondOffset(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	a, b, c := randomBytes(100), randomBytes(200), randomBytes(300)

	u := newUpload("")
	appendBytes(t, s, &u, a)
	lost := u
	appendBytes(t, s, &lost, b) // stored, but u.Offset stays at len(a)
	appendBytes(t, s, &u, c)
	want := slices.Concat(a, c)
	if got := readUpload(t, s, &u); !bytes.Equal(got, want) {
		t.Fatalf("ReadUpload: got %d bytes, want %d (bytes beyond the offset must be discarded)", len(got), len(want))
	}
	d := digest.FromBytes(want)
	must(t, "CommitUpload", s.CommitUpload(ctx, &u, d))
	checkBlob(t, s, d, want)

	// The same from offset 0.
	u = newUpload("")
	lost = u
	appendBytes(t, s, &lost, a)
	appendBytes(t, s, &u, b)
	d = digest.FromBytes(b)
	must(t, "CommitUpload", s.CommitUpload(ctx, &u, d))
	checkBlob(t, s, d, b)
}

func testOffsetBeyondData(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	u := newUpload("")
	appendBytes(t, s, &u, randomBytes(100))
	ahead := u
	ahead.Offset = 150
	_, err := s.AppendUpload(ctx, &ahead, bytes.NewReader(randomBytes(10)))
	wantErr(t, "AppendUpload(offset beyond data)", err, storage.ErrOffsetMismatch)

	fresh := newUpload("")
	fresh.Offset = 10
	_, err = s.AppendUpload(ctx, &fresh, bytes.NewReader(randomBytes(10)))
	wantErr(t, "AppendUpload(new upload at offset 10)", err, storage.ErrOffsetMismatch)

	// The upload is unharmed.
	rest := randomBytes(50)
	appendBytes(t, s, &u, rest)
	if got := readUpload(t, s, &u); int64(len(got)) != u.Offset || !bytes.Equal(got[100:], rest) {
		t.Errorf("ReadUpload after rejected append: got %d bytes, want %d ending with the last append", len(got), u.Offset)
	}
}

func testAbort(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	a := randomBytes(256)
	u := newUpload("")
	appendBytes(t, s, &u, a)
	must(t, "AbortUpload", s.AbortUpload(ctx, &u))
	d := digest.FromBytes(a)
	if err := s.CommitUpload(ctx, &u, d); err == nil {
		t.Errorf("CommitUpload after AbortUpload: error = nil, want an error")
	}
	_, err := s.StatBlob(ctx, d)
	wantErr(t, "StatBlob after abort", err, storage.ErrNotFound)
	must(t, "AbortUpload(again)", s.AbortUpload(ctx, &u))
	unknown := newUpload("")
	must(t, "AbortUpload(unknown)", s.AbortUpload(ctx, &unknown))

	// The ID can start over from offset 0.
	b := randomBytes(128)
	u.Offset = 0
	appendBytes(t, s, &u, b)
	db := digest.FromBytes(b)
	must(t, "CommitUpload", s.CommitUpload(ctx, &u, db))
	checkBlob(t, s, db, b)
}

func testSizeMismatch(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	content := randomBytes(100)
	d := digest.FromBytes(content)
	u := newUpload("")
	appendBytes(t, s, &u, content)
	for _, off := range []int64{50, 150} {
		wrong := u
		wrong.Offset = off
		wantErr(t, fmt.Sprintf("CommitUpload(offset %d of 100 bytes)", off), s.CommitUpload(ctx, &wrong, d), storage.ErrSizeMismatch)
	}
	_, err := s.StatBlob(ctx, d)
	wantErr(t, "StatBlob after failed commits", err, storage.ErrNotFound)
	must(t, "CommitUpload(right size)", s.CommitUpload(ctx, &u, d))
	checkBlob(t, s, d, content)
}

func testSHA512(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	content := randomBytes(5000)
	d512 := digest.SHA512.FromBytes(content)
	u := newUpload("")
	u.Algorithm = digest.SHA512
	appendBytes(t, s, &u, content[:2500])
	appendBytes(t, s, &u, content[2500:])
	must(t, "CommitUpload(sha512)", s.CommitUpload(ctx, &u, d512))
	checkBlob(t, s, d512, content)

	// The same bytes under sha256 are another blob.
	d256 := digest.FromBytes(content)
	_, err := s.StatBlob(ctx, d256)
	wantErr(t, "StatBlob(sha256 of a sha512 blob)", err, storage.ErrNotFound)
	commitBlob(t, s, content)
	checkBlob(t, s, d256, content)
	checkBlob(t, s, d512, content)
}

func testEmptyBlob(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	u := newUpload("")
	n, err := s.AppendUpload(ctx, &u, bytes.NewReader(nil))
	must(t, "AppendUpload(empty)", err)
	if n != 0 {
		t.Errorf("AppendUpload(empty) = %d, want 0", n)
	}
	d := digest.FromBytes(nil)
	must(t, "CommitUpload(empty)", s.CommitUpload(ctx, &u, d))
	checkBlob(t, s, d, nil)
}

func testCommitExistingDigest(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	content := randomBytes(1000)
	d := commitBlob(t, s, content)
	u := newUpload("")
	appendBytes(t, s, &u, content)
	must(t, "CommitUpload(existing digest)", s.CommitUpload(ctx, &u, d))
	must(t, "AbortUpload(committed)", s.AbortUpload(ctx, &u))
	checkBlob(t, s, d, content)
}

func testInterleavedUploads(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	a, b := randomBytes(2000), randomBytes(3000)
	ua, ub := newUpload(""), newUpload("")
	for i := range 4 {
		appendBytes(t, s, &ua, a[i*500:(i+1)*500])
		appendBytes(t, s, &ub, b[i*750:(i+1)*750])
	}
	da, db := digest.FromBytes(a), digest.FromBytes(b)
	must(t, "CommitUpload(a)", s.CommitUpload(ctx, &ua, da))
	must(t, "CommitUpload(b)", s.CommitUpload(ctx, &ub, db))
	checkBlob(t, s, da, a)
	checkBlob(t, s, db, b)
}

// testBlobNotAliased checks that the store copies appended bytes and that
// what a reader returns is the caller's to modify.
func testBlobNotAliased(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	buf := randomBytes(64)
	want := slices.Clone(buf)
	u := newUpload("")
	appendBytes(t, s, &u, buf)
	clear(buf)
	if got := readUpload(t, s, &u); !bytes.Equal(got, want) {
		t.Fatalf("ReadUpload after the caller reused its buffer: content changed")
	}
	d := digest.FromBytes(want)
	must(t, "CommitUpload", s.CommitUpload(ctx, &u, d))
	got := readBlob(t, s, d)
	clear(got)
	checkBlob(t, s, d, want)
}

func testDeleteBlob(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	keep := commitBlob(t, s, randomBytes(10))
	d := commitBlob(t, s, randomBytes(10))
	must(t, "DeleteBlob", s.DeleteBlob(ctx, d))
	_, err := s.StatBlob(ctx, d)
	wantErr(t, "StatBlob(deleted)", err, storage.ErrNotFound)
	_, err = s.OpenBlob(ctx, d)
	wantErr(t, "OpenBlob(deleted)", err, storage.ErrNotFound)
	wantErr(t, "DeleteBlob(deleted)", s.DeleteBlob(ctx, d), storage.ErrNotFound)
	if _, err := s.StatBlob(ctx, keep); err != nil {
		t.Errorf("StatBlob(other blob) after DeleteBlob: %v", err)
	}
}

var blobWalkerTests = []test{
	{"Order", testWalkBlobsOrder},
	{"DeleteBlob", testWalkBlobsDelete},
	{"SkipAllAndError", testWalkBlobsStops},
}

// blobWalker returns s as a storage.BlobWalker or skips the test.
func blobWalker(t *testing.T, s storage.Storage) storage.BlobWalker {
	t.Helper()
	w, ok := s.(storage.BlobWalker)
	if !ok {
		t.Skip("store does not implement storage.BlobWalker")
	}
	return w
}

func walkBlobs(t *testing.T, w storage.BlobWalker) []storage.BlobInfo {
	t.Helper()
	var infos []storage.BlobInfo
	must(t, "WalkBlobs", w.WalkBlobs(t.Context(), func(b storage.BlobInfo) error {
		infos = append(infos, b)
		return nil
	}))
	return infos
}

func testWalkBlobsOrder(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	w := blobWalker(t, s)
	if got := walkBlobs(t, w); len(got) != 0 {
		t.Fatalf("WalkBlobs on a new store = %v, want none", got)
	}
	var want []storage.BlobInfo
	for i := range 6 {
		content := randomBytes(10 + i)
		d := digest.FromBytes(content)
		u := newUpload("")
		if i%2 == 1 {
			d = digest.SHA512.FromBytes(content)
			u.Algorithm = digest.SHA512
		}
		appendBytes(t, s, &u, content)
		must(t, "CommitUpload", s.CommitUpload(ctx, &u, d))
		want = append(want, storage.BlobInfo{Digest: d, Size: int64(len(content))})
	}
	// An upload in progress is not a blob.
	u := newUpload("")
	appendBytes(t, s, &u, randomBytes(10))

	slices.SortFunc(want, func(a, b storage.BlobInfo) int { return cmp.Compare(a.Digest, b.Digest) })
	if got := walkBlobs(t, w); !slices.Equal(got, want) {
		t.Errorf("WalkBlobs = %v, want %v", got, want)
	}
}

func testWalkBlobsDelete(t *testing.T, s storage.Storage) {
	w := blobWalker(t, s)
	d1 := commitBlob(t, s, randomBytes(10))
	d2 := commitBlob(t, s, randomBytes(20))
	must(t, "DeleteBlob", s.DeleteBlob(t.Context(), d1))
	want := []storage.BlobInfo{{Digest: d2, Size: 20}}
	if got := walkBlobs(t, w); !slices.Equal(got, want) {
		t.Errorf("WalkBlobs after DeleteBlob = %v, want %v", got, want)
	}
}

func testWalkBlobsStops(t *testing.T, s storage.Storage) {
	w := blobWalker(t, s)
	commitBlob(t, s, randomBytes(10))
	commitBlob(t, s, randomBytes(10))
	checkWalkStops(t, "WalkBlobs", func(fn func() error) error {
		return w.WalkBlobs(t.Context(), func(storage.BlobInfo) error { return fn() })
	})
}
