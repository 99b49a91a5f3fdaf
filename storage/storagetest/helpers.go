package storagetest

import (
	"bytes"
	"crypto/rand"
	_ "crypto/sha256" // register sha256 with go-digest
	_ "crypto/sha512" // register sha512 with go-digest
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/storage"
)

// errBoom is returned by test callbacks to check error propagation.
var errBoom = errors.New("storagetest: boom")

// emptyJSON is the content of ocispec.DescriptorEmptyJSON.
var emptyJSON = []byte("{}")

// now returns the current time at millisecond precision, in UTC, so that
// stored times compare equal after any reasonable serialization.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// randomBytes returns n random bytes.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails
	return b
}

// newUpload returns the state of a new upload session into repo.
func newUpload(repo string) storage.Upload {
	t := now()
	return storage.Upload{
		ID:         "up-" + rand.Text(),
		Repository: repo,
		StartedAt:  t,
		UpdatedAt:  t,
		Algorithm:  digest.SHA256,
	}
}

// must fails the test if err is not nil.
func must(t testing.TB, op string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", op, err)
	}
}

// wantErr reports an error unless errors.Is(err, target).
func wantErr(t testing.TB, op string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error = %v, want %v", op, err, target)
	}
}

// appendBytes appends p to the upload at u.Offset and advances u.Offset, as
// a registry does after a successful append.
func appendBytes(t testing.TB, s storage.Storage, u *storage.Upload, p []byte) {
	t.Helper()
	n, err := s.AppendUpload(t.Context(), u, bytes.NewReader(p))
	must(t, "AppendUpload", err)
	if n != int64(len(p)) {
		t.Fatalf("AppendUpload() = %d, want %d", n, len(p))
	}
	u.Offset += n
	u.UpdatedAt = now()
}

// commitBlob stores content as a blob through a single-chunk upload that
// keeps no upload state, and returns its sha256 digest.
func commitBlob(t testing.TB, s storage.Storage, content []byte) digest.Digest {
	t.Helper()
	d := digest.FromBytes(content)
	u := newUpload("")
	appendBytes(t, s, &u, content)
	must(t, "CommitUpload", s.CommitUpload(t.Context(), &u, d))
	return d
}

// pushBlob pushes content into repo as a registry does (upload state,
// append, commit, complete) and returns its sha256 digest.
func pushBlob(t testing.TB, s storage.Storage, repo string, content []byte) digest.Digest {
	t.Helper()
	ctx := t.Context()
	d := digest.FromBytes(content)
	u := newUpload(repo)
	must(t, "PutUpload", s.PutUpload(ctx, u))
	appendBytes(t, s, &u, content)
	must(t, "PutUpload", s.PutUpload(ctx, u))
	must(t, "CommitUpload", s.CommitUpload(ctx, &u, d))
	must(t, "CompleteUpload", s.CompleteUpload(ctx, u.ID, storage.BlobLink{Digest: d, Size: int64(len(content))}))
	return d
}

