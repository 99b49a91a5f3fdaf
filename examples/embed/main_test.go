package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/berth-dev/berth/registry"
	"github.com/berth-dev/berth/storage/memory"
)

func TestApp(t *testing.T) {
	store := memory.New()
	t.Cleanup(func() { _ = store.Close() })
	reg, err := registry.New(store)
	if err != nil {
		t.Fatalf("registry.New() error = %v", err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	app, err := newApp(reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("newApp() error = %v", err)
	}
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)

	// The app's own routes still work next to the registry.
	for path, want := range map[string]string{"/healthz": "ok", "/hello": "hello"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatalf("GET %s error = %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), want) {
			t.Errorf("GET %s = %d %q, want 200 %q…", path, resp.StatusCode, body, want)
		}
	}

	// Push and pull an image through /v2/.
	img, err := random.Image(1024, 3)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/demo/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("remote.Write() error = %v", err)
	}
	got, err := remote.Image(ref)
	if err != nil {
		t.Fatalf("remote.Image() error = %v", err)
	}
	if err := validate.Image(got); err != nil {
		t.Errorf("validate.Image() error = %v", err)
	}
	gotDigest, _ := got.Digest()
	wantDigest, _ := img.Digest()
	if gotDigest != wantDigest {
		t.Errorf("pulled digest = %s, want %s", gotDigest, wantDigest)
	}
}
