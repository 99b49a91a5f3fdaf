package registrytest_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/berth-dev/berth/registry/registrytest"
)

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []registrytest.Option
	}{
		{"memory", nil},
		{"badger", []registrytest.Option{registrytest.WithBadger()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := registrytest.New(t, tc.opts...)
			if !strings.HasPrefix(reg.Host(), "127.0.0.1:") {
				t.Errorf("Host() = %q, want 127.0.0.1:port", reg.Host())
			}
			if reg.URL() != "http://"+reg.Host() {
				t.Errorf("URL() = %q, want http://%s", reg.URL(), reg.Host())
			}
			if reg.Registry == nil || reg.Storage == nil || reg.Handler == nil {
				t.Fatalf("New() left a field nil: %+v", reg)
			}
			resp, err := reg.Client().Get(reg.URL() + "/v2/")
			if err != nil {
				t.Fatalf("GET /v2/ error = %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET /v2/ = %d, want 200", resp.StatusCode)
			}
		})
	}
}

func TestBadgerDirReopen(t *testing.T) {
	dir := t.TempDir()
	first, err := registrytest.Start(registrytest.WithBadgerDir(dir))
	if err != nil {
		t.Fatalf("Start() error = %v", err)
	}
	st, err := first.Registry.StartUpload(t.Context(), "reopen/repo")
	if err != nil {
		t.Fatalf("StartUpload() error = %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	if err := first.Close(); err != nil {
		t.Errorf("second Close() error = %v", err)
	}

	second := registrytest.New(t, registrytest.WithBadgerDir(dir))
	if _, err := second.Registry.UploadStatus(t.Context(), "reopen/repo", st.ID); err != nil {
		t.Errorf("UploadStatus() after reopen error = %v", err)
	}
}

func TestMiddleware(t *testing.T) {
	var hits atomic.Int32
	reg := registrytest.New(t, registrytest.WithMiddleware(func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			h.ServeHTTP(w, r)
		})
	}))
	resp, err := reg.Client().Get(reg.URL() + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := hits.Load(); n != 1 {
		t.Errorf("middleware saw %d requests, want 1", n)
	}
}

// BenchmarkNew measures what one registry per test costs: start a server,
// then shut it down and release its storage.
func BenchmarkNew(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts func(b *testing.B) []registrytest.Option
	}{
		{"memory", func(*testing.B) []registrytest.Option { return nil }},
		{"badger", func(b *testing.B) []registrytest.Option {
			return []registrytest.Option{registrytest.WithBadgerDir(b.TempDir())}
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				opts := bc.opts(b)
				b.StartTimer()
				reg, err := registrytest.Start(opts...)
				if err != nil {
					b.Fatal(err)
				}
				if err := reg.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