// readBlob returns the content of a committed blob.
func readBlob(t testing.TB, s storage.Storage, d digest.Digest) []byte {
	t.Helper()
	rc, err := s.OpenBlob(t.Context(), d)
	must(t, "OpenBlob", err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	must(t, "read blob", err)
	return b
}

// readUpload returns the bytes [0, u.Offset) of an upload.
func readUpload(t testing.TB, s storage.Storage, u *storage.Upload) []byte {
	t.Helper()
	rc, err := s.ReadUpload(t.Context(), u)
	must(t, "ReadUpload", err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	must(t, "read upload", err)
	return b
}

// checkBlob fails unless blob d is committed with exactly want.
func checkBlob(t testing.TB, s storage.Storage, d digest.Digest, want []byte) {
	t.Helper()
	info, err := s.StatBlob(t.Context(), d)
	must(t, "StatBlob", err)
	if info.Size != int64(len(want)) {
		t.Errorf("StatBlob(%s).Size = %d, want %d", d, info.Size, len(want))
	}
	if got := readBlob(t, s, d); !bytes.Equal(got, want) {
		t.Errorf("OpenBlob(%s) content differs: got %d bytes, want %d", d, len(got), len(want))
	}
}

// createRepo creates a repository named name.
func createRepo(t testing.TB, s storage.Storage, name string) storage.Repository {
	t.Helper()
	r := storage.Repository{Name: name, CreatedAt: now()}
	must(t, "CreateRepository("+name+")", s.CreateRepository(t.Context(), r))
	return r
}

// record turns an OCI image manifest into the record a registry stores.
func record(t testing.TB, man ocispec.Manifest) storage.Manifest {
	t.Helper()
	payload, err := json.Marshal(man)
	must(t, "marshal manifest", err)
	size := int64(len(payload)) + man.Config.Size
	blobs := []digest.Digest{man.Config.Digest}
	for _, l := range man.Layers {
		size += l.Size
		if !slices.Contains(blobs, l.Digest) {
			blobs = append(blobs, l.Digest)
		}
	}
	m := storage.Manifest{
		Digest:          digest.FromBytes(payload),
		MediaType:       man.MediaType,
		ArtifactType:    man.ArtifactType,
		ConfigMediaType: man.Config.MediaType,
		Size:            int64(len(payload)),
		ImageSize:       size,
		Annotations:     maps.Clone(man.Annotations),
		Blobs:           blobs,
		PushedAt:        now(),
		Payload:         payload,
	}
	if man.Subject != nil {
		m.Subject = man.Subject.Digest
	}
	return m
}

// newImage pushes a config and two layers into repo (which must exist) and
// returns the record of an image manifest over them, not yet put.
func newImage(t testing.TB, s storage.Storage, repo string) storage.Manifest {
	t.Helper()
	config := fmt.Appendf(nil, `{"architecture":"amd64","os":"linux","nonce":%q}`, rand.Text())
	layers := [][]byte{randomBytes(300), randomBytes(700)}
	man := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{
			MediaType: ocispec.MediaTypeImageConfig,
			Digest:    pushBlob(t, s, repo, config),
			Size:      int64(len(config)),
		},
	}
	for _, l := range layers {
		man.Layers = append(man.Layers, ocispec.Descriptor{
			MediaType: ocispec.MediaTypeImageLayerGzip,
			Digest:    pushBlob(t, s, repo, l),
			Size:      int64(len(l)),
		})
	}
	return record(t, man)
}

// artifact returns the record of an artifact manifest whose only blob is
// the empty JSON blob (see pushEmptyJSON), with a unique annotation. If
// subject is not empty the artifact refers to it.
func artifact(t testing.TB, artifactType string, subject digest.Digest) storage.Manifest {
	t.Helper()
	empty := ocispec.DescriptorEmptyJSON
	empty.Data = nil
	man := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType,
		Config:       empty,
		Layers:       []ocispec.Descriptor{empty},
		Annotations: map[string]string{
			ocispec.AnnotationCreated: now().Format(time.RFC3339),
			"dev.berth.test.nonce":    rand.Text(),
		},
	}
	if subject != "" {
		man.Subject = &ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: subject, Size: 1}
	}
	return record(t, man)
}

// pushEmptyJSON pushes and links the empty JSON blob that artifacts use.
func pushEmptyJSON(t testing.TB, s storage.Storage, repo string) {
	t.Helper()
	pushBlob(t, s, repo, emptyJSON)
}

// index returns the record of an image index over children.
func index(t testing.TB, children ...storage.Manifest) storage.Manifest {
	t.Helper()
	idx := ocispec.Index{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		MediaType:   ocispec.MediaTypeImageIndex,
		Annotations: map[string]string{"dev.berth.test.nonce": rand.Text()},
	}
	var imageSize int64
	var kids []digest.Digest
	for _, c := range children {
		idx.Manifests = append(idx.Manifests, ocispec.Descriptor{MediaType: c.MediaType, Digest: c.Digest, Size: c.Size})
		imageSize = max(imageSize, c.ImageSize)
		kids = append(kids, c.Digest)
	}
	payload, err := json.Marshal(idx)
	must(t, "marshal index", err)
	return storage.Manifest{
		Digest:      digest.FromBytes(payload),
		MediaType:   idx.MediaType,
		Size:        int64(len(payload)),
		ImageSize:   imageSize,
		Annotations: maps.Clone(idx.Annotations),
		Manifests:   kids,
		PushedAt:    now(),
		Payload:     payload,
	}
}

// put stores m in repo with tags.
func put(t testing.TB, s storage.Storage, repo string, m storage.Manifest, tags ...string) {
	t.Helper()
	must(t, "PutManifest", s.PutManifest(t.Context(), storage.PutManifestRequest{
		Repository: repo,
		Manifest:   m,
		Tags:       tags,
	}))
}

