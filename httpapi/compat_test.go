package httpapi_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	orasremote "oras.land/oras-go/v2/registry/remote"

	"github.com/berth-dev/berth/httpapi"
	"github.com/berth-dev/berth/registry"
	"github.com/berth-dev/berth/storage/memory"
)

// recorder remembers the requests a server answered and with what status.
type recorder struct {
	mu   sync.Mutex
	seen []string // "METHOD path?query STATUS"
}

func (rec *recorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		rec.mu.Lock()
		rec.seen = append(rec.seen, r.Method+" "+r.URL.RequestURI()+" "+http.StatusText(sw.status))
		rec.mu.Unlock()
	})
}

// count returns how many requests contain all of parts.
func (rec *recorder) count(parts ...string) int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	n := 0
	for _, s := range rec.seen {
		if containsAllSubstrings(s, parts...) {
			n++
		}
	}
	return n
}

func containsAllSubstrings(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// newCompatServer serves an empty memory registry on a loopback
// httptest.Server and returns its host:port.
func newCompatServer(t *testing.T) (string, *recorder) {
	t.Helper()
	store := memory.New()
	t.Cleanup(func() { store.Close() })
	reg, err := registry.New(store)
	if err != nil {
		t.Fatalf("registry.New() error = %v", err)
	}
	h, err := httpapi.New(reg, httpapi.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatalf("httpapi.New() error = %v", err)
	}
	rec := &recorder{}
	mux := http.NewServeMux()
	mux.Handle("/v2/", rec.wrap(h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), rec
}

func TestGGCRImageRoundTrip(t *testing.T) {
	host, rec := newCompatServer(t)
	ref1 := mustRef(t, host+"/ggcr/one:v1")
	img, err := random.Image(2048, 3)
	if err != nil {
		t.Fatalf("random.Image() error = %v", err)
	}
	if err := remote.Write(ref1, img); err != nil {
		t.Fatalf("remote.Write() error = %v", err)
	}
	pulled, err := remote.Image(ref1)
	if err != nil {
		t.Fatalf("remote.Image() error = %v", err)
	}
	if err := validate.Image(pulled); err != nil {
		t.Errorf("validate.Image(pulled) error = %v", err)
	}
	wantDigest(t, img, pulled)

	// Copy to another repository, as crane copy does: the layers are
	// mounted from the source, never uploaded again.
	ref2 := mustRef(t, host+"/ggcr/two:copy")
	if err := remote.Write(ref2, pulled); err != nil {
		t.Fatalf("remote.Write(copy) error = %v", err)
	}
	if n := rec.count("POST /v2/ggcr/two/blobs/uploads/?", "from=ggcr%2Fone", "mount=", "Created"); n < 3 {
		t.Errorf("mounts into ggcr/two = %d, want at least 3 (layers and config); requests:\n%s", n, strings.Join(rec.seen, "\n"))
	}
	if n := rec.count("PATCH /v2/ggcr/two/"); n != 0 {
		t.Errorf("copy uploaded %d chunks, want 0 (mount)", n)
	}
	copied, err := remote.Image(ref2)
	if err != nil {
		t.Fatalf("remote.Image(copy) error = %v", err)
	}
	if err := validate.Image(copied); err != nil {
		t.Errorf("validate.Image(copy) error = %v", err)
	}
	wantDigest(t, img, copied)

	tags, err := remote.List(mustRef(t, host+"/ggcr/one:v1").Context())
	if err != nil || !slices.Equal(tags, []string{"v1"}) {
		t.Errorf("remote.List() = %v, %v, want [v1]", tags, err)
	}
	repos, err := remote.Catalog(context.Background(), ref1.Context().Registry)
	if err != nil || !slices.Equal(repos, []string{"ggcr/one", "ggcr/two"}) {
		t.Errorf("remote.Catalog() = %v, %v, want [ggcr/one ggcr/two]", repos, err)
	}

	// Delete by digest.
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	byDigest := mustRef(t, host+"/ggcr/one@"+d.String())
	if err := remote.Delete(byDigest); err != nil {
		t.Fatalf("remote.Delete() error = %v", err)
	}
	_, err = remote.Get(byDigest)
	if terr := (*transport.Error)(nil); !errors.As(err, &terr) || terr.StatusCode != http.StatusNotFound {
		t.Errorf("remote.Get(deleted) error = %v, want 404", err)
	}
	if _, err := remote.Image(ref2); err != nil {
		t.Errorf("remote.Image(copy) after deleting the source: %v", err)
	}
}

func TestGGCRIndexRoundTrip(t *testing.T) {
	host, _ := newCompatServer(t)
	ref := mustRef(t, host+"/ggcr/multi:latest")
	idx, err := random.Index(1024, 2, 3)
	if err != nil {
		t.Fatalf("random.Index() error = %v", err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatalf("remote.WriteIndex() error = %v", err)
	}
	pulled, err := remote.Index(ref)
	if err != nil {
		t.Fatalf("remote.Index() error = %v", err)
	}
	if err := validate.Index(pulled); err != nil {
		t.Errorf("validate.Index() error = %v", err)
	}
	want, _ := idx.Digest()
	got, _ := pulled.Digest()
	if got != want {
		t.Errorf("pulled index digest = %s, want %s", got, want)
	}
	desc, err := remote.Head(ref)
	if err != nil {
		t.Fatalf("remote.Head() error = %v", err)
	}
	if desc.Digest != want || string(desc.MediaType) != ocispec.MediaTypeImageIndex && desc.MediaType != "application/vnd.docker.distribution.manifest.list.v2+json" {
		t.Errorf("remote.Head() = %+v, want digest %s", desc, want)
	}
	// Every child can be pulled by digest.
	im, err := pulled.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range im.Manifests {
		child, err := remote.Image(mustRef(t, host+"/ggcr/multi@"+m.Digest.String()))
		if err != nil {
			t.Fatalf("remote.Image(child) error = %v", err)
		}
		if err := validate.Image(child); err != nil {
			t.Errorf("validate.Image(child) error = %v", err)
		}
	}
}

func TestORASReferrersAndTags(t *testing.T) {
	ctx := context.Background()
	host, _ := newCompatServer(t)
	repo, err := orasremote.NewRepository(host + "/oras/app")
	if err != nil {
		t.Fatalf("NewRepository() error = %v", err)
	}
	repo.PlainHTTP = true

	push := func(mediaType string, b []byte) ocispec.Descriptor {
		t.Helper()
		desc := content.NewDescriptorFromBytes(mediaType, b)
		if err := repo.Push(ctx, desc, bytes.NewReader(b)); err != nil {
			t.Fatalf("Push(%s) error = %v", mediaType, err)
		}
		return desc
	}
	config := push(ocispec.MediaTypeImageConfig, []byte(`{"architecture":"arm64","os":"linux"}`))
	layer := push(ocispec.MediaTypeImageLayer, bytes.Repeat([]byte("layer "), 5000))
	subject, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, "", oras.PackManifestOptions{
		ConfigDescriptor: &config,
		Layers:           []ocispec.Descriptor{layer},
	})
	if err != nil {
		t.Fatalf("PackManifest(subject) error = %v", err)
	}
	for _, tag := range []string{"v1", "v2", "v3", "latest", "stable"} {
		if err := repo.Tag(ctx, subject, tag); err != nil {
			t.Fatalf("Tag(%s) error = %v", tag, err)
		}
	}

	const sigType, sbomType = "application/vnd.example.sig", "application/vnd.example.sbom"
	sig, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, sigType, oras.PackManifestOptions{
		Subject:             &subject,
		ManifestAnnotations: map[string]string{"org.example.signer": "alice", ocispec.AnnotationCreated: "2026-01-01T00:00:00Z"},
	})
	if err != nil {
		t.Fatalf("PackManifest(sig) error = %v", err)
	}
	sbomBlob := push("application/spdx+json", []byte(`{"spdxVersion":"SPDX-2.3"}`))
	sbom, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, sbomType, oras.PackManifestOptions{
		Subject: &subject,
		Layers:  []ocispec.Descriptor{sbomBlob},
	})
	if err != nil {
		t.Fatalf("PackManifest(sbom) error = %v", err)
	}

	referrers := func(artifactType string) []ocispec.Descriptor {
		t.Helper()
		var all []ocispec.Descriptor
		err := repo.Referrers(ctx, subject, artifactType, func(page []ocispec.Descriptor) error {
			all = append(all, page...)
			return nil
		})
		if err != nil {
			t.Fatalf("Referrers(%q) error = %v", artifactType, err)
		}
		return all
	}
	all := referrers("")
	if len(all) != 2 {
		t.Fatalf("Referrers() = %+v, want sig and sbom", all)
	}
	for _, want := range []ocispec.Descriptor{sig, sbom} {
		i := slices.IndexFunc(all, func(d ocispec.Descriptor) bool { return d.Digest == want.Digest })
		if i < 0 {
			t.Errorf("Referrers() is missing %s", want.Digest)
			continue
		}
		if got := all[i]; got.ArtifactType != want.ArtifactType || got.Size != want.Size || got.MediaType != want.MediaType {
			t.Errorf("referrer = %+v, want %+v", got, want)
		}
	}
	sigs := referrers(sigType)
	if len(sigs) != 1 || sigs[0].Digest != sig.Digest || sigs[0].Annotations["org.example.signer"] != "alice" {
		t.Errorf("Referrers(%s) = %+v, want the signature with its annotations", sigType, sigs)
	}
	if got := referrers("application/none"); len(got) != 0 {
		t.Errorf("Referrers(none) = %+v, want none", got)
	}

	// A small page size makes oras follow the Link header. The referrers
	// tag schema fallback (sha256-<hex> tags) must not have been used.
	repo.TagListPageSize = 2
	var tags []string
	if err := repo.Tags(ctx, "", func(page []string) error {
		if len(page) > 2 {
			t.Errorf("tag page %v is larger than n=2", page)
		}
		tags = append(tags, page...)
		return nil
	}); err != nil {
		t.Fatalf("Tags() error = %v", err)
	}
	if want := []string{"latest", "stable", "v1", "v2", "v3"}; !slices.Equal(tags, want) {
		t.Errorf("Tags() = %v, want %v", tags, want)
	}

	// Resolve and fetch round trip.
	desc, err := repo.Resolve(ctx, "v2")
	if err != nil || desc.Digest != subject.Digest {
		t.Errorf("Resolve(v2) = %v, %v, want %s", desc.Digest, err, subject.Digest)
	}
	if err := repo.Delete(ctx, sig); err != nil {
		t.Fatalf("Delete(sig) error = %v", err)
	}
	if got := referrers(""); len(got) != 1 || got[0].Digest != sbom.Digest {
		t.Errorf("Referrers() after deleting the signature = %+v, want the sbom", got)
	}
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		t.Fatalf("ParseReference(%q) error = %v", s, err)
	}
	return ref
}

func wantDigest(t *testing.T, want, got v1.Image) {
	t.Helper()
	wd, err := want.Digest()
	if err != nil {
		t.Fatal(err)
	}
	gd, err := got.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if wd != gd {
		t.Errorf("digest = %s, want %s", gd, wd)
	}
}
