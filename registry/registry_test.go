package registry_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/registry"
	"github.com/berth-dev/berth/storage/memory"
)

func newRegistry(t *testing.T, opts ...registry.Option) *registry.Registry {
	t.Helper()
	store := memory.New()
	reg, err := registry.New(store, opts...)
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	t.Cleanup(func() {
		reg.Close()
		store.Close()
	})
	return reg
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func pushBlob(t *testing.T, reg *registry.Registry, repo string, data []byte) ocispec.Descriptor {
	t.Helper()
	d, err := reg.PushBlob(context.Background(), repo, digest.FromBytes(data), bytes.NewReader(data))
	if err != nil {
		t.Fatalf("PushBlob(%s) error = %v", repo, err)
	}
	return d
}

// image pushes a config and a layer and returns an OCI image manifest
// referencing them.
func image(t *testing.T, reg *registry.Registry, repo string, mutate func(*ocispec.Manifest)) []byte {
	t.Helper()
	cfg := pushBlob(t, reg, repo, []byte(`{"architecture":"amd64","os":"linux"}`))
	cfg.MediaType = ocispec.MediaTypeImageConfig
	layer := pushBlob(t, reg, repo, randomBytes(t, 1024))
	layer.MediaType = ocispec.MediaTypeImageLayerGzip
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    cfg,
		Layers:    []ocispec.Descriptor{layer},
	}
	if mutate != nil {
		mutate(&m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func putImage(t *testing.T, reg *registry.Registry, repo, tag string, manifest []byte) registry.Image {
	t.Helper()
	img, err := reg.PutImage(context.Background(), registry.PutImageInput{Repository: repo, Manifest: manifest, Tag: tag})
	if err != nil {
		t.Fatalf("PutImage(%s:%s) error = %v", repo, tag, err)
	}
	return img
}

func TestNewValidates(t *testing.T) {
	if _, err := registry.New(nil); err == nil {
		t.Error("New(nil) error = nil, want error")
	}
	if _, err := registry.New(memory.New(), registry.WithMaxManifestSize(0)); err == nil {
		t.Error("New(WithMaxManifestSize(0)) error = nil, want error")
	}
	if _, err := registry.New(memory.New(), registry.WithAuthorizer(nil)); err == nil {
		t.Error("New(WithAuthorizer(nil)) error = nil, want error")
	}
	reg, err := registry.New(memory.New())
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Close(); err != nil {
		t.Fatal(err)
	}
	if err := reg.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
	if _, _, err := reg.ListRepositories(context.Background(), "", 10); !errors.Is(err, registry.ErrClosed) {
		t.Errorf("after Close: error = %v, want ErrClosed", err)
	}
	var nilReg *registry.Registry
	if err := nilReg.Close(); err != nil {
		t.Errorf("nil Close() = %v", err)
	}
}

func TestRepositoryNames(t *testing.T) {
	reg := newRegistry(t)
	ctx := context.Background()
	valid := []string{"ab", "team-a/web-app", "a/b/c", "a__b", "a--b", "a.b", "x9", strings.Repeat("a", 256)}
	for _, n := range valid {
		if _, err := reg.CreateRepository(ctx, registry.CreateRepositoryInput{Name: n}); err != nil {
			t.Errorf("CreateRepository(%q) error = %v", n, err)
		}
	}
	invalid := []string{"", "a", "A/b", "a//b", "/ab", "ab/", "a_-b", "a..b", "-ab", "ab-", "a b", "a:b", strings.Repeat("a", 257), "ab/../cd"}
	for _, n := range invalid {
		if _, err := reg.CreateRepository(ctx, registry.CreateRepositoryInput{Name: n}); !errors.Is(err, registry.ErrNameInvalid) {
			t.Errorf("CreateRepository(%q) error = %v, want ErrNameInvalid", n, err)
		}
	}
	if _, err := reg.CreateRepository(ctx, registry.CreateRepositoryInput{Name: "ab"}); !errors.Is(err, registry.ErrRepositoryAlreadyExists) {
		t.Errorf("duplicate CreateRepository error = %v, want ErrRepositoryAlreadyExists", err)
	}
}

func TestRepositorySettings(t *testing.T) {
	reg := newRegistry(t)
	ctx := context.Background()
	bad := []registry.CreateRepositoryInput{
		{Name: "r1", TagMutability: "SOMETIMES"},
		{Name: "r1", TagMutability: registry.Immutable, MutabilityExclusionFilters: []string{"latest"}},
		{Name: "r1", TagMutability: registry.ImmutableWithExclusion},
		{Name: "r1", TagMutability: registry.ImmutableWithExclusion, MutabilityExclusionFilters: []string{"a", "b", "c", "d", "e", "f"}},
		{Name: "r1", TagMutability: registry.ImmutableWithExclusion, MutabilityExclusionFilters: []string{"bad/filter"}},
	}
	for _, in := range bad {
		if _, err := reg.CreateRepository(ctx, in); !errors.Is(err, registry.ErrInvalidParameter) {
			t.Errorf("CreateRepository(%+v) error = %v, want ErrInvalidParameter", in, err)
		}
	}
	repo, err := reg.CreateRepository(ctx, registry.CreateRepositoryInput{
		Name: "team-a/app", ResourceTags: map[string]string{"team": "a"}, ScanOnPush: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if repo.TagMutability != registry.Mutable || repo.CreatedAt.IsZero() || !repo.ScanOnPush {
		t.Errorf("CreateRepository() = %+v", repo)
	}
	if err := reg.TagResource(ctx, "team-a/app", map[string]string{"env": "prod"}); err != nil {
		t.Fatal(err)
	}
	if err := reg.UntagResource(ctx, "team-a/app", []string{"team"}); err != nil {
		t.Fatal(err)
	}
	tags, err := reg.ListTagsForResource(ctx, "team-a/app")
	if err != nil || len(tags) != 1 || tags["env"] != "prod" {
		t.Errorf("ListTagsForResource() = %v, %v; want map[env:prod]", tags, err)
	}
	if err := reg.PutImageScanningConfiguration(ctx, "team-a/app", false); err != nil {
		t.Fatal(err)
	}
	if err := reg.PutImageTagMutability(ctx, "team-a/app", registry.Immutable, nil); err != nil {
		t.Fatal(err)
	}
	got, err := reg.DescribeRepository(ctx, "team-a/app")
	if err != nil || got.ScanOnPush || got.TagMutability != registry.Immutable {
		t.Errorf("DescribeRepository() = %+v, %v", got, err)
	}
	if _, err := reg.DescribeRepository(ctx, "team-a/nope"); !errors.Is(err, registry.ErrNameUnknown) {
		t.Errorf("DescribeRepository(unknown) error = %v, want ErrNameUnknown", err)
	}
}

func TestDescribeRepositoriesPagination(t *testing.T) {
	reg := newRegistry(t)
	ctx := context.Background()
	names := []string{"a/b", "a-b", "aa", "b/c", "zz"}
	for _, n := range names {
		if _, err := reg.CreateRepository(ctx, registry.CreateRepositoryInput{Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	tok := ""
	for range 10 {
		out, err := reg.DescribeRepositories(ctx, registry.DescribeRepositoriesInput{NextToken: tok, MaxResults: 2})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range out.Repositories {
			got = append(got, r.Name)
		}
		if out.NextToken == "" {
			break
		}
		tok = out.NextToken
	}
	want := []string{"a-b", "a/b", "aa", "b/c", "zz"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("pages = %v, want %v", got, want)
	}
	for _, in := range []registry.DescribeRepositoriesInput{{MaxResults: -1}, {MaxResults: 1001}, {NextToken: "!!"}, {NextToken: "Zm9v"}} {
		if _, err := reg.DescribeRepositories(ctx, in); !errors.Is(err, registry.ErrInvalidParameter) {
			t.Errorf("DescribeRepositories(%+v) error = %v, want ErrInvalidParameter", in, err)
		}
	}
	cat, more, err := reg.ListRepositories(ctx, "a/b", 2)
	if err != nil || strings.Join(cat, ",") != "aa,b/c" || !more {
		t.Errorf("ListRepositories(a/b, 2) = %v, %v, %v; want [aa b/c], true", cat, more, err)
	}
	if cat, more, _ := reg.ListRepositories(ctx, "b/c", 2); len(cat) != 1 || more {
		t.Errorf("ListRepositories(b/c, 2) = %v, %v; want [zz], false", cat, more)
	}
}

func TestBlobsArePerRepository(t *testing.T) {
	reg := newRegistry(t)
	ctx := context.Background()
	data := randomBytes(t, 4096)
	d := pushBlob(t, reg, "team-a/one", data)
	if _, err := reg.StatBlob(ctx, "team-a/one", d.Digest); err != nil {
		t.Fatalf("StatBlob(one) error = %v", err)
	}
	if _, err := reg.CreateRepository(ctx, registry.CreateRepositoryInput{Name: "team-b/two"}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.StatBlob(ctx, "team-b/two", d.Digest); !errors.Is(err, registry.ErrBlobUnknown) {
		t.Errorf("StatBlob(two) error = %v, want ErrBlobUnknown", err)
	}
	if _, _, err := reg.OpenBlob(ctx, "team-b/two", d.Digest); !errors.Is(err, registry.ErrBlobUnknown) {
		t.Errorf("OpenBlob(two) error = %v, want ErrBlobUnknown", err)
	}
	if _, err := reg.MountBlob(ctx, "team-b/two", "team-b/none", d.Digest); !errors.Is(err, registry.ErrBlobUnknown) {
		t.Errorf("MountBlob(from unknown) error = %v, want ErrBlobUnknown", err)
	}
	if _, err := reg.MountBlob(ctx, "team-b/two", "team-a/one", d.Digest); err != nil {
		t.Fatalf("MountBlob() error = %v", err)
	}
	rc, desc, err := reg.OpenBlob(ctx, "team-b/two", d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, data) || desc.Size != int64(len(data)) {
		t.Errorf("OpenBlob after mount: %d bytes, desc %+v", len(got), desc)
	}
	if err := reg.DeleteBlob(ctx, "team-a/one", d.Digest); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.StatBlob(ctx, "team-a/one", d.Digest); !errors.Is(err, registry.ErrBlobUnknown) {
		t.Errorf("StatBlob after delete error = %v, want ErrBlobUnknown", err)
	}
	if _, err := reg.StatBlob(ctx, "team-b/two", d.Digest); err != nil {
		t.Errorf("StatBlob(two) after delete in one = %v, want found", err)
	}
	if err := reg.DeleteBlob(ctx, "team-a/one", d.Digest); !errors.Is(err, registry.ErrBlobUnknown) {
		t.Errorf("second DeleteBlob error = %v, want ErrBlobUnknown", err)
	}
}

func TestPushBlobDigestMismatchStoresNothing(t *testing.T) {
	reg := newRegistry(t)
	ctx := context.Background()
	data := []byte("hello")
	wrong := digest.FromString("other")
	if _, err := reg.PushBlob(ctx, "ns/repo", wrong, bytes.NewReader(data)); !errors.Is(err, registry.ErrDigestInvalid) {
		t.Fatalf("PushBlob(wrong digest) error = %v, want ErrDigestInvalid", err)
	}
	for _, d := range []digest.Digest{wrong, digest.FromBytes(data)} {
		if _, err := reg.StatBlob(ctx, "ns/repo", d); !errors.Is(err, registry.ErrBlobUnknown) {
			t.Errorf("StatBlob(%s) error = %v, want ErrBlobUnknown", d, err)
		}
		if _, err := reg.Storage().StatBlob(ctx, d); err == nil {
			t.Errorf("storage has blob %s after a failed push", d)
		}
	}
	if _, err := reg.PushBlob(ctx, "ns/repo", "sha256:xyz", bytes.NewReader(data)); !errors.Is(err, registry.ErrDigestInvalid) {
		t.Errorf("PushBlob(malformed digest) error = %v, want ErrDigestInvalid", err)
	}
	if _, err := reg.PushBlob(ctx, "ns/repo", "md5:0123456789abcdef0123456789abcdef", bytes.NewReader(data)); !errors.Is(err, registry.ErrDigestInvalid) {
		t.Errorf("PushBlob(md5) error = %v, want ErrDigestInvalid", err)
	}
}

func TestBlobSizeLimit(t *testing.T) {
	reg := newRegistry(t, registry.WithMaxBlobSize(10))
	ctx := context.Background()
	if _, err := reg.PushBlob(ctx, "ns/repo", "", bytes.NewReader(make([]byte, 11))); !errors.Is(err, registry.ErrBlobTooLarge) {
		t.Errorf("PushBlob(11 bytes) error = %v, want ErrBlobTooLarge", err)
	}
	if _, err := reg.PushBlob(ctx, "ns/repo", "", bytes.NewReader(make([]byte, 10))); err != nil {
		t.Errorf("PushBlob(10 bytes) error = %v", err)
	}
	up, err := reg.StartUpload(ctx, "ns/repo")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.WriteUpload(ctx, "ns/repo", up.ID, 0, bytes.NewReader(make([]byte, 6))); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.WriteUpload(ctx, "ns/repo", up.ID, 6, bytes.NewReader(make([]byte, 6))); !errors.Is(err, registry.ErrBlobTooLarge) {
		t.Errorf("WriteUpload past limit error = %v, want ErrBlobTooLarge", err)
	}
	st, err := reg.UploadStatus(ctx, "ns/repo", up.ID)
	if err != nil || st.Offset != 6 {
		t.Errorf("UploadStatus() = %+v, %v; want offset 6", st, err)
	}
}

func TestChunkedUpload(t *testing.T) {
	for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
		t.Run(string(alg), func(t *testing.T) {
			reg := newRegistry(t)
			ctx := context.Background()
			repo := "ns/chunked"
			data := randomBytes(t, 3000)
			up, err := reg.StartUpload(ctx, repo)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := reg.WriteUpload(ctx, repo, up.ID, 0, bytes.NewReader(data[:1000])); err != nil {
				t.Fatal(err)
			}
			// Out of order: the chunk claims offset 2000.
			_, err = reg.WriteUpload(ctx, repo, up.ID, 2000, bytes.NewReader(data[2000:]))
			var oe *registry.UploadOffsetError
			if !errors.As(err, &oe) || oe.Offset != 1000 || !errors.Is(err, registry.ErrRangeInvalid) {
				t.Fatalf("out-of-order WriteUpload error = %v, want UploadOffsetError{1000}", err)
			}
			// A chunk from a reader that fails midway changes nothing.
			if _, err := reg.WriteUpload(ctx, repo, up.ID, 1000, io.MultiReader(bytes.NewReader(data[1000:1500]), failingReader{})); err == nil {
				t.Fatal("WriteUpload(failing reader) error = nil")
			}
			st, err := reg.UploadStatus(ctx, repo, up.ID)
			if err != nil || st.Offset != 1000 {
				t.Fatalf("UploadStatus() = %+v, %v; want offset 1000", st, err)
			}
			if _, err := reg.WriteUpload(ctx, repo, up.ID, -1, bytes.NewReader(data[1000:2000])); err != nil {
				t.Fatal(err)
			}
			if _, err := reg.StatBlob(ctx, repo, alg.FromBytes(data)); !errors.Is(err, registry.ErrBlobUnknown) {
				t.Errorf("blob visible before commit: %v", err)
			}
			if _, err := reg.CompleteUpload(ctx, repo, up.ID, alg.FromBytes(data[:5]), -1, nil); !errors.Is(err, registry.ErrDigestInvalid) {
				t.Errorf("CompleteUpload(wrong digest) error = %v, want ErrDigestInvalid", err)
			}
			desc, err := reg.CompleteUpload(ctx, repo, up.ID, alg.FromBytes(data), 2000, bytes.NewReader(data[2000:]))
			if err != nil {
				t.Fatalf("CompleteUpload() error = %v", err)
			}
			if desc.Size != 3000 || desc.Digest != alg.FromBytes(data) {
				t.Errorf("CompleteUpload() = %+v", desc)
			}
			rc, _, err := reg.OpenBlob(ctx, repo, desc.Digest)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(rc)
			rc.Close()
			if !bytes.Equal(got, data) {
				t.Error("blob content differs")
			}
			if _, err := reg.UploadStatus(ctx, repo, up.ID); !errors.Is(err, registry.ErrBlobUploadUnknown) {
				t.Errorf("UploadStatus after complete error = %v, want ErrBlobUploadUnknown", err)
			}
		})
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestUploadCancelAndUnknown(t *testing.T) {
	reg := newRegistry(t)
	ctx := context.Background()
	up, err := reg.StartUpload(ctx, "ns/repo")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.UploadStatus(ctx, "ns/other", up.ID); !errors.Is(err, registry.ErrBlobUploadUnknown) {
		t.Errorf("UploadStatus(other repo) error = %v, want ErrBlobUploadUnknown", err)
	}
	if err := reg.CancelUpload(ctx, "ns/repo", up.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.WriteUpload(ctx, "ns/repo", up.ID, -1, strings.NewReader("x")); !errors.Is(err, registry.ErrBlobUploadUnknown) {
		t.Errorf("WriteUpload after cancel error = %v, want ErrBlobUploadUnknown", err)
	}
	for _, id := range []string{"", "../../etc/passwd", strings.Repeat("z", 32), "00000000000000000000000000000000"} {
		if _, err := reg.UploadStatus(ctx, "ns/repo", id); !errors.Is(err, registry.ErrBlobUploadUnknown) {
			t.Errorf("UploadStatus(%q) error = %v, want ErrBlobUploadUnknown", id, err)
		}
	}
}

func TestEmptyBlob(t *testing.T) {
	reg := newRegistry(t)
	ctx := context.Background()
	up, err := reg.StartUpload(ctx, "ns/repo")
	if err != nil {
		t.Fatal(err)
	}
	desc, err := reg.CompleteUpload(ctx, "ns/repo", up.ID, digest.FromBytes(nil), -1, nil)
	if err != nil {
		t.Fatalf("CompleteUpload(empty) error = %v", err)
	}
	if desc.Size != 0 {
		t.Errorf("size = %d", desc.Size)
	}
	rc, _, err := reg.OpenBlob(ctx, "ns/repo", desc.Digest)
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
}

func TestPutImageValidation(t *testing.T) {
	reg := newRegistry(t, registry.WithMaxManifestSize(64<<10))
	ctx := context.Background()
	repo := "ns/app"
	good := image(t, reg, repo, nil)
	missingLayer := image(t, reg, repo, func(m *ocispec.Manifest) {
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromString("absent"), Size: 6})
	})
	foreign := image(t, reg, repo, func(m *ocispec.Manifest) {
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", Digest: digest.FromString("absent"), Size: 6})
	})
	missingIndexChild, _ := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("nope"), Size: 10}},
	})
	cases := []struct {
		name      string
		in        registry.PutImageInput
		wantErr   error
		wantStore bool
	}{
		{"good", registry.PutImageInput{Manifest: good, Tag: "v1"}, nil, true},
		{"foreign layer need not exist", registry.PutImageInput{Manifest: foreign, Tag: "foreign"}, nil, true},
		{"invalid json", registry.PutImageInput{Manifest: []byte(`{"schemaVersion":2,`), Tag: "bad"}, registry.ErrManifestInvalid, false},
		{"trailing data", registry.PutImageInput{Manifest: append(append([]byte{}, good...), []byte(`{}`)...), Tag: "bad"}, registry.ErrManifestInvalid, false},
		{"schema1 content type", registry.PutImageInput{Manifest: good, MediaType: "application/vnd.docker.distribution.manifest.v1+prettyjws", Tag: "bad"}, registry.ErrManifestInvalid, false},
		{"schema1 body", registry.PutImageInput{Manifest: []byte(`{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}`), Tag: "bad"}, registry.ErrManifestInvalid, false},
		{"wrong media type", registry.PutImageInput{Manifest: []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.config.v1+json"}`), Tag: "bad"}, registry.ErrManifestInvalid, false},
		{"content type mismatch", registry.PutImageInput{Manifest: good, MediaType: ocispec.MediaTypeImageIndex, Tag: "bad"}, registry.ErrManifestInvalid, false},
		{"missing layer", registry.PutImageInput{Manifest: missingLayer, Tag: "bad"}, registry.ErrManifestBlobUnknown, false},
		{"missing index child", registry.PutImageInput{Manifest: missingIndexChild, Tag: "bad"}, registry.ErrManifestBlobUnknown, false},
		{"oversized", registry.PutImageInput{Manifest: bytes.Repeat([]byte(" "), 64<<10+1), Tag: "bad"}, registry.ErrManifestTooLarge, false},
		{"digest mismatch", registry.PutImageInput{Manifest: good, Digest: digest.FromString("x")}, registry.ErrDigestInvalid, false},
		{"bad tag", registry.PutImageInput{Manifest: good, Tag: "-bad"}, registry.ErrTagInvalid, false},
		{"bad name", registry.PutImageInput{Repository: "Bad", Manifest: good, Tag: "v1"}, registry.ErrNameInvalid, false},
		{"too many tags", registry.PutImageInput{Manifest: good, Tag: "bad", Tags: manyTags(registry.MaxTagsPerImage)}, registry.ErrInvalidParameter, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			if in.Repository == "" {
				in.Repository = repo
			}
			_, err := reg.PutImage(ctx, in)
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("PutImage() error = %v, want %v", err, tc.wantErr)
			}
			if !tc.wantStore {
				if _, err := reg.GetImage(ctx, repo, "bad"); !errors.Is(err, registry.ErrManifestUnknown) {
					t.Errorf("tag bad after failed push: error = %v, want ErrManifestUnknown", err)
				}
				if !bytes.Equal(in.Manifest, good) {
					if _, err := reg.StatImage(ctx, repo, digest.FromBytes(in.Manifest).String()); !errors.Is(err, registry.ErrManifestUnknown) {
						t.Errorf("manifest stored after failed push: %v", err)
					}
				}
			}
		})
	}
}

func manyTags(n int) []string {
	tags := make([]string, n)
	for i := range tags {
		tags[i] = fmt.Sprintf("t%d", i)
	}
	return tags
}

func TestPutGetDeleteImage(t *testing.T) {
	reg := newRegistry(t)
	ctx := context.Background()
	repo := "team-a/web-app"
	m := image(t, reg, repo, nil)
	img := putImage(t, reg, repo, "v1", m)
	if img.Descriptor.Digest != digest.FromBytes(m) || img.Descriptor.MediaType != ocispec.MediaTypeImageManifest || img.Descriptor.Size != int64(len(m)) {
		t.Errorf("PutImage() = %+v", img.Descriptor)
	}
	for _, ref := range []string{"v1", img.Descriptor.Digest.String()} {
		got, err := reg.GetImage(ctx, repo, ref)
		if err != nil || !bytes.Equal(got.Manifest, m) {
			t.Errorf("GetImage(%s) = %d bytes, %v", ref, len(got.Manifest), err)
		}
	}
	if _, err := reg.GetImage(ctx, repo, "v2"); !errors.Is(err, registry.ErrManifestUnknown) {
		t.Errorf("GetImage(v2) error = %v, want ErrManifestUnknown", err)
	}
	if _, err := reg.GetImage(ctx, "ns/none", "v1"); !errors.Is(err, registry.ErrNameUnknown) {
		t.Errorf("GetImage(unknown repo) error = %v, want ErrNameUnknown", err)
	}
	if _, err := reg.GetImage(ctx, repo, "sha256:abc"); !errors.Is(err, registry.ErrDigestInvalid) {
		t.Errorf("GetImage(bad digest) error = %v, want ErrDigestInvalid", err)
	}
	// Retag through PutImage with extra tags.
	if _, err := reg.PutImage(ctx, registry.PutImageInput{Repository: repo, Manifest: m, Tags: []string{"latest", "stable"}}); err != nil {
		t.Fatal(err)
	}
	tags, _, err := reg.ListTags(ctx, repo, "", 0)
	if err != nil || strings.Join(tags, ",") != "latest,stable,v1" {
		t.Errorf("ListTags() = %v, %v", tags, err)
	}
	if tags, more, _ := reg.ListTags(ctx, repo, "latest", 1); strings.Join(tags, ",") != "stable" || !more {
		t.Errorf("ListTags(latest, 1) = %v, %v; want [stable], true", tags, more)
	}
	// Deleting a tag leaves the manifest.
	if err := reg.DeleteImage(ctx, repo, "stable"); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.GetImage(ctx, repo, img.Descriptor.Digest.String()); err != nil {
		t.Errorf("manifest gone after tag delete: %v", err)
	}
	if err := reg.DeleteImage(ctx, repo, "stable"); !errors.Is(err, registry.ErrManifestUnknown) {
		t.Errorf("second tag delete error = %v, want ErrManifestUnknown", err)
	}
	// Deleting the manifest removes its tags.
	if err := reg.DeleteImage(ctx, repo, img.Descriptor.Digest.String()); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"v1", "latest", img.Descriptor.Digest.String()} {
		if _, err := reg.GetImage(ctx, repo, ref); !errors.Is(err, registry.ErrManifestUnknown) {
			t.Errorf("GetImage(%s) after delete error = %v, want ErrManifestUnknown", ref, err)
		}
	}
	if tags, _, err := reg.ListTags(ctx, repo, "", 0); err != nil || len(tags) != 0 {
		t.Errorf("ListTags after delete = %v, %v", tags, err)
	}
	if _, _, err := reg.ListTags(ctx, "ns/none", "", 0); !errors.Is(err, registry.ErrNameUnknown) {
		t.Errorf("ListTags(unknown) error = %v, want ErrNameUnknown", err)
	}
}

func TestTagMutability(t *testing.T) {
	cases := []struct {
		mutability string
		filters    []string
		tag        string
		wantErr    bool
	}{
		{registry.Mutable, nil, "v1", false},
		{registry.Immutable, nil, "v1", true},
		{registry.Immutable, nil, "latest", true},
		{registry.ImmutableWithExclusion, []string{"latest", "dev-*"}, "latest", false},
		{registry.ImmutableWithExclusion, []string{"latest", "dev-*"}, "dev-42", false},
		{registry.ImmutableWithExclusion, []string{"latest", "dev-*"}, "v1", true},
		{registry.MutableWithExclusion, []string{"v*"}, "v1", true},
		{registry.MutableWithExclusion, []string{"v*"}, "latest", false},
		{registry.MutableWithExclusion, []string{"*-rc*"}, "1.0-rc2", true},
	}
	for _, tc := range cases {
		t.Run(tc.mutability+"/"+tc.tag, func(t *testing.T) {
			reg := newRegistry(t)
			ctx := context.Background()
			repo := "ns/app"
			if _, err := reg.CreateRepository(ctx, registry.CreateRepositoryInput{Name: repo, TagMutability: tc.mutability, MutabilityExclusionFilters: tc.filters}); err != nil {
				t.Fatal(err)
			}
			first := image(t, reg, repo, nil)
			second := image(t, reg, repo, nil)
			putImage(t, reg, repo, tc.tag, first)
			// Pushing the same manifest again under the same tag is always fine.
			putImage(t, reg, repo, tc.tag, first)
			_, err := reg.PutImage(ctx, registry.PutImageInput{Repository: repo, Manifest: second, Tag: tc.tag})
			if tc.wantErr != errors.Is(err, registry.ErrTagImmutable) {
				t.Fatalf("moving tag %q under %s%v: error = %v, want immutable error %v", tc.tag, tc.mutability, tc.filters, err, tc.wantErr)
			}
			got, err := reg.GetImage(ctx, repo, tc.tag)
			if err != nil {
				t.Fatal(err)
			}
			want := second
			if tc.wantErr {
				want = first
				// The refused push stored nothing.
				if _, err := reg.StatImage(ctx, repo, digest.FromBytes(second).String()); !errors.Is(err, registry.ErrManifestUnknown) {
					t.Errorf("refused manifest was stored: %v", err)
				}
			}
			if !bytes.Equal(got.Manifest, want) {
				t.Error("tag points at the wrong manifest")
			}
		})
	}
}

func TestCreateOnPushOff(t *testing.T) {
	reg := newRegistry(t, registry.WithCreateOnPush(false))
	ctx := context.Background()
	if _, err := reg.StartUpload(ctx, "ns/app"); !errors.Is(err, registry.ErrNameUnknown) {
		t.Errorf("StartUpload(no repo) error = %v, want ErrNameUnknown", err)
	}
	if _, err := reg.PushBlob(ctx, "ns/app", "", strings.NewReader("x")); !errors.Is(err, registry.ErrNameUnknown) {
		t.Errorf("PushBlob(no repo) error = %v, want ErrNameUnknown", err)
	}
	if _, err := reg.CreateRepository(ctx, registry.CreateRepositoryInput{Name: "ns/app"}); err != nil {
		t.Fatal(err)
	}
	putImage(t, reg, "ns/app", "v1", image(t, reg, "ns/app", nil))
}

func TestIndexAndReferrers(t *testing.T) {
	reg := newRegistry(t)
	ctx := context.Background()
	repo := "ns/multi"
	amd := putImage(t, reg, repo, "", image(t, reg, repo, nil))
	arm := putImage(t, reg, repo, "", image(t, reg, repo, nil))
	amd.Descriptor.Platform = &ocispec.Platform{OS: "linux", Architecture: "amd64"}
	arm.Descriptor.Platform = &ocispec.Platform{OS: "linux", Architecture: "arm64"}
	idx, _ := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{amd.Descriptor, arm.Descriptor},
	})
	index := putImage(t, reg, repo, "v1", idx)

	// Two artifacts refer to the index, with different artifact types.
	sig := putImage(t, reg, repo, "", image(t, reg, repo, func(m *ocispec.Manifest) {
		m.ArtifactType = "application/vnd.example.signature"
		m.Config = ocispec.DescriptorEmptyJSON
		m.Subject = &index.Descriptor
		m.Annotations = map[string]string{"org.example": "sig"}
	}))
	if sig.Subject != index.Descriptor.Digest {
		t.Errorf("PutImage subject = %s, want %s", sig.Subject, index.Descriptor.Digest)
	}
	sbom := putImage(t, reg, repo, "", image(t, reg, repo, func(m *ocispec.Manifest) {
		m.Config.MediaType = "application/vnd.example.sbom.config"
		m.Subject = &index.Descriptor
	}))
	// A referrer may be pushed before its subject exists.
	missing := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("later"), Size: 5}
	putImage(t, reg, repo, "", image(t, reg, repo, func(m *ocispec.Manifest) { m.Subject = &missing }))

	all, err := reg.Referrers(ctx, repo, index.Descriptor.Digest, "")
	if err != nil || len(all) != 2 {
		t.Fatalf("Referrers() = %v, %v; want 2", all, err)
	}
	sigs, err := reg.Referrers(ctx, repo, index.Descriptor.Digest, "application/vnd.example.signature")
	if err != nil || len(sigs) != 1 || sigs[0].Digest != sig.Descriptor.Digest || sigs[0].Annotations["org.example"] != "sig" {
		t.Errorf("Referrers(signature) = %+v, %v", sigs, err)
	}
	sboms, _ := reg.Referrers(ctx, repo, index.Descriptor.Digest, "application/vnd.example.sbom.config")
	if len(sboms) != 1 || sboms[0].Digest != sbom.Descriptor.Digest {
		t.Errorf("Referrers(sbom, typed by config) = %+v", sboms)
	}
	if got, _ := reg.Referrers(ctx, repo, missing.Digest, ""); len(got) != 1 {
		t.Errorf("Referrers(missing subject) = %d, want 1", len(got))
	}
	if got, err := reg.Referrers(ctx, repo, digest.FromString("none"), ""); err != nil || len(got) != 0 {
		t.Errorf("Referrers(unknown) = %v, %v", got, err)
	}
	// The empty config was never pushed, yet the artifact pulls completely.
	if _, err := reg.StatBlob(ctx, repo, ocispec.DescriptorEmptyJSON.Digest); err != nil {
		t.Errorf("empty config not pullable: %v", err)
	}
	// Deleting a referrer takes it out of the listing.
	if err := reg.DeleteImage(ctx, repo, sig.Descriptor.Digest.String()); err != nil {
		t.Fatal(err)
	}
	if got, _ := reg.Referrers(ctx, repo, index.Descriptor.Digest, ""); len(got) != 1 {
		t.Errorf("Referrers after delete = %d, want 1", len(got))
	}

	out, err := reg.DescribeImages(ctx, registry.DescribeImagesInput{Repository: repo, ImageIDs: []registry.ImageID{{ImageTag: "v1"}}})
	if err != nil || len(out.ImageDetails) != 1 {
		t.Fatalf("DescribeImages(v1) = %+v, %v", out, err)
	}
	d := out.ImageDetails[0]
	if d.ImageManifestMediaType != ocispec.MediaTypeImageIndex || d.ImageSizeInBytes != max(amdSize(t, reg, repo, amd), amdSize(t, reg, repo, arm)) {
		t.Errorf("index detail = %+v", d)
	}
}

func amdSize(t *testing.T, reg *registry.Registry, repo string, img registry.Image) int64 {
	t.Helper()
	out, err := reg.DescribeImages(context.Background(), registry.DescribeImagesInput{Repository: repo, ImageIDs: []registry.ImageID{{ImageDigest: img.Descriptor.Digest}}})
	if err != nil {
		t.Fatal(err)
	}
	return out.ImageDetails[0].ImageSizeInBytes
}

func TestListAndDescribeImages(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	reg := newRegistry(t, registry.WithClock(clock), registry.WithPullRecordInterval(time.Hour))
	ctx := context.Background()
	repo := "ns/app"
	tagged := putImage(t, reg, repo, "v1", image(t, reg, repo, nil))
	putImage(t, reg, repo, "", image(t, reg, repo, nil))
	putImage(t, reg, repo, "v2", image(t, reg, repo, nil))

	count := func(status string) (ids int, images int) {
		tok := ""
		seen := map[digest.Digest]bool{}
		for {
			out, err := reg.ListImages(ctx, registry.ListImagesInput{Repository: repo, TagStatus: status, NextToken: tok, MaxResults: 1})
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range out.ImageIDs {
				seen[id.ImageDigest] = true
			}
			ids += len(out.ImageIDs)
			if out.NextToken == "" {
				return ids, len(seen)
			}
			tok = out.NextToken
		}
	}
	if ids, n := count(registry.TagStatusTagged); ids != 2 || n != 2 {
		t.Errorf("tagged = %d ids / %d images, want 2/2", ids, n)
	}
	if ids, n := count(registry.TagStatusUntagged); ids != 1 || n != 1 {
		t.Errorf("untagged = %d/%d, want 1/1", ids, n)
	}
	if _, n := count(""); n != 3 {
		t.Errorf("any = %d images, want 3", n)
	}
	if _, err := reg.ListImages(ctx, registry.ListImagesInput{Repository: repo, TagStatus: "SOME"}); !errors.Is(err, registry.ErrInvalidParameter) {
		t.Errorf("ListImages(bad status) error = %v", err)
	}

	advance(time.Minute)
	if _, err := reg.GetImage(ctx, repo, "v1"); err != nil {
		t.Fatal(err)
	}
	firstPull := now
	advance(time.Minute)
	// Within the interval: not written again.
	if _, err := reg.GetImage(ctx, repo, "v1"); err != nil {
		t.Fatal(err)
	}
	out, err := reg.DescribeImages(ctx, registry.DescribeImagesInput{Repository: repo, ImageIDs: []registry.ImageID{{ImageTag: "v1"}}})
	if err != nil {
		t.Fatal(err)
	}
	d := out.ImageDetails[0]
	if !d.LastRecordedPullTime.Equal(firstPull) || !d.ImagePushedAt.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("times = pushed %v pulled %v, want pulled %v", d.ImagePushedAt, d.LastRecordedPullTime, firstPull)
	}
	if d.ImageDigest != tagged.Descriptor.Digest || len(d.ImageTags) != 1 || d.ImageTags[0] != "v1" ||
		d.ArtifactMediaType != ocispec.MediaTypeImageConfig || d.ImageSizeInBytes <= tagged.Descriptor.Size {
		t.Errorf("detail = %+v", d)
	}
	advance(2 * time.Hour)
	if _, err := reg.StatImage(ctx, repo, "v1"); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.GetImage(ctx, repo, "v1"); err != nil {
		t.Fatal(err)
	}
	out, _ = reg.DescribeImages(ctx, registry.DescribeImagesInput{Repository: repo, ImageIDs: []registry.ImageID{{ImageTag: "v1"}}})
	if !out.ImageDetails[0].LastRecordedPullTime.Equal(now) {
		t.Errorf("pull time after interval = %v, want %v", out.ImageDetails[0].LastRecordedPullTime, now)
	}
	if _, err := reg.DescribeImages(ctx, registry.DescribeImagesInput{Repository: repo, ImageIDs: []registry.ImageID{{ImageTag: "nope"}}}); !errors.Is(err, registry.ErrManifestUnknown) {
		t.Errorf("DescribeImages(unknown tag) error = %v", err)
	}
}

