// Command server runs a standalone Berth registry on the embedded default
// storage: metadata in badger and blob bytes in files, under one directory.
//
//	go run ./examples/server                      # 127.0.0.1:5000, data in ./data
//	go run ./examples/server -addr :5000 -data /var/lib/berth
//
// With -credentials (a JSON file of access keys, see package authn) and
// -policies (IAM JSON documents and Rego modules, see auth.go), nothing is
// readable or writable without a principal and an allowing policy; clients
// log in with Basic auth (an access key, or user AWS and a token from
// POST /ecr/authorization-token) or the bearer-token flow at /token; both
// token endpoints need ecr:GetAuthorizationToken (for example an identity
// policy allowing it on Resource "*"), as in ECR. With neither flag, the
// registry is open and listens on loopback only.
//
// It serves the OCI distribution API under /v2/ over plain HTTP, logs to
// stderr, and on SIGINT or SIGTERM stops accepting requests, waits for the
// ones in flight (up to -shutdown-timeout), then closes the registry and
// the store.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/berth-dev/berth/httpapi"
	"github.com/berth-dev/berth/registry"
	"github.com/berth-dev/berth/storage/badgerstore"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:5000", "listen address (host:port; port 0 picks a free one)")
	data := flag.String("data", "./data", "data directory (created if missing)")
	timeout := flag.Duration("shutdown-timeout", 30*time.Second, "how long to wait for requests in flight on shutdown")
	debug := flag.Bool("debug", false, "log at debug level")
	creds := flag.String("credentials", "", "JSON file of access keys; turns on authentication")
	policies := flag.String("policies", "", "JSON file of IAM policy documents and Rego modules (needs -credentials)")
	flag.Parse()

	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, *addr, *data, *timeout, *creds, *policies); err != nil {
		log.Error("registry failed", "err", err)
		os.Exit(1)
	}
	log.Info("stopped")
}

// run serves until ctx is done, then shuts down gracefully.
func run(ctx context.Context, log *slog.Logger, addr, data string, timeout time.Duration, credsPath, policiesPath string) (err error) {
	sec, err := loadSecurity(ctx, log, credsPath, policiesPath)
	if err != nil {
		return err
	}
	if sec == nil && !loopback(addr) {
		return fmt.Errorf("refusing to serve an open registry on %s: give -credentials, or listen on loopback", addr)
	}
	dir, err := filepath.Abs(data)
	if err != nil {
		return err
	}
	store, err := badgerstore.New(badgerstore.Options{Dir: dir, Logger: log})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, store.Close()) }()

	regOpts := []registry.Option{registry.WithLogger(log)}
	apiOpts := []httpapi.Option{httpapi.WithLogger(log)}
	if sec != nil {
		regOpts = append(regOpts, registry.WithAuthorizer(sec.authorizer))
		apiOpts = append(apiOpts, sec.httpOptions()...)
	}
	reg, err := registry.New(store, regOpts...)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, reg.Close()) }()

	api, err := httpapi.New(reg, apiOpts...)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/v2/", api)
	if sec != nil {
		mux.Handle("/token", api)
		mux.Handle("/ecr/authorization-token", authorizationTokenHandler(reg, sec))
		log.Info("authentication on", "credentials", credsPath, "policies", policiesPath)
	} else {
		log.Warn("no -credentials: the registry is open to anyone who can reach it (loopback only)")
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("listening", "addr", ln.Addr().String(), "data", dir)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	log.Info("shutting down", "timeout", timeout)
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// loopback reports whether addr listens on a loopback address only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
