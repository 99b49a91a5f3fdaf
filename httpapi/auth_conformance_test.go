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
	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/policy/authn"
	"github.com/berth-dev/berth/policy/rego"
	"github.com/berth-dev/berth/registry"
	"github.com/berth-dev/berth/storage/memory"
)

// TestConformanceServerAuth is TestConformanceServer with authentication:
// static credentials BERTH_CONFORMANCE_USERNAME and
// BERTH_CONFORMANCE_PASSWORD (the conformance suite's OCI_USERNAME and
// OCI_PASSWORD) for a principal that a rego identity policy allows
// everything, and nobody else. With BERTH_CONFORMANCE_TOKEN_FLOW=1 it
// serves the Docker token flow at /token; otherwise Basic only. It is
// skipped unless BERTH_CONFORMANCE_AUTH_ADDR is set:
//
//	BERTH_CONFORMANCE_AUTH_ADDR=127.0.0.1:5056 BERTH_CONFORMANCE_USERNAME=ci BERTH_CONFORMANCE_PASSWORD=0123456789abcdef \
//	  go test -timeout 0 -run TestConformanceServerAuth ./httpapi &
//	env $(cat httpapi/testdata/conformance.env | xargs) OCI_REGISTRY=127.0.0.1:5056 \
//	  OCI_USERNAME=ci OCI_PASSWORD=0123456789abcdef conformance
func TestConformanceServerAuth(t *testing.T) {
	addr := os.Getenv("BERTH_CONFORMANCE_AUTH_ADDR")
	if addr == "" {
		t.Skip("BERTH_CONFORMANCE_AUTH_ADDR not set")
	}
	user, pass := os.Getenv("BERTH_CONFORMANCE_USERNAME"), os.Getenv("BERTH_CONFORMANCE_PASSWORD")
	d := 10 * time.Minute
	if v := os.Getenv("BERTH_CONFORMANCE_DURATION"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			t.Fatalf("BERTH_CONFORMANCE_DURATION: %v", err)
		}
	}
	creds := authn.NewCredentials()
	if err := creds.Add(user, pass, policy.Principal{ID: "conformance", Name: "conformance"}); err != nil {
		t.Fatal(err)
	}
	tokens, err := authn.NewTokenService(authn.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	authz, err := rego.New(context.Background(), rego.Options{IdentityPolicies: map[string][]string{
		"arn:aws:iam::000000000000:user/conformance": {`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]}`},
	}})
	if err != nil {
		t.Fatal(err)
	}
	store := memory.New()
	defer store.Close()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	reg, err := registry.New(store, registry.WithLogger(log), registry.WithAuthorizer(authz))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	opts := []httpapi.Option{httpapi.WithAuthenticator(httpapi.BasicAuthenticator(creds, tokens))}
	if os.Getenv("BERTH_CONFORMANCE_TOKEN_FLOW") == "1" {
		opts = append(opts, httpapi.WithTokenEndpoint("/token", tokens, "", "berth"))
	}
	h, err := httpapi.New(reg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/v2/", h)
	mux.Handle("/token", h)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Logf("serving the OCI distribution API with authentication on http://%s for %s", ln.Addr(), d)

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
