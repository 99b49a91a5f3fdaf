package httpapi_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/berth-dev/berth/httpapi"
	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/registry"
	"github.com/berth-dev/berth/storage/memory"
)

// switchAuthorizer allows everything until a test sets decide.
type switchAuthorizer struct {
	decide atomic.Pointer[func(policy.Input) (policy.Decision, error)]
}

func (a *switchAuthorizer) Authorize(_ context.Context, in policy.Input) (policy.Decision, error) {
	if f := a.decide.Load(); f != nil {
		return (*f)(in)
	}
	return policy.Decision{Allow: true}, nil
}

func (a *switchAuthorizer) set(f func(policy.Input) (policy.Decision, error)) { a.decide.Store(&f) }

// lockedBuffer is a log sink safe for the server's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestAuthorizationErrors(t *testing.T) {
	auth := &switchAuthorizer{}
	f := newFixture(t, registry.WithAuthorizer(auth))
	auth.set(func(policy.Input) (policy.Decision, error) { return policy.Decision{Allow: false}, nil })

	// Without a principal: 401 with a challenge.
	resp := f.do(t, http.MethodGet, "/v2/test/repo/manifests/latest", nil, nil)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET denied anonymously = %d, want 401", resp.StatusCode)
	}
	if got := resp.Header.Get("WWW-Authenticate"); got != httpapi.DefaultAuthChallenge {
		t.Errorf("WWW-Authenticate = %q, want %q", got, httpapi.DefaultAuthChallenge)
	}
	if codes, _ := errorCodes(string(body)); !containsAll(codes, "UNAUTHORIZED") {
		t.Errorf("codes = %v, want UNAUTHORIZED", codes)
	}

	// With a principal: 403.
	h, err := httpapi.New(f.reg, httpapi.WithAuthChallenge(`Bearer realm="https://auth.test/token"`))
	if err != nil {
		t.Fatal(err)
	}
	withPrincipal := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(policy.WithPrincipal(r.Context(), &policy.Principal{ID: "bob"})))
	})
	rec := httptest.NewRecorder()
	withPrincipal.ServeHTTP(rec, httptest.NewRequest(http.MethodPut, "/v2/test/repo/manifests/latest", strings.NewReader("{}")))
	if rec.Code != http.StatusForbidden {
		t.Fatalf("PUT denied for a principal = %d, want 403", rec.Code)
	}
	if codes, _ := errorCodes(rec.Body.String()); !containsAll(codes, "DENIED") {
		t.Errorf("codes = %v, want DENIED", codes)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/v2/test/repo/blobs/"+f.vars["{layer}"], nil))
	if rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") != `Bearer realm="https://auth.test/token"` || rec.Body.Len() != 0 {
		t.Errorf("HEAD denied = %d %q %q, want 401 with the configured challenge and no body", rec.Code, rec.Header().Get("WWW-Authenticate"), rec.Body)
	}
}

func TestServerFaults(t *testing.T) {
	auth := &switchAuthorizer{}
	store := memory.New()
	t.Cleanup(func() { store.Close() })
	reg, err := registry.New(store, registry.WithAuthorizer(auth))
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	h, err := httpapi.New(reg, httpapi.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}

	// A failing policy engine is a server fault: 500, logged, with a
	// message that does not leak the cause.
	auth.set(func(policy.Input) (policy.Decision, error) {
		return policy.Decision{}, errors.New("policy engine on fire")
	})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v2/test/repo/tags/list", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("GET with a failing authorizer = %d, want 500", rec.Code)
	}
	if codes, _ := errorCodes(rec.Body.String()); !containsAll(codes, "UNKNOWN") || strings.Contains(rec.Body.String(), "fire") {
		t.Errorf("body = %s, want UNKNOWN without the cause", rec.Body)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "policy engine on fire") {
		t.Errorf("log = %q, want the fault at error level", logs.String())
	}

	// A panic below the handler is recovered as a 500 and logged.
	auth.set(func(policy.Input) (policy.Decision, error) { panic("boom") })
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v2/test/repo/manifests/latest", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("GET with a panicking authorizer = %d, want 500", rec.Code)
	}
	if !strings.Contains(logs.String(), "panic") {
		t.Errorf("log = %q, want the panic", logs.String())
	}

	// A client mistake is not logged as an error; a canceled request is
	// logged at debug level only.
	auth.set(func(policy.Input) (policy.Decision, error) { return policy.Decision{Allow: true}, nil })
	before := strings.Count(logs.String(), "level=ERROR")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v2/test/repo/manifests/-bad", nil))
	if rec.Code != http.StatusBadRequest {
		t.Errorf("GET bad tag = %d, want 400", rec.Code)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v2/test/repo/manifests/latest", nil).WithContext(ctx))
	if rec.Code < 400 || rec.Code >= 500 {
		t.Errorf("canceled GET = %d, want a non-5xx error", rec.Code)
	}
	if after := strings.Count(logs.String(), "level=ERROR"); after != before {
		t.Errorf("client errors were logged at error level:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "request canceled") {
		t.Errorf("log = %q, want the canceled request at debug level", logs.String())
	}
}

// TestUploadBodyBreaksOff checks that a client that stops sending in the
// middle of a chunk gets a 4xx and leaves the upload as it was.
func TestUploadBodyBreaksOff(t *testing.T) {
	f := newFixture(t)
	before := f.snapshot(t)
	h := f.srv.Config.Handler
	req := httptest.NewRequest(http.MethodPatch, f.expand("/v2/test/repo/blobs/uploads/{upload}"), io.MultiReader(strings.NewReader(" wor"), errReader{}))
	req.ContentLength = -1
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("PATCH with a broken body = %d %s, want 400", rec.Code, rec.Body)
	}
	if codes, _ := errorCodes(rec.Body.String()); !containsAll(codes, "BLOB_UPLOAD_INVALID") {
		t.Errorf("codes = %v, want BLOB_UPLOAD_INVALID", codes)
	}
	if after := f.snapshot(t); after != before {
		t.Errorf("broken chunk changed the store:\n%s\n%s", before, after)
	}
	wantStatus(t, f, "/v2/test/repo/blobs/uploads/{upload}", http.StatusNoContent)
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }
