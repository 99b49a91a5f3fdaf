package storagetest

import (
	"cmp"
	"fmt"
	"slices"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/storage"
)

var linkTests = []test{
	{"Unknown", testLinkUnknown},
	{"LinkGetWalk", testLinkGetWalk},
	{"Mount", testMountBlob},
	{"Unlink", testUnlinkBlob},
	{"WalkSkipAllAndError", testWalkBlobLinksStops},
}

func testLinkUnknown(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	createRepo(t, s, "app")
	d := commitBlob(t, s, randomBytes(10))
	wantErr(t, "LinkBlob(unknown repository)", s.LinkBlob(ctx, "nope", storage.BlobLink{Digest: d, Size: 10}), storage.ErrNotFound)
	_, err := s.GetBlobLink(ctx, "nope", d)
	wantErr(t, "GetBlobLink(unknown repository)", err, storage.ErrNotFound)
	_, err = s.GetBlobLink(ctx, "app", d)
	wantErr(t, "GetBlobLink(not linked)", err, storage.ErrNotFound)
	wantErr(t, "UnlinkBlob(unknown repository)", s.UnlinkBlob(ctx, "nope", d), storage.ErrNotFound)
	wantErr(t, "UnlinkBlob(not linked)", s.UnlinkBlob(ctx, "app", d), storage.ErrNotFound)
	_, err = s.GetRepository(ctx, "nope")
	wantErr(t, "GetRepository after LinkBlob(unknown repository)", err, storage.ErrNotFound)
}

func testLinkGetWalk(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	createRepo(t, s, "app")
	createRepo(t, s, "other")
	checkStrings(t, "WalkBlobLinks(new repository)", linkDigests(t, s, "app"), nil)
	var want []storage.BlobLink
	for i := range 5 {
		content := randomBytes(10 * (i + 1))
		l := storage.BlobLink{Digest: commitBlob(t, s, content), Size: int64(len(content))}
		must(t, "LinkBlob", s.LinkBlob(ctx, "app", l))
		want = append(want, l)
	}
	must(t, "LinkBlob(again)", s.LinkBlob(ctx, "app", want[0]))
	pushBlob(t, s, "other", randomBytes(10))

	for _, l := range want {
		got, err := s.GetBlobLink(ctx, "app", l.Digest)
		must(t, "GetBlobLink", err)
		if got != l {
			t.Errorf("GetBlobLink = %+v, want %+v", got, l)
		}
	}
	slices.SortFunc(want, func(a, b storage.BlobLink) int { return cmp.Compare(a.Digest, b.Digest) })
	var got []storage.BlobLink
	must(t, "WalkBlobLinks", s.WalkBlobLinks(ctx, "app", func(l storage.BlobLink) error {
		got = append(got, l)
		return nil
	}))
	if !slices.Equal(got, want) {
		t.Errorf("WalkBlobLinks = %+v, want %+v", got, want)
	}
}

// testMountBlob links a blob pushed to one repository into another, as a
// cross-repository mount does, and pushes a manifest there.
func testMountBlob(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	createRepo(t, s, "src")
	createRepo(t, s, "dst")
	img := newImage(t, s, "src")
	put(t, s, "src", img)
	for _, d := range img.Blobs {
		l, err := s.GetBlobLink(ctx, "src", d)
		must(t, "GetBlobLink(src)", err)
		must(t, "LinkBlob(dst)", s.LinkBlob(ctx, "dst", l))
	}
	put(t, s, "dst", img, "mounted")
	must(t, "UnlinkBlob(src)", s.UnlinkBlob(ctx, "src", img.Blobs[0]))
	if _, err := s.GetBlobLink(ctx, "dst", img.Blobs[0]); err != nil {
		t.Errorf("GetBlobLink(dst) after unlinking from src: %v", err)
	}
	checkStrings(t, "WalkBlobLinks(dst)", linkDigests(t, s, "dst"), slices.Sorted(slices.Values(img.Blobs)))
}

func testUnlinkBlob(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	createRepo(t, s, "app")
	img := newImage(t, s, "app")
	must(t, "UnlinkBlob", s.UnlinkBlob(ctx, "app", img.Blobs[1]))
	_, err := s.GetBlobLink(ctx, "app", img.Blobs[1])
	wantErr(t, "GetBlobLink(unlinked)", err, storage.ErrNotFound)
	if _, err := s.StatBlob(ctx, img.Blobs[1]); err != nil {
		t.Errorf("StatBlob after UnlinkBlob: %v (blob bytes must stay)", err)
	}
	want := slices.Sorted(slices.Values([]digest.Digest{img.Blobs[0], img.Blobs[2]}))
	checkStrings(t, "WalkBlobLinks after UnlinkBlob", linkDigests(t, s, "app"), want)
	err = s.PutManifest(ctx, storage.PutManifestRequest{Repository: "app", Manifest: img})
	checkMissing(t, "PutManifest(blob unlinked)", err, img.Blobs[1])
	wantErr(t, "UnlinkBlob(unlinked)", s.UnlinkBlob(ctx, "app", img.Blobs[1]), storage.ErrNotFound)
}

