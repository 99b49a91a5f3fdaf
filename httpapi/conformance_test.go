package httpapi_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"testing"
	"time"

	"github.com/berth-dev/berth/httpapi"
	"github.com/berth-dev/berth/registry"
	"github.com/berth-dev/berth/storage/memory"
)

// TestConformanceServer serves an empty memory registry for the OCI
// distribution-spec conformance suite. It is skipped unless
// BERTH_CONFORMANCE_ADDR is set; it then listens there and serves until
// BERTH_CONFORMANCE_DURATION (a time.Duration, default 10m) has passed or
// the process is interrupted. CI runs:
//
//	BERTH_CONFORMANCE_ADDR=127.0.0.1:5055 go test -timeout 0 -run TestConformanceServer ./httpapi &
//	env $(cat httpapi/testdata/conformance.env | xargs) conformance
//
// with the conformance binary built from
// github.com/opencontainers/distribution-spec/conformance; the address in
// conformance.env (OCI_REGISTRY) must match.
func TestConformanceServer(t *testing.T) {
	addr := os.Getenv("BERTH_CONFORMANCE_ADDR")
	if addr == "" {
		t.Skip("BERTH_CONFORMANCE_ADDR not set")
	}
	d := 10 * time.Minute
	if v := os.Getenv("BERTH_CONFORMANCE_DURATION"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			t.Fatalf("BERTH_CONFORMANCE_DURATION: %v", err)
		}
	}
	store := memory.New()
	defer store.Close()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	reg, err := registry.New(store, registry.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	h, err := httpapi.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/v2/", h)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Logf("serving the OCI distribution API on http://%s for %s", ln.Addr(), d)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	select {
	case <-ctx.Done():
	case <-time.After(d):
	case err := <-done:
		t.Fatalf("Serve() error = %v", err)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown() error = %v", err)
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve() error = %v", err)
	}
}
