package storagetest

import (
	"bytes"
	"slices"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/storage"
)

// reopener opens, closes and reopens a store on one directory.
type reopener struct {
	t    *testing.T
	open func(t *testing.T, dir string) storage.Storage
	dir  string
	cur  storage.Storage
}

// store returns the open store, opening it on first use.
func (r *reopener) store() storage.Storage {
	r.t.Helper()
	if r.cur == nil {
		r.cur = r.open(r.t, r.dir)
		if r.cur == nil {
			r.t.Fatalf("open(%q) returned a nil store", r.dir)
		}
		r.t.Cleanup(func() {
			if r.cur != nil {
				_ = r.cur.Close()
			}
		})
	}
	return r.cur
}

// reopen closes the store and opens it again on the same directory.
func (r *reopener) reopen() storage.Storage {
	r.t.Helper()
	s := r.store()
	must(r.t, "Close", s.Close())
	r.cur = r.open(r.t, r.dir)
	if r.cur == nil {
		r.t.Fatalf("open(%q) returned a nil store", r.dir)
	}
	return r.cur
}

var restartTests = []struct {
	name string
	fn   func(t *testing.T, r *reopener)
}{
	{"Close", testRestartClose},
	{"CommittedState", testRestartCommittedState},
	{"Deletes", testRestartDeletes},
	{"ResumeUpload", testRestartResumeUpload},
	{"AbortUpload", testRestartAbortUpload},
	{"DiscardBeyondOffset", testRestartDiscardBeyondOffset},
	{"Records", testRestartRecords},
}

func testRestartRecords(t *testing.T, r *reopener) {
	ctx := t.Context()
	rs, ok := r.store().(storage.RecordStore)
	if !ok {
		t.Skip("store does not implement storage.RecordStore")
	}
	must(t, "PutRecord", rs.PutRecord(ctx, "policy/registry", []byte("kept")))
	must(t, "PutRecord", rs.PutRecord(ctx, "gone", []byte("x")))
	must(t, "DeleteRecord", rs.DeleteRecord(ctx, "gone"))
	rs = r.reopen().(storage.RecordStore)
	v, err := rs.GetRecord(ctx, "policy/registry")
	must(t, "GetRecord after restart", err)
	if string(v) != "kept" {
		t.Fatalf("GetRecord after restart = %q", v)
	}
	_, err = rs.GetRecord(ctx, "gone")
	wantErr(t, "GetRecord(deleted) after restart", err, storage.ErrNotFound)
}

func testRestartClose(t *testing.T, r *reopener) {
	s := r.store()
	createRepo(t, s, "app")
	must(t, "Close", s.Close())
	must(t, "Close(again)", s.Close())
	_, err := s.GetRepository(t.Context(), "app")
	wantErr(t, "GetRepository after Close", err, storage.ErrClosed)
	s = r.reopen()
	if _, err := s.GetRepository(t.Context(), "app"); err != nil {
		t.Errorf("GetRepository after reopen: %v", err)
	}
}