func TestBatchDeleteImage(t *testing.T) {
	reg := newRegistry(t)
	ctx := context.Background()
	repo := "ns/app"
	a := putImage(t, reg, repo, "a", image(t, reg, repo, nil))
	putImage(t, reg, repo, "b", image(t, reg, repo, nil))
	deleted, failures, err := reg.BatchDeleteImage(ctx, repo, []registry.ImageID{
		{ImageDigest: a.Descriptor.Digest}, {ImageTag: "b"}, {ImageTag: "zzz"}, {}, {ImageTag: "b", ImageDigest: a.Descriptor.Digest},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(deleted) != 2 || len(failures) != 3 {
		t.Errorf("deleted %v, failures %+v", deleted, failures)
	}
}

func TestDeleteRepository(t *testing.T) {
	reg := newRegistry(t)
	ctx := context.Background()
	repo := "ns/app"
	putImage(t, reg, repo, "v1", image(t, reg, repo, nil))
	if _, err := reg.DeleteRepository(ctx, repo, false); !errors.Is(err, registry.ErrRepositoryNotEmpty) {
		t.Errorf("DeleteRepository(not empty) error = %v, want ErrRepositoryNotEmpty", err)
	}
	if _, err := reg.DeleteRepository(ctx, repo, true); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.DeleteRepository(ctx, repo, true); !errors.Is(err, registry.ErrNameUnknown) {
		t.Errorf("second DeleteRepository error = %v, want ErrNameUnknown", err)
	}
	if _, err := reg.GetImage(ctx, repo, "v1"); !errors.Is(err, registry.ErrNameUnknown) {
		t.Errorf("GetImage after repo delete error = %v", err)
	}
}

func TestAuthorizerIsConsulted(t *testing.T) {
	var mu sync.Mutex
	var seen []policy.Input
	authz := policy.AuthorizerFunc(func(_ context.Context, in policy.Input) (policy.Decision, error) {
		mu.Lock()
		seen = append(seen, in)
		mu.Unlock()
		return policy.Decision{Allow: in.Action != policy.ActionPutImage}, nil
	})
	reg := newRegistry(t, registry.WithAuthorizer(authz))
	ctx := policy.WithPrincipal(context.Background(), &policy.Principal{ID: "ci"})
	m := image(t, reg, "ns/app", nil)
	_, err := reg.PutImage(ctx, registry.PutImageInput{Repository: "ns/app", Manifest: m, Tag: "v1"})
	if !errors.Is(err, registry.ErrDenied) {
		t.Errorf("PutImage denied error = %v, want ErrDenied", err)
	}
	_, err = reg.PutImage(context.Background(), registry.PutImageInput{Repository: "ns/app", Manifest: m, Tag: "v1"})
	if !errors.Is(err, registry.ErrUnauthorized) {
		t.Errorf("PutImage without principal error = %v, want ErrUnauthorized", err)
	}
	mu.Lock()
	defer mu.Unlock()
	var found bool
	for _, in := range seen {
		if in.Action == policy.ActionPutImage && in.Principal != nil && in.Principal.ID == "ci" && in.Repository == "ns/app" && in.Reference == "v1" {
			found = true
		}
	}
	if !found {
		t.Errorf("authorizer never saw the PutImage of ci: %+v", seen)
	}
}

func TestConcurrentPushesOfSameContent(t *testing.T) {
	reg := newRegistry(t)
	ctx := context.Background()
	data := randomBytes(t, 64<<10)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			repo := []string{"ns/a", "ns/b"}[i%2]
			if _, err := reg.PushBlob(ctx, repo, digest.FromBytes(data), bytes.NewReader(data)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, repo := range []string{"ns/a", "ns/b"} {
		rc, _, err := reg.OpenBlob(ctx, repo, digest.FromBytes(data))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, data) {
			t.Errorf("%s: content differs", repo)
		}
	}
}

type recorder struct {
	mu     sync.Mutex
	events []registry.Event
}

func (r *recorder) OnEvent(_ context.Context, ev registry.Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}

func TestEvents(t *testing.T) {
	rec := &recorder{}
	reg := newRegistry(t, registry.WithListener(rec))
	repo := "ns/app"
	img := putImage(t, reg, repo, "v1", image(t, reg, repo, nil))
	if err := reg.DeleteImage(context.Background(), repo, "v1"); err != nil {
		t.Fatal(err)
	}
	if err := reg.DeleteImage(context.Background(), repo, img.Descriptor.Digest.String()); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var kinds []string
	for _, ev := range rec.events {
		kinds = append(kinds, ev.Kind)
	}
	want := "RepositoryCreated,BlobUploaded,BlobUploaded,ManifestPushed,TagDeleted,ManifestDeleted"
	if strings.Join(kinds, ",") != want {
		t.Errorf("events = %v, want %s", kinds, want)
	}
}
