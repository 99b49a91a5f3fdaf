// Command embed shows a Berth registry inside an existing application: the
// app keeps its own routes and its own http.Server, and mounts the registry's
// OCI distribution API at /v2/.
//
//	go run ./examples/embed                 # 127.0.0.1:8080, memory storage
//	curl http://127.0.0.1:8080/healthz
//	crane push image.tar 127.0.0.1:8080/demo/app:v1
//
// With -data the registry keeps its content in that directory (badger).
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
	"syscall"
	"time"

	"github.com/berth-dev/berth/httpapi"
	"github.com/berth-dev/berth/registry"
	"github.com/berth-dev/berth/storage"
	"github.com/berth-dev/berth/storage/badgerstore"
	"github.com/berth-dev/berth/storage/memory"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	data := flag.String("data", "", "data directory; empty keeps everything in memory")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, *addr, *data); err != nil {
		log.Error("app failed", "err", err)
		os.Exit(1)
	}
	log.Info("stopped")
}

func run(ctx context.Context, log *slog.Logger, addr, data string) (err error) {
	store, err := openStore(data, log)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, store.Close()) }()

	reg, err := registry.New(store, registry.WithLogger(log))
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, reg.Close()) }()

	handler, err := newApp(reg, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 30 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "registry", "http://"+ln.Addr().String()+"/v2/")

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// openStore keeps everything in memory, or under dir if one is given.
func openStore(dir string, log *slog.Logger) (storage.Storage, error) {
	if dir == "" {
		return memory.New(), nil
	}
	return badgerstore.New(badgerstore.Options{Dir: dir, Logger: log})
}

// newApp returns the application's routes with the registry mounted at
// /v2/. Everything else belongs to the app.
func newApp(reg *registry.Registry, log *slog.Logger) (http.Handler, error) {
	api, err := httpapi.New(reg, httpapi.WithLogger(log))
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/v2/", api)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello from the app; images live under /v2/")
	})
	return mux, nil
}
