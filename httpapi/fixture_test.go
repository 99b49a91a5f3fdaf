package httpapi_test

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/httpapi"
	"github.com/berth-dev/berth/registry"
	"github.com/berth-dev/berth/storage"
	"github.com/berth-dev/berth/storage/memory"
)

// Limits of the test registry, small enough to test cheaply.
const (
	testMaxBlobSize     = 64 << 10
	testMaxManifestSize = 1 << 20
)

// fixture is a registry with known content behind an httptest.Server:
//
//	test/repo   config, layer and sha512 blobs; an image manifest tagged
//	            latest and v1; an artifact (type application/vnd.example.sig)
//	            whose subject is the image; an upload session holding "hello"
//	test/other  empty
type fixture struct {
	reg   *registry.Registry
	store storage.Storage
	srv   *httptest.Server
	// vars are the placeholders of test rows: {manifest}, {layer}, ...
	vars map[string]string
}

const (
	repo      = "test/repo"
	otherRepo = "test/other"
	sigType   = "application/vnd.example.sig"
)

var (
	configBytes = []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	layerBytes  = []byte("0123456789abcdefghijklmnopqrstuvwxyz")
	sha512Bytes = []byte("a blob addressed by sha512")
)

func newFixture(t testing.TB, opts ...registry.Option) *fixture {
	t.Helper()
	ctx := context.Background()
	store := memory.New()
	t.Cleanup(func() { store.Close() })
	opts = append([]registry.Option{
		registry.WithMaxBlobSize(testMaxBlobSize),
		registry.WithMaxManifestSize(testMaxManifestSize),
	}, opts...)
	reg, err := registry.New(store, opts...)
	if err != nil {
		t.Fatalf("registry.New() error = %v", err)
	}
	t.Cleanup(func() { reg.Close() })
	h, err := httpapi.New(reg, httpapi.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatalf("httpapi.New() error = %v", err)
	}
	f := &fixture{reg: reg, store: store, srv: httptest.NewServer(h), vars: map[string]string{}}
	t.Cleanup(f.srv.Close)

	push := func(r string, b []byte, alg digest.Algorithm) ocispec.Descriptor {
		t.Helper()
		desc, err := reg.PushBlob(ctx, r, alg.FromBytes(b), bytes.NewReader(b))
		if err != nil {
			t.Fatalf("PushBlob() error = %v", err)
		}
		return desc
	}
	config := push(repo, configBytes, digest.SHA256)
	layer := push(repo, layerBytes, digest.SHA256)
	s512 := push(repo, sha512Bytes, digest.SHA512)
	if _, err := reg.CreateRepository(ctx, registry.CreateRepositoryInput{Name: otherRepo}); err != nil {
		t.Fatalf("CreateRepository() error = %v", err)
	}

	manifest := imageManifest(config.Digest, int64(len(configBytes)), layer.Digest, int64(len(layerBytes)), nil)
	img, err := reg.PutImage(ctx, registry.PutImageInput{Repository: repo, Manifest: manifest, Tag: "latest", Tags: []string{"v1"}})
	if err != nil {
		t.Fatalf("PutImage(image) error = %v", err)
	}
	artifact := artifactManifest(sigType, img.Descriptor, "signed")
	art, err := reg.PutImage(ctx, registry.PutImageInput{Repository: repo, Manifest: artifact})
	if err != nil {
		t.Fatalf("PutImage(artifact) error = %v", err)
	}
	up, err := reg.StartUpload(ctx, repo)
	if err != nil {
		t.Fatalf("StartUpload() error = %v", err)
	}
	if _, err := reg.WriteUpload(ctx, repo, up.ID, 0, strings.NewReader("hello")); err != nil {
		t.Fatalf("WriteUpload() error = %v", err)
	}
	otherUp, err := reg.StartUpload(ctx, otherRepo)
	if err != nil {
		t.Fatalf("StartUpload() error = %v", err)
	}

	f.vars = map[string]string{
		"{config}":          config.Digest.String(),
		"{configSize}":      strconv.Itoa(len(configBytes)),
		"{layer}":           layer.Digest.String(),
		"{layerSize}":       strconv.Itoa(len(layerBytes)),
		"{sha512blob}":      s512.Digest.String(),
		"{manifest}":        img.Descriptor.Digest.String(),
		"{manifestSize}":    strconv.Itoa(len(manifest)),
		"{artifact}":        art.Descriptor.Digest.String(),
		"{upload}":          up.ID,
		"{otherUpload}":     otherUp.ID,
		"{hello}":           digest.FromString("hello").String(),
		"{helloWorld}":      digest.FromString("hello world").String(),
		"{helloWorld512}":   digest.SHA512.FromString("hello world").String(),
		"{unknownDigest}":   digest.FromString("not stored anywhere").String(),
		"{unknownSha512}":   digest.SHA512.FromString("not stored anywhere").String(),
		"{emptyDigest}":     digest.FromBytes(nil).String(),
		"{sha512OfLayer}":   "sha512:" + hexSHA512(layerBytes),
		"{manifestPayload}": string(manifest),
	}
	return f
}