func testWalkBlobLinksStops(t *testing.T, s storage.Storage) {
	createRepo(t, s, "app")
	pushBlob(t, s, "app", randomBytes(10))
	pushBlob(t, s, "app", randomBytes(10))
	checkWalkStops(t, "WalkBlobLinks", func(fn func() error) error {
		return s.WalkBlobLinks(t.Context(), "app", func(storage.BlobLink) error { return fn() })
	})
}

var uploadTests = []test{
	{"PutGet", testUploadPutGet},
	{"Replace", testUploadReplace},
	{"NotAliased", testUploadNotAliased},
	{"Unknown", testUploadUnknown},
	{"Delete", testUploadDelete},
	{"Complete", testCompleteUpload},
	{"CompleteUnknownRepository", testCompleteUploadUnknownRepository},
	{"Walk", testWalkUploads},
	{"WalkSkipAllAndError", testWalkUploadsStops},
}

// fullUpload returns upload state with every field set.
func fullUpload(repo string) storage.Upload {
	u := newUpload(repo)
	u.UpdatedAt = u.StartedAt.Add(time.Second)
	u.Offset = 150
	u.Algorithm = digest.SHA512
	u.HashState = randomBytes(64)
	u.Parts = []storage.UploadPart{
		{Number: 1, Offset: 0, Size: 100, Ref: "etag-1"},
		{Number: 2, Offset: 100, Size: 50, Ref: "etag-2"},
	}
	return u
}

func cloneUpload(u storage.Upload) storage.Upload {
	u.HashState = slices.Clone(u.HashState)
	u.Parts = slices.Clone(u.Parts)
	return u
}

func testUploadPutGet(t *testing.T, s storage.Storage) {
	u := fullUpload("app")
	must(t, "PutUpload", s.PutUpload(t.Context(), u))
	got, err := s.GetUpload(t.Context(), u.ID)
	must(t, "GetUpload", err)
	checkUpload(t, "GetUpload", got, u)
}

func testUploadReplace(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	u := fullUpload("app")
	must(t, "PutUpload", s.PutUpload(ctx, u))
	u.Offset = 300
	u.UpdatedAt = u.UpdatedAt.Add(time.Minute)
	u.HashState = randomBytes(64)
	u.Parts = append(u.Parts, storage.UploadPart{Number: 3, Offset: 150, Size: 150, Ref: "etag-3"})
	must(t, "PutUpload(replace)", s.PutUpload(ctx, u))
	got, err := s.GetUpload(ctx, u.ID)
	must(t, "GetUpload", err)
	checkUpload(t, "GetUpload after replace", got, u)
	checkStrings(t, "WalkUploads", uploadIDs(t, s), []string{u.ID})
}

func testUploadNotAliased(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	u := fullUpload("app")
	want := cloneUpload(u)
	must(t, "PutUpload", s.PutUpload(ctx, u))
	u.HashState[0] ^= 0xff
	u.Parts[0].Ref = "changed"
	got, err := s.GetUpload(ctx, want.ID)
	must(t, "GetUpload", err)
	checkUpload(t, "GetUpload after the caller changed the state it put", got, want)
	got.HashState[0] ^= 0xff
	got.Parts[0].Ref = "changed"
	must(t, "WalkUploads", s.WalkUploads(ctx, func(u storage.Upload) error {
		u.HashState[0] ^= 0xff
		u.Parts[0].Ref = "changed"
		return nil
	}))
	got, err = s.GetUpload(ctx, want.ID)
	must(t, "GetUpload", err)
	checkUpload(t, "GetUpload after the caller changed returned state", got, want)
}

