package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/httpapi"
	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/registry"
	"github.com/berth-dev/berth/scan"
	"github.com/berth-dev/berth/storage"
	"github.com/berth-dev/berth/storage/badgerstore"
	"github.com/berth-dev/berth/storage/memory"
)

// fakeScanner is a deterministic scan.Scanner, scan.Rematcher and
// scan.DatabaseVersioner. It reads the manifest and every layer through
// the ContentReader (counting layer reads), then reports the findings
// scripted for the image's config blob content, or for the database
// version. Scans can be held until release.
type fakeScanner struct {
	mu       sync.Mutex
	version  string
	byLayer  map[digest.Digest]scan.Report // scripted report by first layer digest
	findings func(version string, inv scan.Inventory) []scan.Finding
	err      error
	panics   bool
	hold     chan struct{} // if non-nil, scans wait for it to close
	started  chan digest.Digest

	scans      atomic.Int64
	layerReads atomic.Int64
	rematches  atomic.Int64
	active     atomic.Int64
	maxActive  atomic.Int64
}

func newFakeScanner() *fakeScanner {
	return &fakeScanner{version: "2026-03-01T00:00:00Z", byLayer: map[digest.Digest]scan.Report{}, started: make(chan digest.Digest, 1024)}
}

func (f *fakeScanner) setVersion(v string) {
	f.mu.Lock()
	f.version = v
	f.mu.Unlock()
}

func (f *fakeScanner) DatabaseVersion() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.version
}

func (f *fakeScanner) Scan(ctx context.Context, req scan.Request) (scan.Report, error) {
	f.scans.Add(1)
	n := f.active.Add(1)
	defer f.active.Add(-1)
	for {
		m := f.maxActive.Load()
		if n <= m || f.maxActive.CompareAndSwap(m, n) {
			break
		}
	}
	select {
	case f.started <- req.Manifest.Digest:
	default:
	}
	f.mu.Lock()
	hold, ferr, panics := f.hold, f.err, f.panics
	f.mu.Unlock()
	if panics {
		panic("index out of range in a hostile tar header")
	}
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return scan.Report{}, ctx.Err()
		}
	}
	if ferr != nil {
		return scan.Report{}, ferr
	}
	b, mt, err := req.Content.ReadManifest(ctx, req.Manifest.Digest)
	if err != nil {
		return scan.Report{}, err
	}
	if mt != ocispec.MediaTypeImageManifest {
		return scan.Report{Status: scan.StatusUnsupportedImage, Description: "not an image: " + mt}, nil
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return scan.Report{Status: scan.StatusFailed, Description: err.Error()}, nil
	}
	inv := scan.Inventory{OS: &scan.OS{ID: "debian", VersionID: "12"}}
	for _, l := range m.Layers {
		rc, err := req.Content.OpenBlob(ctx, l.Digest)
		if err != nil {
			return scan.Report{}, err
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil || n != l.Size {
			return scan.Report{}, fmt.Errorf("layer %s: %d bytes, %v", l.Digest, n, err)
		}
		f.layerReads.Add(1)
		inv.Packages = append(inv.Packages, scan.Package{Name: "pkg-" + l.Digest.Encoded()[:8], Version: "1.0", Layer: l.Digest})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(m.Layers) > 0 {
		if rep, ok := f.byLayer[m.Layers[0].Digest]; ok {
			rep.Inventory = &inv
			return rep, nil
		}
	}
	rep := scan.Report{Inventory: &inv}
	if f.findings != nil {
		rep.Findings = f.findings(f.version, inv)
	}
	return rep, nil
}

func (f *fakeScanner) Rematch(_ context.Context, inv scan.Inventory) (scan.Report, error) {
	f.rematches.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	rep := scan.Report{DatabaseVersion: f.version}
	if f.findings != nil {
		rep.Findings = f.findings(f.version, inv)
	}
	return rep, nil
}

// holdScans makes scans wait until the returned function is called.
func (f *fakeScanner) holdScans() (release func()) {
	ch := make(chan struct{})
	f.mu.Lock()
	f.hold = ch
	f.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			f.hold = nil
			f.mu.Unlock()
			close(ch)
		})
	}
}

// scanEnv is a registry with a fake scanner and a channel of completed
// scans.
type scanEnv struct {
	reg   *registry.Registry
	store storage.Storage
	sc    *fakeScanner
	done  chan registry.Event
}

func newScanEnv(t *testing.T, store storage.Storage, opts ...registry.Option) *scanEnv {
	t.Helper()
	e := &scanEnv{store: store, sc: newFakeScanner(), done: make(chan registry.Event, 4096)}
	opts = append([]registry.Option{
		// The SBOM and report attachments are tested on their own
		// (scan_attach_test.go); here they would only add images.
		registry.WithScanAttachments(false),
		registry.WithScanner(e.sc),
		registry.WithListener(registry.ListenerFunc(func(_ context.Context, ev registry.Event) {
			if ev.Kind == registry.EventImageScanCompleted {
				e.done <- ev
			}
		})),
	}, opts...)
	reg, err := registry.New(store, opts...)
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	e.reg = reg
	t.Cleanup(func() { reg.Close() })
	return e
}

func (e *scanEnv) start(t *testing.T) {
	t.Helper()
	if err := e.reg.StartScanning(context.Background()); err != nil {
		t.Fatalf("StartScanning() error = %v", err)
	}
}

// wait returns the next n completed-scan events.
func (e *scanEnv) wait(t *testing.T, n int) []registry.Event {
	t.Helper()
	var evs []registry.Event
	timeout := time.After(20 * time.Second)
	for len(evs) < n {
		select {
		case ev := <-e.done:
			evs = append(evs, ev)
		case <-timeout:
			t.Fatalf("got %d scan completions, want %d", len(evs), n)
		}
	}
	return evs
}

func (e *scanEnv) findings(t *testing.T, repo string, d digest.Digest) registry.DescribeImageScanFindingsOutput {
	t.Helper()
	out, err := e.reg.DescribeImageScanFindings(context.Background(), registry.DescribeImageScanFindingsInput{Repository: repo, ImageID: registry.ImageID{ImageDigest: d}, MaxResults: 1000})
	if err != nil {
		t.Fatalf("DescribeImageScanFindings(%s@%s) error = %v", repo, d, err)
	}
	return out
}

func (e *scanEnv) status(t *testing.T, repo string, d digest.Digest) string {
	t.Helper()
	out, err := e.reg.DescribeImageScanFindings(context.Background(), registry.DescribeImageScanFindingsInput{Repository: repo, ImageID: registry.ImageID{ImageDigest: d}})
	if errors.Is(err, registry.ErrScanNotFound) {
		return "none"
	}
	if err != nil {
		t.Fatalf("DescribeImageScanFindings(%s@%s) error = %v", repo, d, err)
	}
	return out.ImageScanStatus.Status
}

func createRepo(t *testing.T, reg *registry.Registry, name string, scanOnPush bool) {
	t.Helper()
	if _, err := reg.CreateRepository(context.Background(), registry.CreateRepositoryInput{Name: name, ScanOnPush: scanOnPush}); err != nil {
		t.Fatalf("CreateRepository(%s) error = %v", name, err)
	}
}