func hexSHA512(b []byte) string {
	s := sha512.Sum512(b)
	return hex.EncodeToString(s[:])
}

// expand replaces the fixture's placeholders in s.
func (f *fixture) expand(s string) string {
	if !strings.Contains(s, "{") {
		return s
	}
	pairs := make([]string, 0, 2*len(f.vars))
	for k, v := range f.vars {
		pairs = append(pairs, k, v)
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

// do sends a request to the fixture's server.
func (f *fixture) do(t testing.TB, method, url string, hdr map[string]string, body io.Reader) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+url, body)
	if err != nil {
		t.Fatalf("NewRequest(%s %s) error = %v", method, url, err)
	}
	for k, v := range hdr {
		if k == "Content-Length" {
			n, _ := strconv.ParseInt(v, 10, 64)
			req.ContentLength = n
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s error = %v", method, url, err)
	}
	return resp
}

// get sends a GET and returns the status and body.
func (f *fixture) get(t testing.TB, url string) (int, string) {
	t.Helper()
	resp := f.do(t, http.MethodGet, url, nil, nil)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// snapshot describes everything stored, to check that a refused request
// changed nothing.
func (f *fixture) snapshot(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	var repos []string
	err := f.store.WalkRepositories(ctx, "", func(r storage.Repository) error {
		repos = append(repos, r.Name)
		return nil
	})
	if err != nil {
		t.Fatalf("WalkRepositories() error = %v", err)
	}
	for _, r := range repos {
		fmt.Fprintf(&b, "repo %s\n", r)
		_ = f.store.WalkTags(ctx, r, "", func(tag string, d digest.Digest) error {
			fmt.Fprintf(&b, "  tag %s %s\n", tag, d)
			return nil
		})
		_ = f.store.WalkManifests(ctx, r, "", func(m storage.Manifest) error {
			fmt.Fprintf(&b, "  manifest %s\n", m.Digest)
			return nil
		})
		_ = f.store.WalkBlobLinks(ctx, r, func(l storage.BlobLink) error {
			fmt.Fprintf(&b, "  blob %s %d\n", l.Digest, l.Size)
			return nil
		})
	}
	_ = f.store.WalkUploads(ctx, func(u storage.Upload) error {
		fmt.Fprintf(&b, "upload %s %s %d\n", u.ID, u.Repository, u.Offset)
		return nil
	})
	if w, ok := f.store.(storage.BlobWalker); ok {
		_ = w.WalkBlobs(ctx, func(i storage.BlobInfo) error {
			fmt.Fprintf(&b, "bytes %s %d\n", i.Digest, i.Size)
			return nil
		})
	}
	return b.String()
}

// imageManifest returns an OCI image manifest with one layer.
func imageManifest(config digest.Digest, configSize int64, layer digest.Digest, layerSize int64, subject *ocispec.Descriptor) []byte {
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: config, Size: configSize},
		Layers:    []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayer, Digest: layer, Size: layerSize}},
		Subject:   subject,
	}
	b, _ := json.Marshal(m)
	return b
}

// artifactManifest returns an OCI 1.1 artifact referring to subject, with
// the empty config and no layers.
func artifactManifest(artifactType string, subject ocispec.Descriptor, note string) []byte {
	s := subject
	s.Annotations = nil
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType,
		Config:       ocispec.DescriptorEmptyJSON,
		Layers:       []ocispec.Descriptor{ocispec.DescriptorEmptyJSON},
		Subject:      &s,
		Annotations:  map[string]string{"org.example.note": note},
	}
	b, _ := json.Marshal(m)
	return b
}

// errorCodes decodes an OCI error body.
func errorCodes(body string) ([]string, error) {
	var e struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		return nil, err
	}
	var codes []string
	for _, x := range e.Errors {
		if x.Message == "" {
			return nil, fmt.Errorf("error %s has no message", x.Code)
		}
		codes = append(codes, x.Code)
	}
	if len(codes) == 0 {
		return nil, fmt.Errorf("no errors in %q", body)
	}
	return codes, nil
}

func containsAll(got []string, want ...string) bool {
	for _, w := range want {
		if !slices.Contains(got, w) {
			return false
		}
	}
	return true
}