func testUploadUnknown(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	createRepo(t, s, "app")
	_, err := s.GetUpload(ctx, "nope")
	wantErr(t, "GetUpload(unknown)", err, storage.ErrNotFound)
	wantErr(t, "DeleteUpload(unknown)", s.DeleteUpload(ctx, "nope"), storage.ErrNotFound)
	d := commitBlob(t, s, randomBytes(10))
	wantErr(t, "CompleteUpload(unknown)", s.CompleteUpload(ctx, "nope", storage.BlobLink{Digest: d, Size: 10}), storage.ErrNotFound)
	_, err = s.GetBlobLink(ctx, "app", d)
	wantErr(t, "GetBlobLink after CompleteUpload(unknown)", err, storage.ErrNotFound)
}

func testUploadDelete(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	u, keep := fullUpload("app"), fullUpload("app")
	must(t, "PutUpload", s.PutUpload(ctx, u))
	must(t, "PutUpload", s.PutUpload(ctx, keep))
	must(t, "DeleteUpload", s.DeleteUpload(ctx, u.ID))
	_, err := s.GetUpload(ctx, u.ID)
	wantErr(t, "GetUpload(deleted)", err, storage.ErrNotFound)
	wantErr(t, "DeleteUpload(deleted)", s.DeleteUpload(ctx, u.ID), storage.ErrNotFound)
	checkStrings(t, "WalkUploads", uploadIDs(t, s), []string{keep.ID})
}

func testCompleteUpload(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	createRepo(t, s, "app")
	content := randomBytes(1000)
	d := digest.FromBytes(content)
	u := newUpload("app")
	must(t, "PutUpload", s.PutUpload(ctx, u))
	appendBytes(t, s, &u, content)
	must(t, "PutUpload", s.PutUpload(ctx, u))
	must(t, "CommitUpload", s.CommitUpload(ctx, &u, d))
	_, err := s.GetBlobLink(ctx, "app", d)
	wantErr(t, "GetBlobLink before CompleteUpload", err, storage.ErrNotFound)

	link := storage.BlobLink{Digest: d, Size: int64(len(content))}
	must(t, "CompleteUpload", s.CompleteUpload(ctx, u.ID, link))
	got, err := s.GetBlobLink(ctx, "app", d)
	must(t, "GetBlobLink", err)
	if got != link {
		t.Errorf("GetBlobLink after CompleteUpload = %+v, want %+v", got, link)
	}
	_, err = s.GetUpload(ctx, u.ID)
	wantErr(t, "GetUpload after CompleteUpload", err, storage.ErrNotFound)
	checkStrings(t, "WalkUploads after CompleteUpload", uploadIDs(t, s), nil)
	wantErr(t, "CompleteUpload(again)", s.CompleteUpload(ctx, u.ID, link), storage.ErrNotFound)
	checkBlob(t, s, d, content)
}

func testCompleteUploadUnknownRepository(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	u := fullUpload("ghost")
	must(t, "PutUpload", s.PutUpload(ctx, u))
	d := commitBlob(t, s, randomBytes(10))
	err := s.CompleteUpload(ctx, u.ID, storage.BlobLink{Digest: d, Size: 10})
	wantErr(t, "CompleteUpload(repository does not exist)", err, storage.ErrNotFound)
	got, err := s.GetUpload(ctx, u.ID)
	must(t, "GetUpload after failed CompleteUpload", err)
	checkUpload(t, "GetUpload after failed CompleteUpload", got, u)
	_, err = s.GetRepository(ctx, "ghost")
	wantErr(t, "GetRepository after failed CompleteUpload", err, storage.ErrNotFound)
}

func testWalkUploads(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	checkStrings(t, "WalkUploads(new store)", uploadIDs(t, s), nil)
	byID := make(map[string]storage.Upload)
	var want []string
	for _, i := range []int{3, 1, 4, 0, 2, 10} {
		u := fullUpload(fmt.Sprintf("repo-%d", i))
		u.ID = fmt.Sprintf("upload-%d", i)
		must(t, "PutUpload", s.PutUpload(ctx, u))
		byID[u.ID] = u
		want = append(want, u.ID)
	}
	slices.Sort(want) // upload-10 sorts before upload-2
	checkStrings(t, "WalkUploads", uploadIDs(t, s), want)
	must(t, "WalkUploads", s.WalkUploads(ctx, func(got storage.Upload) error {
		checkUpload(t, "WalkUploads record", got, byID[got.ID])
		return nil
	}))
}

func testWalkUploadsStops(t *testing.T, s storage.Storage) {
	must(t, "PutUpload", s.PutUpload(t.Context(), newUpload("a")))
	must(t, "PutUpload", s.PutUpload(t.Context(), newUpload("b")))
	checkWalkStops(t, "WalkUploads", func(fn func() error) error {
		return s.WalkUploads(t.Context(), func(storage.Upload) error { return fn() })
	})
}