// pushScanned pushes an image whose first layer the scanner reports with
// findings.
func (e *scanEnv) push(t *testing.T, repo, tag string, findings ...scan.Finding) digest.Digest {
	t.Helper()
	var first digest.Digest
	m := image(t, e.reg, repo, func(m *ocispec.Manifest) { first = m.Layers[0].Digest })
	if findings != nil {
		e.sc.mu.Lock()
		e.sc.byLayer[first] = scan.Report{Status: scan.StatusComplete, Findings: findings}
		e.sc.mu.Unlock()
	}
	return putImage(t, e.reg, repo, tag, m).Descriptor.Digest
}

func finding(id, sev string) scan.Finding {
	return scan.Finding{ID: id, Severity: sev, Package: "openssl", InstalledVersion: "3.0.1", FixedVersion: "3.0.2"}
}

func backends(t *testing.T, fn func(t *testing.T, store storage.Storage)) {
	t.Run("memory", func(t *testing.T) {
		s := memory.New()
		t.Cleanup(func() { s.Close() })
		fn(t, s)
	})
	t.Run("badger", func(t *testing.T) {
		s, err := badgerstore.New(badgerstore.Options{Dir: t.TempDir(), NoSync: true})
		if err != nil {
			t.Fatalf("badgerstore.New() error = %v", err)
		}
		t.Cleanup(func() { s.Close() })
		fn(t, s)
	})
}

func TestScanOnPushRepositorySetting(t *testing.T) {
	backends(t, func(t *testing.T, store storage.Storage) {
		ctx := context.Background()
		e := newScanEnv(t, store)
		e.start(t)
		createRepo(t, e.reg, "team/scanned", true)
		createRepo(t, e.reg, "team/plain", false)

		d := e.push(t, "team/scanned", "v1", finding("CVE-2024-0002", scan.SeverityHigh), finding("CVE-2024-0001", scan.SeverityLow),
			finding("CVE-2024-0003", scan.SeverityCritical), finding("CVE-2024-0001", scan.SeverityHigh))
		plain := e.push(t, "team/plain", "v1")
		ev := e.wait(t, 1)[0]
		if ev.Repository != "team/scanned" || ev.Digest != d.String() || ev.ScanStatus != scan.StatusComplete ||
			ev.FindingSeverityCounts[scan.SeverityHigh] != 2 || ev.FindingSeverityCounts[scan.SeverityCritical] != 1 {
			t.Errorf("scan event = %+v", ev)
		}

		out := e.findings(t, "team/scanned", d)
		if out.ImageScanStatus.Status != scan.StatusComplete {
			t.Fatalf("status = %+v, want COMPLETE", out.ImageScanStatus)
		}
		var got []string
		for _, f := range out.ImageScanFindings.Findings {
			got = append(got, f.Severity+" "+f.ID)
		}
		want := []string{"CRITICAL CVE-2024-0003", "HIGH CVE-2024-0001", "HIGH CVE-2024-0002", "LOW CVE-2024-0001"}
		if !slices.Equal(got, want) {
			t.Errorf("findings = %q, want %q", got, want)
		}
		sum := out.ImageScanFindings.ImageScanFindingsSummary
		if sum.DatabaseVersion != "2026-03-01T00:00:00Z" || sum.VulnerabilitySourceUpdatedAt.IsZero() || sum.ImageScanCompletedAt.IsZero() {
			t.Errorf("summary = %+v", sum)
		}

		// By tag, too.
		byTag, err := e.reg.DescribeImageScanFindings(ctx, registry.DescribeImageScanFindingsInput{Repository: "team/scanned", ImageID: registry.ImageID{ImageTag: "v1"}})
		if err != nil || byTag.ImageID.ImageDigest != d {
			t.Errorf("by tag: %+v, %v", byTag.ImageID, err)
		}

		if _, err := e.reg.DescribeImageScanFindings(ctx, registry.DescribeImageScanFindingsInput{Repository: "team/plain", ImageID: registry.ImageID{ImageDigest: plain}}); !errors.Is(err, registry.ErrScanNotFound) {
			t.Errorf("unscanned image: error = %v, want ErrScanNotFound", err)
		}
		if _, err := e.reg.DescribeImageScanFindings(ctx, registry.DescribeImageScanFindingsInput{Repository: "team/plain", ImageID: registry.ImageID{ImageTag: "nope"}}); !errors.Is(err, registry.ErrManifestUnknown) {
			t.Errorf("unknown tag: error = %v, want ErrManifestUnknown", err)
		}

		// DescribeImages carries status and summary.
		di, err := e.reg.DescribeImages(ctx, registry.DescribeImagesInput{Repository: "team/scanned"})
		if err != nil || len(di.ImageDetails) != 1 {
			t.Fatalf("DescribeImages = %+v, %v", di, err)
		}
		det := di.ImageDetails[0]
		if det.ImageScanStatus == nil || det.ImageScanStatus.Status != scan.StatusComplete || det.ImageScanFindingsSummary == nil ||
			det.ImageScanFindingsSummary.FindingSeverityCounts[scan.SeverityCritical] != 1 {
			t.Errorf("ImageDetail scan = %+v %+v", det.ImageScanStatus, det.ImageScanFindingsSummary)
		}
		di, _ = e.reg.DescribeImages(ctx, registry.DescribeImagesInput{Repository: "team/plain", ImageIDs: []registry.ImageID{{ImageTag: "v1"}}})
		if len(di.ImageDetails) != 1 || di.ImageDetails[0].ImageScanStatus != nil {
			t.Errorf("unscanned ImageDetail = %+v", di.ImageDetails)
		}

		// Turning scanOnPush on through PutImageScanningConfiguration.
		if err := e.reg.PutImageScanningConfiguration(ctx, "team/plain", true); err != nil {
			t.Fatal(err)
		}
		d2 := e.push(t, "team/plain", "v2")
		if ev := e.wait(t, 1)[0]; ev.Digest != d2.String() {
			t.Errorf("scan of %s, want %s", ev.Digest, d2)
		}
		if n := e.sc.scans.Load(); n != 2 {
			t.Errorf("%d scans, want 2", n)
		}
	})
}