// testRestartCommittedState writes every kind of record, reopens the store
// and reads them back.
func testRestartCommittedState(t *testing.T, r *reopener) {
	ctx := t.Context()
	s := r.store()
	repo := fullRepository("team/app")
	must(t, "CreateRepository", s.CreateRepository(ctx, repo))
	createRepo(t, s, "other")
	pushEmptyJSON(t, s, repo.Name)
	img := newImage(t, s, repo.Name)
	img.PushedAt = now().Add(-time.Hour)
	put(t, s, repo.Name, img, "v1", "latest")
	pulled := now()
	must(t, "RecordPull", s.RecordPull(ctx, repo.Name, img.Digest, pulled))
	img.LastPulledAt = pulled
	ref := artifact(t, "application/vnd.test.signature", img.Digest)
	put(t, s, repo.Name, ref, "sig")
	idx := index(t, img)
	put(t, s, repo.Name, idx, "multi")
	created := storage.Repository{Name: "pushed", CreatedAt: now(), ScanOnPush: true}
	must(t, "PutManifest(create on push)", s.PutManifest(ctx, storage.PutManifestRequest{
		Repository: created.Name, Manifest: index(t), CreateRepository: &created,
	}))
	loose := randomBytes(3000)
	looseDigest := digest.SHA512.FromBytes(loose)
	lu := newUpload("")
	lu.Algorithm = digest.SHA512
	appendBytes(t, s, &lu, loose)
	must(t, "CommitUpload", s.CommitUpload(ctx, &lu, looseDigest))
	state := fullUpload("other")
	must(t, "PutUpload", s.PutUpload(ctx, state))
	links := linkDigests(t, s, repo.Name)
	var blobs []storage.BlobInfo
	if w, ok := s.(storage.BlobWalker); ok {
		blobs = walkBlobs(t, w)
	}

	s = r.reopen()

	got, err := s.GetRepository(ctx, repo.Name)
	must(t, "GetRepository after reopen", err)
	checkRepository(t, "GetRepository after reopen", got, repo)
	got, err = s.GetRepository(ctx, created.Name)
	must(t, "GetRepository(created on push) after reopen", err)
	checkRepository(t, "GetRepository(created on push) after reopen", got, created)
	checkStrings(t, "WalkRepositories after reopen", repoNames(t, s, ""), []string{"other", "pushed", "team/app"})

	for _, m := range []storage.Manifest{img, ref, idx} {
		got, err := s.GetManifest(ctx, repo.Name, m.Digest)
		must(t, "GetManifest after reopen", err)
		checkManifest(t, "GetManifest after reopen", got, m, true)
	}
	checkStrings(t, "WalkManifests after reopen", manifestDigests(t, s, repo.Name, ""), sortedDigests(img, ref, idx))
	checkStrings(t, "TagsOf after reopen", tagsOf(t, s, repo.Name, img.Digest), []string{"latest", "v1"})
	checkStrings(t, "WalkTags after reopen", tagNames(t, s, repo.Name, ""), []string{"latest", "multi", "sig", "v1"})
	if d, err := s.ResolveTag(ctx, repo.Name, "multi"); err != nil || d != idx.Digest {
		t.Errorf("ResolveTag(multi) after reopen = %s, %v, want %s", d, err, idx.Digest)
	}
	checkStrings(t, "WalkReferrers after reopen", referrerDigests(t, s, repo.Name, img.Digest), []digest.Digest{ref.Digest})

	checkStrings(t, "WalkBlobLinks after reopen", linkDigests(t, s, repo.Name), links)
	for _, d := range img.Blobs {
		if _, err := s.GetBlobLink(ctx, repo.Name, d); err != nil {
			t.Errorf("GetBlobLink(%s) after reopen: %v", d, err)
		}
	}
	checkBlob(t, s, looseDigest, loose)
	for _, d := range img.Blobs {
		checkBlobDigest(t, s, d)
	}

	gotU, err := s.GetUpload(ctx, state.ID)
	must(t, "GetUpload after reopen", err)
	checkUpload(t, "GetUpload after reopen", gotU, state)
	checkStrings(t, "WalkUploads after reopen", uploadIDs(t, s), []string{state.ID})

	if w, ok := s.(storage.BlobWalker); ok {
		if got := walkBlobs(t, w); !slices.Equal(got, blobs) {
			t.Errorf("WalkBlobs after reopen = %v, want %v", got, blobs)
		}
	}

	// The reopened store accepts writes that depend on the old state.
	put(t, s, repo.Name, idx, "moved")
	must(t, "DeleteTag after reopen", s.DeleteTag(ctx, repo.Name, "v1"))
}

// checkBlobDigest checks that blob d is readable and its bytes hash to d.
func checkBlobDigest(t *testing.T, s storage.Storage, d digest.Digest) {
	t.Helper()
	b := readBlob(t, s, d)
	if got := d.Algorithm().FromBytes(b); got != d {
		t.Errorf("blob %s has content with digest %s", d, got)
	}
	info, err := s.StatBlob(t.Context(), d)
	must(t, "StatBlob", err)
	if info.Size != int64(len(b)) {
		t.Errorf("StatBlob(%s).Size = %d, want %d", d, info.Size, len(b))
	}
}

// testRestartDeletes checks that deletions are as durable as writes.
func testRestartDeletes(t *testing.T, r *reopener) {
	ctx := t.Context()
	s := r.store()
	createRepo(t, s, "app")
	createRepo(t, s, "gone")
	img := newImage(t, s, "app")
	put(t, s, "app", img, "v1", "v2")
	other := newImage(t, s, "app")
	put(t, s, "app", other, "keep")
	must(t, "DeleteTag", s.DeleteTag(ctx, "app", "v2"))
	must(t, "DeleteManifest", s.DeleteManifest(ctx, "app", other.Digest))
	must(t, "UnlinkBlob", s.UnlinkBlob(ctx, "app", img.Blobs[1]))
	must(t, "DeleteBlob", s.DeleteBlob(ctx, other.Blobs[1]))
	must(t, "DeleteRepository", s.DeleteRepository(ctx, "gone", false))
	u := fullUpload("app")
	must(t, "PutUpload", s.PutUpload(ctx, u))
	must(t, "DeleteUpload", s.DeleteUpload(ctx, u.ID))

	s = r.reopen()
	_, err := s.ResolveTag(ctx, "app", "v2")
	wantErr(t, "ResolveTag(deleted tag) after reopen", err, storage.ErrNotFound)
	_, err = s.ResolveTag(ctx, "app", "keep")
	wantErr(t, "ResolveTag(tag of deleted manifest) after reopen", err, storage.ErrNotFound)
	checkStrings(t, "TagsOf after reopen", tagsOf(t, s, "app", img.Digest), []string{"v1"})
	_, err = s.GetManifest(ctx, "app", other.Digest)
	wantErr(t, "GetManifest(deleted) after reopen", err, storage.ErrNotFound)
	_, err = s.GetBlobLink(ctx, "app", img.Blobs[1])
	wantErr(t, "GetBlobLink(unlinked) after reopen", err, storage.ErrNotFound)
	_, err = s.StatBlob(ctx, other.Blobs[1])
	wantErr(t, "StatBlob(deleted) after reopen", err, storage.ErrNotFound)
	_, err = s.GetRepository(ctx, "gone")
	wantErr(t, "GetRepository(deleted) after reopen", err, storage.ErrNotFound)
	_, err = s.GetUpload(ctx, u.ID)
	wantErr(t, "GetUpload(deleted) after reopen", err, storage.ErrNotFound)
	checkStrings(t, "WalkRepositories after reopen", repoNames(t, s, ""), []string{"app"})
}

