package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// discardWriter is a ResponseWriter that keeps nothing, so that benchmarks
// measure the handler and not a recorder.
type discardWriter struct {
	hdr  http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.hdr }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }

func benchServe(b *testing.B, h http.Handler, method, target string) {
	u, err := url.Parse(target)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := &http.Request{Method: method, URL: u, Header: http.Header{}, Body: http.NoBody}
		req = req.WithContext(b.Context())
		w := &discardWriter{hdr: http.Header{}}
		for pb.Next() {
			clear(w.hdr)
			w.code = 0
			h.ServeHTTP(w, req)
			if w.code != http.StatusOK {
				b.Fatalf("%s %s = %d", method, target, w.code)
			}
		}
	})
}

// trivialHandler is the baseline: it writes a small body with headers.
var trivialHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, "{}")
})

func BenchmarkTrivial(b *testing.B) {
	benchServe(b, trivialHandler, http.MethodGet, "/v2/")
}

func BenchmarkManifestGetByTag(b *testing.B) {
	f := newFixture(b)
	benchServe(b, f.srv.Config.Handler, http.MethodGet, "/v2/test/repo/manifests/latest")
}

func BenchmarkManifestGetByDigest(b *testing.B) {
	f := newFixture(b)
	benchServe(b, f.srv.Config.Handler, http.MethodGet, f.expand("/v2/test/repo/manifests/{manifest}"))
}

func BenchmarkManifestHead(b *testing.B) {
	f := newFixture(b)
	benchServe(b, f.srv.Config.Handler, http.MethodHead, "/v2/test/repo/manifests/latest")
}

func BenchmarkBlobHead(b *testing.B) {
	f := newFixture(b)
	benchServe(b, f.srv.Config.Handler, http.MethodHead, f.expand("/v2/test/repo/blobs/{layer}"))
}

// BenchmarkHTTP compares a manifest GET with the trivial handler over
// loopback HTTP, where the network and net/http dominate.
func BenchmarkHTTP(b *testing.B) {
	f := newFixture(b)
	for _, bc := range []struct {
		name string
		h    http.Handler
		path string
	}{
		{"trivial", trivialHandler, "/v2/"},
		{"manifest", f.srv.Config.Handler, "/v2/test/repo/manifests/latest"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv := httptest.NewServer(bc.h)
			defer srv.Close()
			tr := &http.Transport{MaxIdleConnsPerHost: 64}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Get(srv.URL + bc.path)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
		})
	}
}