func TestScanOnPushRule(t *testing.T) {
	ctx := context.Background()
	e := newScanEnv(t, memory.New())
	e.start(t)
	cfg, err := e.reg.PutRegistryScanningConfiguration(ctx, registry.ScanningConfiguration{
		Rules: []registry.ScanningRule{{ScanFrequency: registry.ScanFrequencyOnPush, RepositoryFilters: []registry.ScanningRepositoryFilter{
			{Filter: "prod*", FilterType: registry.FilterTypeWildcard}, {Filter: "web"},
		}}},
	})
	if err != nil {
		t.Fatalf("PutRegistryScanningConfiguration() error = %v", err)
	}
	if cfg.ScanType != registry.ScanTypeBasic || cfg.Rules[0].RepositoryFilters[1].FilterType != registry.FilterTypeWildcard {
		t.Errorf("defaults not filled: %+v", cfg)
	}
	scanned := map[string]bool{"prod-api": true, "prod/db": true, "team/web-ui": true, "app-prod": false, "team/api": false}
	ds := map[string]digest.Digest{}
	for repo := range scanned {
		ds[repo] = e.push(t, repo, "v1")
	}
	e.wait(t, 3)
	for repo, want := range scanned {
		st := e.status(t, repo, ds[repo])
		if (st == scan.StatusComplete) != want {
			t.Errorf("%s: status %s, scanned want %v", repo, st, want)
		}
	}
	// A push of a digest that has a report is not scanned again.
	m, err := e.reg.GetImage(ctx, "prod-api", "v1")
	if err != nil {
		t.Fatal(err)
	}
	putImage(t, e.reg, "prod-api", "v2", m.Manifest)
	if _, err := e.reg.StartImageScan(ctx, "team/api", registry.ImageID{ImageTag: "v1"}); err != nil {
		t.Fatal(err)
	}
	e.wait(t, 1)
	if n := e.sc.scans.Load(); n != 4 {
		t.Errorf("%d scans, want 4 (3 on push, 1 manual)", n)
	}
}

func TestScanningConfigurationValidation(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t)
	got, err := reg.GetRegistryScanningConfiguration(ctx)
	if err != nil || got.ScanType != registry.ScanTypeBasic || len(got.Rules) != 0 {
		t.Fatalf("default = %+v, %v", got, err)
	}
	f := func(s ...string) []registry.ScanningRepositoryFilter {
		var out []registry.ScanningRepositoryFilter
		for _, x := range s {
			out = append(out, registry.ScanningRepositoryFilter{Filter: x, FilterType: registry.FilterTypeWildcard})
		}
		return out
	}
	many := make([]string, 101)
	for i := range many {
		many[i] = "r"
	}
	bad := map[string]registry.ScanningConfiguration{
		"scan type":            {ScanType: "FULL"},
		"three rules":          {ScanType: registry.ScanTypeEnhanced, Rules: []registry.ScanningRule{{ScanFrequency: "SCAN_ON_PUSH"}, {ScanFrequency: "CONTINUOUS_SCAN"}, {ScanFrequency: "MANUAL"}}},
		"frequency":            {Rules: []registry.ScanningRule{{ScanFrequency: "HOURLY", RepositoryFilters: f("*")}}},
		"no frequency":         {Rules: []registry.ScanningRule{{RepositoryFilters: f("*")}}},
		"continuous on basic":  {Rules: []registry.ScanningRule{{ScanFrequency: "CONTINUOUS_SCAN", RepositoryFilters: f("*")}}},
		"duplicate frequency":  {Rules: []registry.ScanningRule{{ScanFrequency: "SCAN_ON_PUSH"}, {ScanFrequency: "SCAN_ON_PUSH"}}},
		"filter type":          {Rules: []registry.ScanningRule{{ScanFrequency: "SCAN_ON_PUSH", RepositoryFilters: []registry.ScanningRepositoryFilter{{Filter: "a", FilterType: "PREFIX_MATCH"}}}}},
		"empty filter":         {Rules: []registry.ScanningRule{{ScanFrequency: "SCAN_ON_PUSH", RepositoryFilters: f("")}}},
		"upper-case filter":    {Rules: []registry.ScanningRule{{ScanFrequency: "SCAN_ON_PUSH", RepositoryFilters: f("Prod*")}}},
		"long filter":          {Rules: []registry.ScanningRule{{ScanFrequency: "SCAN_ON_PUSH", RepositoryFilters: f(strings.Repeat("a", 256))}}},
		"101 filters":          {Rules: []registry.ScanningRule{{ScanFrequency: "SCAN_ON_PUSH", RepositoryFilters: f(many...)}}},
		"filter with a space":  {Rules: []registry.ScanningRule{{ScanFrequency: "SCAN_ON_PUSH", RepositoryFilters: f("a b")}}},
		"filter with a ? mark": {Rules: []registry.ScanningRule{{ScanFrequency: "SCAN_ON_PUSH", RepositoryFilters: f("a?")}}},
	}
	for name, cfg := range bad {
		if _, err := reg.PutRegistryScanningConfiguration(ctx, cfg); !errors.Is(err, registry.ErrInvalidParameter) {
			t.Errorf("%s: error = %v, want ErrInvalidParameter", name, err)
		}
	}
	good := registry.ScanningConfiguration{ScanType: registry.ScanTypeEnhanced, Rules: []registry.ScanningRule{
		{ScanFrequency: registry.ScanFrequencyContinuous, RepositoryFilters: f("prod/*")},
		{ScanFrequency: registry.ScanFrequencyOnPush, RepositoryFilters: f("*")},
	}}
	if _, err := reg.PutRegistryScanningConfiguration(ctx, good); err != nil {
		t.Fatalf("Put(good) error = %v", err)
	}
	// A rejected configuration leaves the stored one in force.
	if _, err := reg.PutRegistryScanningConfiguration(ctx, bad["frequency"]); err == nil {
		t.Fatal("Put(bad) error = nil")
	}
	got, err = reg.GetRegistryScanningConfiguration(ctx)
	if err != nil || got.ScanType != registry.ScanTypeEnhanced || len(got.Rules) != 2 || got.Rules[0].RepositoryFilters[0].Filter != "prod/*" {
		t.Errorf("Get() = %+v, %v", got, err)
	}
	// How repositories are scanned under it.
	createRepo(t, reg, "prod/api", false)
	createRepo(t, reg, "team/app", true)
	rcs, fails, err := reg.BatchGetRepositoryScanningConfiguration(ctx, []string{"prod/api", "team/app", "nope/nope"})
	if err != nil || len(rcs) != 2 || len(fails) != 1 || fails[0].FailureCode != "REPOSITORY_NOT_FOUND" {
		t.Fatalf("BatchGetRepositoryScanningConfiguration() = %+v, %+v, %v", rcs, fails, err)
	}
	if rc := rcs[0]; rc.ScanFrequency != registry.ScanFrequencyContinuous || !rc.ScanOnPush || len(rc.AppliedScanFilters) != 1 || rc.AppliedScanFilters[0].Filter != "prod/*" {
		t.Errorf("prod/api: %+v", rc)
	}
	if rc := rcs[1]; rc.ScanFrequency != registry.ScanFrequencyOnPush || !rc.ScanOnPush || rc.AppliedScanFilters[0].Filter != "*" {
		t.Errorf("team/app: %+v", rc)
	}
	if _, _, err := reg.BatchGetRepositoryScanningConfiguration(ctx, nil); !errors.Is(err, registry.ErrInvalidParameter) {
		t.Errorf("no names: %v", err)
	}

	// The caller's copy is not shared.
	got.Rules[0].RepositoryFilters[0].Filter = "x"
	if again, _ := reg.GetRegistryScanningConfiguration(ctx); again.Rules[0].RepositoryFilters[0].Filter != "prod/*" {
		t.Error("Get() shares memory with the registry")
	}
}