// testRestartResumeUpload interrupts an upload with a restart and finishes
// it from the stored state.
func testRestartResumeUpload(t *testing.T, r *reopener) {
	ctx := t.Context()
	s := r.store()
	createRepo(t, s, "app")
	content := randomBytes(10_000)
	d := digest.FromBytes(content)
	u := newUpload("app")
	must(t, "PutUpload", s.PutUpload(ctx, u))
	appendBytes(t, s, &u, content[:4000])
	u.HashState = []byte("state after 4000 bytes")
	must(t, "PutUpload", s.PutUpload(ctx, u))

	s = r.reopen()
	got, err := s.GetUpload(ctx, u.ID)
	must(t, "GetUpload after reopen", err)
	checkUpload(t, "GetUpload after reopen", got, u)
	if b := readUpload(t, s, &got); !bytes.Equal(b, content[:4000]) {
		t.Fatalf("ReadUpload after reopen: got %d bytes, want the %d bytes appended before", len(b), 4000)
	}
	appendBytes(t, s, &got, content[4000:])
	must(t, "PutUpload", s.PutUpload(ctx, got))
	_, err = s.StatBlob(ctx, d)
	wantErr(t, "StatBlob before commit", err, storage.ErrNotFound)
	must(t, "CommitUpload", s.CommitUpload(ctx, &got, d))
	must(t, "CompleteUpload", s.CompleteUpload(ctx, got.ID, storage.BlobLink{Digest: d, Size: got.Offset}))
	checkBlob(t, s, d, content)

	s = r.reopen()
	checkBlob(t, s, d, content)
	if _, err := s.GetBlobLink(ctx, "app", d); err != nil {
		t.Errorf("GetBlobLink after second reopen: %v", err)
	}
	checkStrings(t, "WalkUploads after second reopen", uploadIDs(t, s), nil)
}

func testRestartAbortUpload(t *testing.T, r *reopener) {
	ctx := t.Context()
	s := r.store()
	createRepo(t, s, "app")
	content := randomBytes(5000)
	u := newUpload("app")
	must(t, "PutUpload", s.PutUpload(ctx, u))
	appendBytes(t, s, &u, content)
	must(t, "PutUpload", s.PutUpload(ctx, u))

	s = r.reopen()
	got, err := s.GetUpload(ctx, u.ID)
	must(t, "GetUpload after reopen", err)
	must(t, "AbortUpload after reopen", s.AbortUpload(ctx, &got))
	must(t, "DeleteUpload after reopen", s.DeleteUpload(ctx, got.ID))
	d := digest.FromBytes(content)
	if err := s.CommitUpload(ctx, &got, d); err == nil {
		t.Errorf("CommitUpload after AbortUpload: error = nil, want an error")
	}

	s = r.reopen()
	_, err = s.StatBlob(ctx, d)
	wantErr(t, "StatBlob after abort and reopen", err, storage.ErrNotFound)
	checkStrings(t, "WalkUploads after abort and reopen", uploadIDs(t, s), nil)
	if w, ok := s.(storage.BlobWalker); ok {
		if got := walkBlobs(t, w); len(got) != 0 {
			t.Errorf("WalkBlobs after abort and reopen = %v, want none", got)
		}
	}
}

// testRestartDiscardBeyondOffset appends bytes whose offset is never
// recorded, restarts, and continues from the recorded offset.
func testRestartDiscardBeyondOffset(t *testing.T, r *reopener) {
	ctx := t.Context()
	s := r.store()
	createRepo(t, s, "app")
	a, b, c := randomBytes(1000), randomBytes(2000), randomBytes(500)
	u := newUpload("app")
	appendBytes(t, s, &u, a)
	must(t, "PutUpload", s.PutUpload(ctx, u))
	lost := u
	appendBytes(t, s, &lost, b) // the registry died before PutUpload

	s = r.reopen()
	got, err := s.GetUpload(ctx, u.ID)
	must(t, "GetUpload after reopen", err)
	appendBytes(t, s, &got, c)
	want := slices.Concat(a, c)
	d := digest.FromBytes(want)
	must(t, "CommitUpload", s.CommitUpload(ctx, &got, d))
	checkBlob(t, s, d, want)
}