// checkManifest compares a stored manifest with the record that was put.
// Payloads are compared only if withPayload is set. Nil and empty slices
// and maps are equal.
func checkManifest(t testing.TB, op string, got, want storage.Manifest, withPayload bool) {
	t.Helper()
	if got.Digest != want.Digest {
		t.Errorf("%s: Digest = %s, want %s", op, got.Digest, want.Digest)
	}
	if got.MediaType != want.MediaType {
		t.Errorf("%s: MediaType = %q, want %q", op, got.MediaType, want.MediaType)
	}
	if got.ArtifactType != want.ArtifactType {
		t.Errorf("%s: ArtifactType = %q, want %q", op, got.ArtifactType, want.ArtifactType)
	}
	if got.ConfigMediaType != want.ConfigMediaType {
		t.Errorf("%s: ConfigMediaType = %q, want %q", op, got.ConfigMediaType, want.ConfigMediaType)
	}
	if got.Size != want.Size {
		t.Errorf("%s: Size = %d, want %d", op, got.Size, want.Size)
	}
	if got.ImageSize != want.ImageSize {
		t.Errorf("%s: ImageSize = %d, want %d", op, got.ImageSize, want.ImageSize)
	}
	if got.Subject != want.Subject {
		t.Errorf("%s: Subject = %q, want %q", op, got.Subject, want.Subject)
	}
	if !maps.Equal(got.Annotations, want.Annotations) {
		t.Errorf("%s: Annotations = %v, want %v", op, got.Annotations, want.Annotations)
	}
	if !slices.Equal(got.Blobs, want.Blobs) {
		t.Errorf("%s: Blobs = %v, want %v", op, got.Blobs, want.Blobs)
	}
	if !slices.Equal(got.Manifests, want.Manifests) {
		t.Errorf("%s: Manifests = %v, want %v", op, got.Manifests, want.Manifests)
	}
	if !got.PushedAt.Equal(want.PushedAt) {
		t.Errorf("%s: PushedAt = %v, want %v", op, got.PushedAt, want.PushedAt)
	}
	if !got.LastPulledAt.Equal(want.LastPulledAt) {
		t.Errorf("%s: LastPulledAt = %v, want %v", op, got.LastPulledAt, want.LastPulledAt)
	}
	if withPayload && !bytes.Equal(got.Payload, want.Payload) {
		t.Errorf("%s: Payload = %q, want %q", op, got.Payload, want.Payload)
	}
}

// checkRepository compares a stored repository record with what was put.
func checkRepository(t testing.TB, op string, got, want storage.Repository) {
	t.Helper()
	if got.Name != want.Name {
		t.Errorf("%s: Name = %q, want %q", op, got.Name, want.Name)
	}
	if !got.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("%s: CreatedAt = %v, want %v", op, got.CreatedAt, want.CreatedAt)
	}
	if got.TagMutability != want.TagMutability {
		t.Errorf("%s: TagMutability = %q, want %q", op, got.TagMutability, want.TagMutability)
	}
	if !slices.Equal(got.MutabilityExclusionFilters, want.MutabilityExclusionFilters) {
		t.Errorf("%s: MutabilityExclusionFilters = %q, want %q", op, got.MutabilityExclusionFilters, want.MutabilityExclusionFilters)
	}
	if !maps.Equal(got.ResourceTags, want.ResourceTags) {
		t.Errorf("%s: ResourceTags = %v, want %v", op, got.ResourceTags, want.ResourceTags)
	}
	if got.ScanOnPush != want.ScanOnPush {
		t.Errorf("%s: ScanOnPush = %v, want %v", op, got.ScanOnPush, want.ScanOnPush)
	}
}

// checkUpload compares stored upload state with what was put.
func checkUpload(t testing.TB, op string, got, want storage.Upload) {
	t.Helper()
	if got.ID != want.ID || got.Repository != want.Repository || got.Offset != want.Offset || got.Algorithm != want.Algorithm {
		t.Errorf("%s: {ID %q, Repository %q, Offset %d, Algorithm %q}, want {%q, %q, %d, %q}", op,
			got.ID, got.Repository, got.Offset, got.Algorithm, want.ID, want.Repository, want.Offset, want.Algorithm)
	}
	if !got.StartedAt.Equal(want.StartedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("%s: StartedAt, UpdatedAt = %v, %v, want %v, %v", op, got.StartedAt, got.UpdatedAt, want.StartedAt, want.UpdatedAt)
	}
	if !bytes.Equal(got.HashState, want.HashState) {
		t.Errorf("%s: HashState = %x, want %x", op, got.HashState, want.HashState)
	}
	if !slices.Equal(got.Parts, want.Parts) {
		t.Errorf("%s: Parts = %+v, want %+v", op, got.Parts, want.Parts)
	}
}