func TestScanStatusTransitions(t *testing.T) {
	ctx := context.Background()
	e := newScanEnv(t, memory.New())
	createRepo(t, e.reg, "app", true)
	release := e.sc.holdScans()
	d := e.push(t, "app", "v1", finding("CVE-1", scan.SeverityMedium))
	// Queued before StartScanning.
	if st := e.status(t, "app", d); st != scan.StatusPending {
		t.Errorf("before start: %s, want PENDING", st)
	}
	e.start(t)
	<-e.sc.started
	if st := e.status(t, "app", d); st != scan.StatusInProgress {
		t.Errorf("scanning: %s, want IN_PROGRESS", st)
	}
	di, _ := e.reg.DescribeImages(ctx, registry.DescribeImagesInput{Repository: "app"})
	if s := di.ImageDetails[0].ImageScanStatus; s == nil || s.Status != scan.StatusInProgress {
		t.Errorf("DescribeImages while scanning: %+v", s)
	}
	// A second request coalesces with the running scan.
	out, err := e.reg.StartImageScan(ctx, "app", registry.ImageID{ImageTag: "v1"})
	if err != nil || out.ImageScanStatus.Status != scan.StatusInProgress {
		t.Errorf("StartImageScan while scanning = %+v, %v", out, err)
	}
	release()
	e.wait(t, 1)
	if st := e.status(t, "app", d); st != scan.StatusComplete {
		t.Errorf("after scan: %s, want COMPLETE", st)
	}
	if n := e.sc.scans.Load(); n != 1 {
		t.Errorf("%d scans, want 1", n)
	}
	// A manual scan scans again, keeping the old report until it ends.
	release = e.sc.holdScans()
	out, err = e.reg.StartImageScan(ctx, "app", registry.ImageID{ImageDigest: d})
	if err != nil || out.ImageScanStatus.Status != scan.StatusPending || out.ImageID.ImageDigest != d {
		t.Errorf("StartImageScan = %+v, %v", out, err)
	}
	<-e.sc.started
	release()
	e.wait(t, 1)
	if n := e.sc.scans.Load(); n != 2 {
		t.Errorf("%d scans, want 2", n)
	}
}

func TestScanFailures(t *testing.T) {
	ctx := context.Background()
	e := newScanEnv(t, memory.New(), registry.WithScanTimeout(100*time.Millisecond))
	createRepo(t, e.reg, "app", true)
	e.start(t)

	// A scanner error: FAILED with the reason.
	e.sc.mu.Lock()
	e.sc.err = errors.New("vulnerability database unavailable")
	e.sc.mu.Unlock()
	d := e.push(t, "app", "err")
	if ev := e.wait(t, 1)[0]; ev.ScanStatus != scan.StatusFailed {
		t.Errorf("event status %s, want FAILED", ev.ScanStatus)
	}
	out := e.findings(t, "app", d)
	if out.ImageScanStatus.Status != scan.StatusFailed || !strings.Contains(out.ImageScanStatus.Description, "vulnerability database unavailable") {
		t.Errorf("status = %+v", out.ImageScanStatus)
	}
	e.sc.mu.Lock()
	e.sc.err, e.sc.panics = nil, true
	e.sc.mu.Unlock()
	d = e.push(t, "app", "panic")
	e.wait(t, 1)
	if out := e.findings(t, "app", d); out.ImageScanStatus.Status != scan.StatusFailed || !strings.Contains(out.ImageScanStatus.Description, "panicked") {
		t.Errorf("panic status = %+v", out.ImageScanStatus)
	}
	e.sc.mu.Lock()
	e.sc.panics = false
	e.sc.mu.Unlock()

	// A scan that takes too long.
	release := e.sc.holdScans()
	d = e.push(t, "app", "slow")
	e.wait(t, 1)
	release()
	out = e.findings(t, "app", d)
	if out.ImageScanStatus.Status != scan.StatusFailed || !strings.Contains(out.ImageScanStatus.Description, "timed out") {
		t.Errorf("timeout status = %+v", out.ImageScanStatus)
	}

	// A report the scanner says it cannot make.
	idx := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
	img := putImage(t, e.reg, "app", "index", idx)
	e.wait(t, 1)
	out = e.findings(t, "app", img.Descriptor.Digest)
	if out.ImageScanStatus.Status != scan.StatusUnsupportedImage || out.ImageScanStatus.Description == "" {
		t.Errorf("index status = %+v", out.ImageScanStatus)
	}

	// A status a report may not have.
	var first digest.Digest
	m := image(t, e.reg, "app", func(m *ocispec.Manifest) { first = m.Layers[0].Digest })
	e.sc.mu.Lock()
	e.sc.byLayer[first] = scan.Report{Status: "GREAT"}
	e.sc.mu.Unlock()
	d = putImage(t, e.reg, "app", "odd", m).Descriptor.Digest
	e.wait(t, 1)
	if out := e.findings(t, "app", d); out.ImageScanStatus.Status != scan.StatusFailed || !strings.Contains(out.ImageScanStatus.Description, "GREAT") {
		t.Errorf("odd status = %+v", out.ImageScanStatus)
	}

	// Without a scanner.
	plain := newRegistry(t)
	pd := putImage(t, plain, "xx", "v1", image(t, plain, "xx", nil)).Descriptor.Digest
	if _, err := plain.StartImageScan(ctx, "xx", registry.ImageID{ImageDigest: pd}); !errors.Is(err, registry.ErrUnsupported) {
		t.Errorf("StartImageScan without scanner: %v, want ErrUnsupported", err)
	}
	if err := plain.StartScanning(ctx); err != nil {
		t.Errorf("StartScanning without scanner: %v", err)
	}
}

