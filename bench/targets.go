package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	ggcr "github.com/google/go-containerregistry/pkg/registry"
	"github.com/sirupsen/logrus"
)

// Target names.
const (
	tBerth        = "berth"
	tBerthAuth    = "berth-auth"
	tBerthScan    = "berth-scan"
	tDistribution = "distribution"
	tGGCR         = "ggcr"
	tGGCRDisk     = "ggcr-disk"
	tTrivial      = "trivial"
)

// allTargets is the order targets run and are reported in.
var allTargets = []string{tBerth, tBerthAuth, tBerthScan, tDistribution, tGGCR, tGGCRDisk, tTrivial}

// targetInfo describes a target for the report.
var targetInfo = map[string]string{
	tBerth:        "Berth: registry.New(badgerstore.New(Options{Dir})) + httpapi.New, durable defaults (fsync)",
	tBerthAuth:    "the same Berth with security on: Basic authentication with a static access key on every request, rego Authorizer with a repository policy on each repository (allow for the user, a deny for another user, a NotIpAddress deny) and an identity policy, default decision cache. It runs only the authenticated workloads, paired with berth",
	tDistribution: "CNCF Distribution " + distributionVersion + ": handlers.NewApp, filesystem driver (fsyncs file and directory), delete enabled, in-memory blob descriptor cache (as in its shipped config.yml)",
	tGGCR:         "go-containerregistry " + ggcrVersion + " pkg/registry: registry.New(), everything in memory (no durability)",
	tGGCRDisk:     "go-containerregistry " + ggcrVersion + " pkg/registry with WithBlobHandler(NewDiskBlobHandler(dir)): blobs in files without fsync, manifests in memory",
	tBerthScan:    "the same Berth with scan on push: the built-in OSV scanner (default workers: 1 on 2 CPUs) on a registry scanning rule for the scan workload's repository, SBOM and report attachments on. It runs only the scan workload, paired with berth",
	tTrivial:      "trivial handlers: (a) sha256 + write + fsync, (b) http.ServeContent from the file, (c) manifests from a map (PUT: + file with fsync), (d) precomputed tag-list JSON",
}

// Versions of the peers, as pinned in go.mod.
const (
	distributionVersion = "v3.1.2"
	ggcrVersion         = "v0.22.1"
)

// isRegistry tells real registries from the trivial bound.
func isRegistry(name string) bool { return name != tTrivial }

// newHandler builds a target's HTTP handler over a fresh directory. close
// releases what the handler holds.
func newHandler(name, dir string) (h http.Handler, closeFn func() error, err error) {
	noop := func() error { return nil }
	switch name {
	case tBerth:
		return newBerthHandler(dir)
	case tBerthAuth:
		return newBerthAuthHandler(dir)
	case tBerthScan:
		return newBerthScanHandler(dir)
	case tDistribution:
		h, err := newDistribution(dir)
		return h, noop, err
	case tGGCR:
		return ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0))), noop, nil
	case tGGCRDisk:
		blobs := filepath.Join(dir, "blobs")
		if err := os.MkdirAll(blobs, 0o755); err != nil {
			return nil, nil, err
		}
		return ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0)), ggcr.WithBlobHandler(ggcr.NewDiskBlobHandler(blobs))), noop, nil
	case tTrivial:
		t := newTrivialHandler(dir)
		if err := t.init(); err != nil {
			return nil, nil, err
		}
		return t, noop, nil
	}
	return nil, nil, fmt.Errorf("unknown target %q", name)
}

// newDistribution embeds CNCF Distribution in-process on the filesystem
// driver rooted at dir.
func newDistribution(dir string) (http.Handler, error) {
	// Distribution logs every request through logrus, and every 404 (a
	// client's HEAD before a push) as an error; the bench reports failures
	// itself.
	logrus.SetLevel(logrus.PanicLevel)
	logrus.SetOutput(io.Discard)
	config := &configuration.Configuration{
		Version: "0.1",
		Storage: configuration.Storage{
			"filesystem":  configuration.Parameters{"rootdirectory": dir},
			"delete":      configuration.Parameters{"enabled": true},
			"cache":       configuration.Parameters{"blobdescriptor": "inmemory"},
			"maintenance": configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}},
		},
	}
	config.Log.Level = "warn"
	config.Log.AccessLog.Disabled = true
	config.HTTP.Secret = "berth-bench-secret"
	config.HTTP.Headers = http.Header{"X-Content-Type-Options": []string{"nosniff"}}
	return handlers.NewApp(context.Background(), config), nil
}

// target is a running server under test.
type target struct {
	name  string
	url   string
	c     *client
	stop  func()
	dir   string
	child *child // set when the target runs in a separate process
}

// startTarget serves a target with httptest on 127.0.0.1.
func startTarget(name, root string, hc *http.Client) (*target, error) {
	dir, err := os.MkdirTemp(root, name+"-*")
	if err != nil {
		return nil, err
	}
	h, closeFn, err := newHandler(name, dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	t := &target{name: name, url: srv.URL, dir: dir}
	t.stop = func() {
		srv.Close()
		if err := closeFn(); err != nil {
			log.Printf("%s: close: %v", name, err)
		}
		os.RemoveAll(dir)
	}
	if err := t.connect(hc); err != nil {
		t.stop()
		return nil, err
	}
	return t, nil
}

// connect makes the target's client and probes its capabilities.
func (t *target) connect(hc *http.Client) error {
	c, err := newClient(hc, t.url)
	if err != nil {
		return err
	}
	c.auth = authHeader(t.name)
	t.c = c
	single, err := c.probeSinglePOST(repoProbe)
	if err != nil {
		return fmt.Errorf("%s: probe: %w", t.name, err)
	}
	c.singlePOST = single
	return nil
}