// Collectors over the walk methods. They fail the test on a walk error.

func repoNames(t testing.TB, s storage.Storage, after string) []string {
	t.Helper()
	var names []string
	must(t, "WalkRepositories", s.WalkRepositories(t.Context(), after, func(r storage.Repository) error {
		names = append(names, r.Name)
		return nil
	}))
	return names
}

func tagNames(t testing.TB, s storage.Storage, repo, after string) []string {
	t.Helper()
	var tags []string
	must(t, "WalkTags", s.WalkTags(t.Context(), repo, after, func(tag string, _ digest.Digest) error {
		tags = append(tags, tag)
		return nil
	}))
	return tags
}

func manifestDigests(t testing.TB, s storage.Storage, repo string, after digest.Digest) []digest.Digest {
	t.Helper()
	var ds []digest.Digest
	must(t, "WalkManifests", s.WalkManifests(t.Context(), repo, after, func(m storage.Manifest) error {
		ds = append(ds, m.Digest)
		return nil
	}))
	return ds
}

func referrerDigests(t testing.TB, s storage.Storage, repo string, subject digest.Digest) []digest.Digest {
	t.Helper()
	var ds []digest.Digest
	must(t, "WalkReferrers", s.WalkReferrers(t.Context(), repo, subject, func(m storage.Manifest) error {
		ds = append(ds, m.Digest)
		return nil
	}))
	return ds
}

func linkDigests(t testing.TB, s storage.Storage, repo string) []digest.Digest {
	t.Helper()
	var ds []digest.Digest
	must(t, "WalkBlobLinks", s.WalkBlobLinks(t.Context(), repo, func(l storage.BlobLink) error {
		ds = append(ds, l.Digest)
		return nil
	}))
	return ds
}

func uploadIDs(t testing.TB, s storage.Storage) []string {
	t.Helper()
	var ids []string
	must(t, "WalkUploads", s.WalkUploads(t.Context(), func(u storage.Upload) error {
		ids = append(ids, u.ID)
		return nil
	}))
	return ids
}

// sortedDigests returns the digests of ms in digest order.
func sortedDigests(ms ...storage.Manifest) []digest.Digest {
	ds := make([]digest.Digest, len(ms))
	for i, m := range ms {
		ds[i] = m.Digest
	}
	slices.Sort(ds)
	return ds
}

// checkStrings reports got != want, treating nil and empty as equal.
func checkStrings[S ~string](t testing.TB, op string, got, want []S) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", op, got, want)
	}
}

// checkWalkStops checks that walk stops with nil when fn returns
// storage.SkipAll after the first item, and returns errBoom unchanged when
// fn returns it. walk runs the walk with fn; the walk must have at least
// two items.
func checkWalkStops(t testing.TB, name string, walk func(fn func() error) error) {
	t.Helper()
	calls := 0
	err := walk(func() error {
		calls++
		return storage.SkipAll
	})
	if err != nil {
		t.Errorf("%s with SkipAll: error = %v, want nil", name, err)
	}
	if calls != 1 {
		t.Errorf("%s with SkipAll: %d callbacks, want 1", name, calls)
	}
	calls = 0
	err = walk(func() error {
		calls++
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Errorf("%s with failing callback: error = %v, want %v", name, err, errBoom)
	}
	if calls != 1 {
		t.Errorf("%s with failing callback: %d callbacks, want 1", name, calls)
	}
}

// failingReader returns data, then err.
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

// cloneManifest returns a deep copy of m.
func cloneManifest(m storage.Manifest) storage.Manifest {
	m.Annotations = maps.Clone(m.Annotations)
	m.Blobs = slices.Clone(m.Blobs)
	m.Manifests = slices.Clone(m.Manifests)
	m.Payload = slices.Clone(m.Payload)
	return m
}

// paginate collects every name a walk yields, page by page: each page is a
// walk after the last name of the previous page, stopped with
// storage.SkipAll after pageSize names.
func paginate(t testing.TB, pageSize int, walk func(after string, fn func(name string) error) error) []string {
	t.Helper()
	var all []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatalf("paginate: more than 1000 pages; does the walk honour after?")
		}
		var page []string
		err := walk(after, func(name string) error {
			page = append(page, name)
			if len(page) == pageSize {
				return storage.SkipAll
			}
			return nil
		})
		must(t, "walk page", err)
		all = append(all, page...)
		if len(page) < pageSize {
			return all
		}
		after = page[len(page)-1]
	}
}