func TestScanQueueIsBounded(t *testing.T) {
	ctx := context.Background()
	const workers, queue, images = 2, 5, 40
	e := newScanEnv(t, memory.New(), registry.WithScanWorkers(workers), registry.WithScanQueueSize(queue),
		registry.WithContinuousScanInterval(0))
	createRepo(t, e.reg, "burst", true)
	release := e.sc.holdScans()
	defer release()
	base := runtime.NumGoroutine()
	e.start(t)
	for i := range workers {
		e.push(t, "burst", fmt.Sprintf("held%d", i))
		<-e.sc.started
	}
	// Occupy the workers, then push a burst while they are blocked: every
	// push returns, and no goroutine is started per push.
	var ds []digest.Digest
	for i := range images {
		ds = append(ds, e.push(t, "burst", fmt.Sprintf("v%d", i)))
	}
	if g := runtime.NumGoroutine(); g > base+workers+3 {
		t.Errorf("%d goroutines after the burst, started with %d: want at most %d", g, base, base+workers+3)
	}
	counts := map[string]int{}
	for _, d := range ds {
		counts[e.status(t, "burst", d)]++
	}
	// The two images the workers hold were pushed before; the queue holds
	// `queue` of the burst, the rest are deferred.
	if counts[scan.StatusPending] != queue || counts[scan.StatusLimitExceeded] != images-queue {
		t.Errorf("statuses = %v, want %d PENDING and %d LIMIT_EXCEEDED", counts, queue, images-queue)
	}
	if _, err := e.reg.StartImageScan(ctx, "burst", registry.ImageID{ImageTag: "v39"}); !errors.Is(err, registry.ErrScanLimitExceeded) || !errors.Is(err, registry.ErrTooManyRequests) {
		t.Errorf("StartImageScan with a full queue: %v, want ErrScanLimitExceeded", err)
	}
	if m := e.sc.maxActive.Load(); m > workers {
		t.Errorf("%d scans at once, want at most %d", m, workers)
	}
	// Released, the deferred scans are queued again as the queue drains
	// (there is no continuous scan interval here).
	release()
	deadline := time.Now().Add(20 * time.Second)
	for _, d := range ds {
		for e.status(t, "burst", d) != scan.StatusComplete {
			if time.Now().After(deadline) {
				t.Fatalf("image %s: status %s, want COMPLETE", d, e.status(t, "burst", d))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if m := e.sc.maxActive.Load(); m > workers {
		t.Errorf("%d scans at once, want at most %d", m, workers)
	}
}

// TestScanDoesNotSlowPush pushes while every scan is blocked: the pushes
// complete, and within the time an unblocked push takes.
func TestScanDoesNotSlowPush(t *testing.T) {
	e := newScanEnv(t, memory.New(), registry.WithScanWorkers(1), registry.WithScanQueueSize(2))
	createRepo(t, e.reg, "app", true)
	release := e.sc.holdScans()
	defer release()
	e.start(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 20 {
			m := image(t, e.reg, "app", nil)
			if _, err := e.reg.PutImage(context.Background(), registry.PutImageInput{Repository: "app", Manifest: m, Tag: fmt.Sprint("t", i)}); err != nil {
				t.Errorf("PutImage: %v", err)
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("pushes blocked behind a blocked scanner")
	}
}

func TestScanFindingsPagination(t *testing.T) {
	ctx := context.Background()
	e := newScanEnv(t, memory.New())
	createRepo(t, e.reg, "app", true)
	e.start(t)
	sevs := []string{scan.SeverityLow, scan.SeverityCritical, scan.SeverityMedium, scan.SeverityHigh, scan.SeverityInformational, scan.SeverityUndefined, ""}
	var fs []scan.Finding
	for i := range 250 {
		fs = append(fs, finding(fmt.Sprintf("CVE-2024-%04d", 250-i), sevs[i%len(sevs)]))
	}
	d := e.push(t, "app", "v1", fs...)
	e.wait(t, 1)

	in := registry.DescribeImageScanFindingsInput{Repository: "app", ImageID: registry.ImageID{ImageDigest: d}, MaxResults: 100}
	var all []scan.Finding
	pages := 0
	for {
		out, err := e.reg.DescribeImageScanFindings(ctx, in)
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		pages++
		if len(out.ImageScanFindings.Findings) > 100 {
			t.Fatalf("page of %d findings", len(out.ImageScanFindings.Findings))
		}
		if out.ImageScanFindings.FindingSeverityCounts[scan.SeverityUndefined] != 70 {
			t.Errorf("counts = %v", out.ImageScanFindings.FindingSeverityCounts)
		}
		all = append(all, out.ImageScanFindings.Findings...)
		if out.NextToken == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	if pages != 3 || len(all) != 250 {
		t.Fatalf("%d pages, %d findings; want 3, 250", pages, len(all))
	}
	order := []string{"CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED"}
	if !slices.IsSortedFunc(all, func(a, b scan.Finding) int {
		if c := slices.Index(order, a.Severity) - slices.Index(order, b.Severity); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	}) {
		t.Error("findings not ordered by severity then id")
	}

	for _, bad := range []registry.DescribeImageScanFindingsInput{
		{Repository: "app", ImageID: registry.ImageID{ImageDigest: d}, MaxResults: 1001},
		{Repository: "app", ImageID: registry.ImageID{ImageDigest: d}, MaxResults: -1},
		{Repository: "app", ImageID: registry.ImageID{ImageDigest: d}, NextToken: "garbage"},
		{Repository: "app", ImageID: registry.ImageID{ImageDigest: d}, NextToken: in.NextToken + "x"},
	} {
		if _, err := e.reg.DescribeImageScanFindings(ctx, bad); !errors.Is(err, registry.ErrInvalidParameter) {
			t.Errorf("%+v: error = %v, want ErrInvalidParameter", bad, err)
		}
	}
	// A token of a replaced report is refused.
	first, _ := e.reg.DescribeImageScanFindings(ctx, registry.DescribeImageScanFindingsInput{Repository: "app", ImageID: registry.ImageID{ImageDigest: d}, MaxResults: 10})
	time.Sleep(2 * time.Millisecond)
	if _, err := e.reg.StartImageScan(ctx, "app", registry.ImageID{ImageDigest: d}); err != nil {
		t.Fatal(err)
	}
	e.wait(t, 1)
	_, err := e.reg.DescribeImageScanFindings(ctx, registry.DescribeImageScanFindingsInput{Repository: "app", ImageID: registry.ImageID{ImageDigest: d}, NextToken: first.NextToken})
	if !errors.Is(err, registry.ErrInvalidParameter) {
		t.Errorf("stale token: error = %v, want ErrInvalidParameter", err)
	}
}

// TestScanPersistsAcrossRestart checks that configuration and reports are
// kept in badger, and that scans queued when the registry closed run after
// the next start.
func TestScanPersistsAcrossRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	open := func() storage.Storage {
		s, err := badgerstore.New(badgerstore.Options{Dir: dir, NoSync: true})
		if err != nil {
			t.Fatalf("badgerstore.New() error = %v", err)
		}
		return s
	}
	s := open()
	e := newScanEnv(t, s, registry.WithScanWorkers(1))
	cfg := registry.ScanningConfiguration{ScanType: registry.ScanTypeEnhanced, Rules: []registry.ScanningRule{
		{ScanFrequency: registry.ScanFrequencyContinuous, RepositoryFilters: []registry.ScanningRepositoryFilter{{Filter: "prod/*"}}},
	}}
	if _, err := e.reg.PutRegistryScanningConfiguration(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	e.start(t)
	done := e.push(t, "prod/api", "v1", finding("CVE-1", scan.SeverityCritical))
	e.wait(t, 1)
	release := e.sc.holdScans()
	running := e.push(t, "prod/api", "v2")
	<-e.sc.started
	queued := e.push(t, "prod/api", "v3")
	if st := e.status(t, "prod/api", queued); st != scan.StatusPending {
		t.Fatalf("queued: %s", st)
	}
	if err := e.reg.Close(); err != nil {
		t.Fatal(err)
	}
	release()
	if err := e.reg.Close(); err != nil {
		t.Errorf("second Close() = %v", err)
	}
	if err := e.reg.StartScanning(ctx); !errors.Is(err, registry.ErrClosed) {
		t.Errorf("StartScanning after Close: %v, want ErrClosed", err)
	}
	s.Close()

	s = open()
	defer s.Close()
	e2 := newScanEnv(t, s, registry.WithScanWorkers(1))
	got, err := e2.reg.GetRegistryScanningConfiguration(ctx)
	if err != nil || got.ScanType != registry.ScanTypeEnhanced || got.Rules[0].ScanFrequency != registry.ScanFrequencyContinuous {
		t.Errorf("configuration after restart = %+v, %v", got, err)
	}
	out := e2.findings(t, "prod/api", done)
	if out.ImageScanStatus.Status != scan.StatusComplete || len(out.ImageScanFindings.Findings) != 1 {
		t.Errorf("report after restart = %+v", out)
	}
	for _, d := range []digest.Digest{running, queued} {
		if st := e2.status(t, "prod/api", d); st != scan.StatusPending {
			t.Errorf("%s after restart: %s, want PENDING", d, st)
		}
	}
	e2.start(t)
	e2.wait(t, 2)
	for _, d := range []digest.Digest{running, queued} {
		if st := e2.status(t, "prod/api", d); st != scan.StatusComplete {
			t.Errorf("%s after start: %s, want COMPLETE", d, st)
		}
	}
}

func TestContinuousScan(t *testing.T) {
	backends(t, func(t *testing.T, store storage.Storage) {
		ctx := context.Background()
		e := newScanEnv(t, store, registry.WithContinuousScanInterval(0))
		e.sc.findings = func(version string, inv scan.Inventory) []scan.Finding {
			if version < "2026-04" {
				return nil
			}
			return []scan.Finding{finding("CVE-2026-0001", scan.SeverityCritical)}
		}
		if _, err := e.reg.PutRegistryScanningConfiguration(ctx, registry.ScanningConfiguration{ScanType: registry.ScanTypeEnhanced, Rules: []registry.ScanningRule{
			{ScanFrequency: registry.ScanFrequencyContinuous, RepositoryFilters: []registry.ScanningRepositoryFilter{{Filter: "prod/*"}}},
			{ScanFrequency: registry.ScanFrequencyOnPush, RepositoryFilters: []registry.ScanningRepositoryFilter{{Filter: "dev/*"}}},
		}}); err != nil {
			t.Fatal(err)
		}
		e.start(t)
		prod := e.push(t, "prod/api", "v1")
		dev := e.push(t, "dev/api", "v1")
		e.wait(t, 2)
		reads := e.sc.layerReads.Load()

		// Same data: nothing to do.
		res, err := e.reg.RunContinuousScan(ctx)
		if err != nil || res.Checked != 1 || res.Rematched != 0 {
			t.Errorf("RunContinuousScan() = %+v, %v; want 1 checked, 0 rematched", res, err)
		}
		e.sc.setVersion("2026-04-01T00:00:00Z")
		res, err = e.reg.RunContinuousScan(ctx)
		if err != nil || res.Rematched != 1 || len(res.Errors) != 0 || res.DatabaseVersion != "2026-04-01T00:00:00Z" {
			t.Fatalf("RunContinuousScan() = %+v, %v; want 1 rematched", res, err)
		}
		if ev := e.wait(t, 1)[0]; ev.Digest != prod.String() || ev.FindingSeverityCounts[scan.SeverityCritical] != 1 {
			t.Errorf("event = %+v", ev)
		}
		out := e.findings(t, "prod/api", prod)
		if out.ImageScanFindings.DatabaseVersion != "2026-04-01T00:00:00Z" || len(out.ImageScanFindings.Findings) != 1 {
			t.Errorf("prod report = %+v", out.ImageScanFindings)
		}
		if out := e.findings(t, "dev/api", dev); len(out.ImageScanFindings.Findings) != 0 || out.ImageScanFindings.DatabaseVersion != "2026-03-01T00:00:00Z" {
			t.Errorf("dev report was re-matched: %+v", out.ImageScanFindings)
		}
		if n := e.sc.layerReads.Load(); n != reads {
			t.Errorf("re-match read %d layers", n-reads)
		}
		if n := e.sc.rematches.Load(); n != 1 {
			t.Errorf("%d rematches, want 1", n)
		}
		// Up to date now; the inventory was kept.
		if res, _ := e.reg.RunContinuousScan(ctx); res.Rematched != 0 {
			t.Errorf("second run rematched %d", res.Rematched)
		}
		e.sc.setVersion("2026-05-01T00:00:00Z")
		if res, _ := e.reg.RunContinuousScan(ctx); res.Rematched != 1 {
			t.Errorf("third run rematched %d, want 1 (inventory kept)", res.Rematched)
		}
	})
}

// TestContinuousScanLoop checks that the service re-matches at its
// interval.
func TestContinuousScanLoop(t *testing.T) {
	ctx := context.Background()
	e := newScanEnv(t, memory.New(), registry.WithContinuousScanInterval(10*time.Millisecond))
	if _, err := e.reg.PutRegistryScanningConfiguration(ctx, registry.ScanningConfiguration{ScanType: registry.ScanTypeEnhanced, Rules: []registry.ScanningRule{
		{ScanFrequency: registry.ScanFrequencyContinuous, RepositoryFilters: []registry.ScanningRepositoryFilter{{Filter: "*"}}},
	}}); err != nil {
		t.Fatal(err)
	}
	e.start(t)
	d := e.push(t, "app", "v1")
	e.wait(t, 1)
	e.sc.setVersion("2026-09-01T00:00:00Z")
	e.wait(t, 1)
	if v := e.findings(t, "app", d).ImageScanFindings.DatabaseVersion; v != "2026-09-01T00:00:00Z" {
		t.Errorf("database version %s after the interval", v)
	}
}

func TestScanReportsOfDeletedImages(t *testing.T) {
	backends(t, func(t *testing.T, store storage.Storage) {
		ctx := context.Background()
		e := newScanEnv(t, store)
		createRepo(t, e.reg, "app", true)
		e.start(t)
		m := image(t, e.reg, "app", nil)
		d := putImage(t, e.reg, "app", "v1", m).Descriptor.Digest
		e.wait(t, 1)
		if err := e.reg.DeleteImage(ctx, "app", d.String()); err != nil {
			t.Fatal(err)
		}
		if _, err := e.reg.DescribeImageScanFindings(ctx, registry.DescribeImageScanFindingsInput{Repository: "app", ImageID: registry.ImageID{ImageDigest: d}}); !errors.Is(err, registry.ErrManifestUnknown) {
			t.Errorf("deleted image: %v, want ErrManifestUnknown", err)
		}
		// Pushed again, the digest has no report until it is scanned again.
		release := e.sc.holdScans()
		putImage(t, e.reg, "app", "v1", m)
		if st := e.status(t, "app", d); st != scan.StatusPending && st != scan.StatusInProgress {
			t.Errorf("re-pushed: %s, want a new scan", st)
		}
		release()
		e.wait(t, 1)
		if st := e.status(t, "app", d); st != scan.StatusComplete {
			t.Errorf("re-pushed: %s", st)
		}
		// Deleting the repository removes its reports.
		if _, err := e.reg.DeleteRepository(ctx, "app", true); err != nil {
			t.Fatal(err)
		}
		if rs, ok := store.(storage.RecordStore); ok {
			n := 0
			rs.WalkRecords(ctx, "scan/", func(k string, _ []byte) error {
				if k != "scan/config" {
					n++
				}
				return nil
			})
			if n != 0 {
				t.Errorf("%d scan records left after DeleteRepository", n)
			}
		}
	})
}

// TestScanReportTooLarge checks that a report over the record size limit
// is stored as FAILED rather than not at all.
func TestScanReportTooLarge(t *testing.T) {
	e := newScanEnv(t, memory.New())
	createRepo(t, e.reg, "app", true)
	e.start(t)
	big := strings.Repeat("x", 1<<20)
	var fs []scan.Finding
	for i := range 20 {
		f := finding(fmt.Sprint("CVE-", i), scan.SeverityLow)
		f.Description = big
		fs = append(fs, f)
	}
	d := e.push(t, "app", "v1", fs...)
	if ev := e.wait(t, 1)[0]; ev.ScanStatus != scan.StatusFailed {
		t.Errorf("event status %s", ev.ScanStatus)
	}
	if out := e.findings(t, "app", d); out.ImageScanStatus.Status != scan.StatusFailed || !strings.Contains(out.ImageScanStatus.Description, "record limit") {
		t.Errorf("status = %+v", out.ImageScanStatus)
	}
}

// TestScanInterruptedByCrash checks that a scan a crashed process left
// IN_PROGRESS becomes FAILED at the next start, rather than being retried.
func TestScanInterruptedByCrash(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	e := newScanEnv(t, store)
	createRepo(t, e.reg, "app", false)
	d := e.push(t, "app", "v1")
	// What a scan in progress leaves behind when the process dies.
	status := `{"status":"IN_PROGRESS","completedAt":"2026-03-01T12:00:00Z"}`
	if err := store.PutRecord(ctx, "scan/status/app@"+d.String(), []byte(status)); err != nil {
		t.Fatal(err)
	}
	if st := e.status(t, "app", d); st != scan.StatusInProgress {
		t.Fatalf("before start: %s", st)
	}
	e.start(t)
	out := e.findings(t, "app", d)
	if out.ImageScanStatus.Status != scan.StatusFailed || !strings.Contains(out.ImageScanStatus.Description, "interrupted") {
		t.Errorf("after start: %+v", out.ImageScanStatus)
	}
	if n := e.sc.scans.Load(); n != 0 {
		t.Errorf("%d scans, want 0", n)
	}
	// A manual scan still works.
	if _, err := e.reg.StartImageScan(ctx, "app", registry.ImageID{ImageDigest: d}); err != nil {
		t.Fatal(err)
	}
	e.wait(t, 1)
	if st := e.status(t, "app", d); st != scan.StatusComplete {
		t.Errorf("after a manual scan: %s", st)
	}
}

// noRecords hides the store's RecordStore.
type noRecords struct{ storage.Storage }

func TestScanWithoutRecordStore(t *testing.T) {
	ctx := context.Background()
	inner := memory.New()
	defer inner.Close()
	e := newScanEnv(t, noRecords{inner})
	createRepo(t, e.reg, "app", true)
	e.start(t)
	d := e.push(t, "app", "v1", finding("CVE-1", scan.SeverityHigh))
	e.wait(t, 1)
	if out := e.findings(t, "app", d); out.ImageScanStatus.Status != scan.StatusComplete || len(out.ImageScanFindings.Findings) != 1 {
		t.Errorf("report = %+v", out)
	}
	if _, err := e.reg.PutRegistryScanningConfiguration(ctx, registry.ScanningConfiguration{ScanType: registry.ScanTypeEnhanced}); err != nil {
		t.Fatal(err)
	}
	n := 0
	inner.WalkRecords(ctx, "", func(string, []byte) error { n++; return nil })
	if n != 0 {
		t.Errorf("%d records in the store", n)
	}
}

func TestScanGate(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var inputs []registry.GateInput
	gate := registry.ScanGateFunc(func(_ context.Context, in registry.GateInput) (policy.Decision, error) {
		mu.Lock()
		inputs = append(inputs, in)
		mu.Unlock()
		if strings.HasPrefix(in.Repository, "prod/") && in.FindingSeverityCounts[scan.SeverityCritical] > 0 {
			return policy.Decision{Reasons: []string{fmt.Sprintf("%d CRITICAL findings", in.FindingSeverityCounts[scan.SeverityCritical])}}, nil
		}
		if in.Repository == "broken" {
			return policy.Decision{}, errors.New("gate unavailable")
		}
		return policy.Decision{Allow: true}, nil
	})
	e := newScanEnv(t, memory.New(), registry.WithScanGate(gate))
	e.start(t)
	for _, r := range []string{"prod/api", "dev/api", "broken"} {
		createRepo(t, e.reg, r, true)
	}
	bad := e.push(t, "prod/api", "bad", finding("CVE-9", scan.SeverityCritical))
	e.push(t, "prod/api", "good", finding("CVE-8", scan.SeverityHigh))
	e.push(t, "dev/api", "bad", finding("CVE-9", scan.SeverityCritical))
	e.push(t, "broken", "v1")
	e.wait(t, 4)

	_, err := e.reg.GetImage(ctx, "prod/api", "bad")
	if !errors.Is(err, registry.ErrImagePullDenied) || !errors.Is(err, registry.ErrDenied) || !strings.Contains(err.Error(), "1 CRITICAL findings") {
		t.Errorf("GetImage(prod/api:bad) error = %v, want ErrImagePullDenied", err)
	}
	if _, err := e.reg.GetImage(ctx, "prod/api", bad.String()); !errors.Is(err, registry.ErrImagePullDenied) {
		t.Errorf("GetImage by digest: %v", err)
	}
	if _, err := e.reg.StatImage(ctx, "prod/api", "bad"); err != nil {
		t.Errorf("StatImage is not gated: %v", err)
	}
	for _, ref := range [][2]string{{"prod/api", "good"}, {"dev/api", "bad"}} {
		if _, err := e.reg.GetImage(ctx, ref[0], ref[1]); err != nil {
			t.Errorf("GetImage(%s:%s) error = %v", ref[0], ref[1], err)
		}
	}
	if _, err := e.reg.GetImage(ctx, "broken", "v1"); err == nil || errors.Is(err, registry.ErrDenied) {
		t.Errorf("gate error: %v, want a non-denial error", err)
	}
	mu.Lock()
	in := inputs[0]
	mu.Unlock()
	if in.Repository != "prod/api" || in.Reference != "bad" || in.Digest != bad.String() || in.ScanStatus != scan.StatusComplete ||
		len(in.Findings) != 1 || in.Findings[0].ID != "CVE-9" || in.FindingSeverityCounts[scan.SeverityLow] != 0 || len(in.FindingSeverityCounts) != 6 {
		t.Errorf("gate input = %+v", in)
	}
	// A new scan's report replaces the one the gate saw.
	e.sc.mu.Lock()
	for k := range e.sc.byLayer {
		e.sc.byLayer[k] = scan.Report{}
	}
	e.sc.mu.Unlock()
	if _, err := e.reg.StartImageScan(ctx, "prod/api", registry.ImageID{ImageTag: "bad"}); err != nil {
		t.Fatal(err)
	}
	e.wait(t, 1)
	if _, err := e.reg.GetImage(ctx, "prod/api", "bad"); err != nil {
		t.Errorf("GetImage(prod/api:bad) after a clean scan: %v", err)
	}
	if _, err := registry.New(memory.New(), registry.WithScanGate(nil)); err == nil {
		t.Error("WithScanGate(nil) accepted")
	}
}

func TestScanAuthorization(t *testing.T) {
	ctx := context.Background()
	var actions sync.Map
	authz := policy.AuthorizerFunc(func(_ context.Context, in policy.Input) (policy.Decision, error) {
		if in.Principal != nil && in.Principal.ID == "mallory" {
			actions.Store(in.Action, true)
			return policy.Decision{}, nil
		}
		return policy.Decision{Allow: true}, nil
	})
	e := newScanEnv(t, memory.New(), registry.WithAuthorizer(authz))
	createRepo(t, e.reg, "app", true)
	e.start(t)
	d := e.push(t, "app", "v1")
	e.wait(t, 1)
	mallory := policy.WithPrincipal(ctx, &policy.Principal{ID: "mallory"})
	id := registry.ImageID{ImageDigest: d}
	calls := map[string]func() error{
		"ecr:PutRegistryScanningConfiguration": func() error {
			_, err := e.reg.PutRegistryScanningConfiguration(mallory, registry.ScanningConfiguration{})
			return err
		},
		"ecr:GetRegistryScanningConfiguration": func() error {
			_, err := e.reg.GetRegistryScanningConfiguration(mallory)
			return err
		},
		"ecr:StartImageScan": func() error {
			_, err := e.reg.StartImageScan(mallory, "app", id)
			return err
		},
		"ecr:BatchGetRepositoryScanningConfiguration": func() error {
			_, _, err := e.reg.BatchGetRepositoryScanningConfiguration(mallory, []string{"app"})
			return err
		},
		"ecr:DescribeImageScanFindings": func() error {
			_, err := e.reg.DescribeImageScanFindings(mallory, registry.DescribeImageScanFindingsInput{Repository: "app", ImageID: id})
			return err
		},
	}
	for action, call := range calls {
		if err := call(); !errors.Is(err, registry.ErrDenied) {
			t.Errorf("%s: error = %v, want ErrDenied", action, err)
		}
		if _, ok := actions.Load(action); !ok {
			t.Errorf("%s was not authorized", action)
		}
	}
	if _, err := e.reg.DescribeImageScanFindings(ctx, registry.DescribeImageScanFindingsInput{Repository: "app", ImageID: id}); err != nil {
		t.Errorf("allowed caller: %v", err)
	}
}

func TestScanningOptions(t *testing.T) {
	for name, opt := range map[string]registry.Option{
		"workers 0":  registry.WithScanWorkers(0),
		"queue 0":    registry.WithScanQueueSize(0),
		"timeout 0":  registry.WithScanTimeout(0),
		"interval<0": registry.WithContinuousScanInterval(-time.Second),
	} {
		if _, err := registry.New(memory.New(), opt); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	// StartScanning twice; Close stops the workers.
	before := runtime.NumGoroutine()
	e := newScanEnv(t, memory.New(), registry.WithScanWorkers(3))
	e.start(t)
	if err := e.reg.StartScanning(context.Background()); err == nil {
		t.Error("second StartScanning accepted")
	}
	e.reg.Close()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > before {
		t.Errorf("%d goroutines after Close, %d before", g, before)
	}
	// A cancelled context stops the service too.
	e2 := newScanEnv(t, memory.New())
	ctx, cancel := context.WithCancel(context.Background())
	if err := e2.reg.StartScanning(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	e2.reg.Close()
}

// TestScanGateOverHTTP checks that a gated pull is 403 DENIED through
// httpapi, with the gate's reasons in the message, and that HEAD passes.
func TestScanGateOverHTTP(t *testing.T) {
	gate := registry.ScanGateFunc(func(_ context.Context, in registry.GateInput) (policy.Decision, error) {
		if in.FindingSeverityCounts[scan.SeverityCritical] > 0 {
			return policy.Decision{Reasons: []string{"critical findings"}}, nil
		}
		return policy.Decision{Allow: true}, nil
	})
	e := newScanEnv(t, memory.New(), registry.WithScanGate(gate))
	createRepo(t, e.reg, "prod/api", true)
	e.start(t)
	e.push(t, "prod/api", "bad", finding("CVE-9", scan.SeverityCritical))
	e.push(t, "prod/api", "good")
	e.wait(t, 2)
	h, err := httpapi.New(e.reg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, c := range []struct {
		method, tag string
		status      int
	}{{"GET", "bad", 403}, {"HEAD", "bad", 200}, {"GET", "good", 200}} {
		req, _ := http.NewRequest(c.method, srv.URL+"/v2/prod/api/manifests/"+c.tag, nil)
		req.Header.Set("Accept", ocispec.MediaTypeImageManifest)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.tag, resp.StatusCode, body, c.status)
		}
		if c.status == 403 && (!strings.Contains(string(body), `"DENIED"`) || !strings.Contains(string(body), "critical findings")) {
			t.Errorf("%s %s: body %s", c.method, c.tag, body)
		}
	}
}

// scopeScanner tries to read content of another repository.
type scopeScanner struct {
	blob, manifest digest.Digest
	errs           chan [2]error
}

func (s scopeScanner) Scan(ctx context.Context, req scan.Request) (scan.Report, error) {
	_, err1 := req.Content.OpenBlob(ctx, s.blob)
	_, _, err2 := req.Content.ReadManifest(ctx, s.manifest)
	s.errs <- [2]error{err1, err2}
	return scan.Report{}, nil
}

func TestScanContentIsRepositoryScoped(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	sc := scopeScanner{errs: make(chan [2]error, 1)}
	reg, err := registry.New(store, registry.WithScanner(&sc))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	secret := putImage(t, reg, "team/secret", "v1", image(t, reg, "team/secret", func(m *ocispec.Manifest) { sc.blob = m.Layers[0].Digest }))
	sc.manifest = secret.Descriptor.Digest
	d := putImage(t, reg, "team/other", "v1", image(t, reg, "team/other", nil)).Descriptor.Digest
	if err := reg.StartScanning(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.StartImageScan(ctx, "team/other", registry.ImageID{ImageDigest: d}); err != nil {
		t.Fatal(err)
	}
	select {
	case errs := <-sc.errs:
		if !errors.Is(errs[0], registry.ErrBlobUnknown) || !errors.Is(errs[1], registry.ErrManifestUnknown) {
			t.Errorf("reads of another repository: %v, %v; want ErrBlobUnknown, ErrManifestUnknown", errs[0], errs[1])
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no scan")
	}
}
