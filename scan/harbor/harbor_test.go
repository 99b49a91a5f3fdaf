package harbor_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/scan"
	"github.com/berth-dev/berth/scan/harbor"
)

// fakeAdapter is a Harbor scanner adapter written for the tests: it
// records what it receives and answers from its fields.
type fakeAdapter struct {
	mu        sync.Mutex
	consumes  []string
	produces  []string
	pending   int // 302s before the report
	scanCode  int // status of POST /scan; 0 means 202
	scanID    string
	report    string // body of the report; "" means a canned one
	reportErr string // if set, the report answers 500 with this message
	bodySize  int    // pad the report to this size

	metadataCalls int
	scanBodies    []map[string]any
	scanHeaders   []http.Header
	reportAccepts []string
	polls         int
}

const canned = `{
  "generated_at": "2026-11-25T08:00:00Z",
  "scanner": {"name": "Trivy", "vendor": "Aqua Security", "version": "0.58.0"},
  "vulnerabilities": [
    {"id": "CVE-2024-0002", "package": "openssl", "version": "3.0.11-1", "fix_version": "3.0.15-1",
     "severity": "Critical", "description": "bad", "links": ["https://security-tracker.debian.org/tracker/CVE-2024-0002", "javascript:alert(1)"],
     "cve3_score": "9.8", "cvss3_vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"},
    {"id": "CVE-2024-0001", "package": "zlib", "version": "1.2.13", "severity": "Negligible",
     "vendor_attributes": {"CVSS": {"redhat": {"V3Vector": "CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:L/I:N/A:N", "V3Score": 2.5},
                                     "nvd": {"V3Vector": "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L", "V3Score": 5.3}}}},
    {"id": "CVE-2024-0003", "package": "curl", "version": "8.0", "severity": "High"},
    {"id": "CVE-2024-0004", "package": "bash", "version": "5.2", "severity": "Whatever"}
  ]
}`

func (f *fakeAdapter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/metadata":
		f.metadataCalls++
		w.Header().Set("Content-Type", "application/vnd.scanner.adapter.metadata+json; version=1.0")
		json.NewEncoder(w).Encode(map[string]any{
			"scanner":      map[string]string{"name": "Trivy", "vendor": "Aqua Security", "version": "0.58.0"},
			"capabilities": []any{map[string]any{"consumes_mime_types": f.consumes, "produces_mime_types": f.produces}},
		})
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/scan":
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		f.scanBodies = append(f.scanBodies, body)
		f.scanHeaders = append(f.scanHeaders, r.Header.Clone())
		if f.scanCode != 0 {
			w.Header().Set("Content-Type", harbor.MediaTypeError)
			w.WriteHeader(f.scanCode)
			io.WriteString(w, `{"error":{"message":"unsupported artifact"}}`)
			return
		}
		w.Header().Set("Content-Type", harbor.MediaTypeScanResponse)
		w.WriteHeader(http.StatusAccepted)
		id := f.scanID
		if id == "" {
			id = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
		}
		fmt.Fprintf(w, `{"id":%q}`, id)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/api/v1/scan/") && strings.HasSuffix(r.URL.Path, "/report"):
		f.polls++
		f.reportAccepts = append(f.reportAccepts, r.Header.Get("Accept"))
		if f.pending != 0 {
			if f.pending > 0 {
				f.pending--
			}
			w.Header().Set("Refresh-After", "0")
			w.WriteHeader(http.StatusFound)
			return
		}
		if f.reportErr != "" {
			w.Header().Set("Content-Type", harbor.MediaTypeError)
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(w, `{"error":{"message":%q}}`, f.reportErr)
			return
		}
		body := f.report
		if body == "" {
			body = canned
		}
		if f.bodySize > len(body) {
			body = strings.Replace(body, `"vulnerabilities"`, `"pad":"`+strings.Repeat("x", f.bodySize)+`","vulnerabilities"`, 1)
		}
		w.Header().Set("Content-Type", harbor.MediaTypeReport)
		io.WriteString(w, body)
	default:
		http.NotFound(w, r)
	}
}

func newFake() *fakeAdapter {
	return &fakeAdapter{
		consumes: []string{ocispec.MediaTypeImageManifest, "application/vnd.docker.distribution.manifest.v2+json"},
		produces: []string{"application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"},
	}
}

func newScanner(t *testing.T, f *fakeAdapter, mod func(*harbor.Options)) *harbor.Scanner {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	o := harbor.Options{
		Endpoint:    srv.URL,
		RegistryURL: "https://berth.internal:5000",
		PullAuthorization: func(_ context.Context, repo string) (string, error) {
			return "Bearer pull-only-" + repo, nil
		},
		AdapterAuthorization: "Bearer adapter-secret",
		PollInterval:         time.Millisecond,
		MaxWait:              5 * time.Second,
		Now:                  func() time.Time { return time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC) },
	}
	if mod != nil {
		mod(&o)
	}
	s, err := harbor.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var image = scan.Request{
	Repository: "team-a/web",
	Manifest: ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageManifest,
		Digest:    digest.FromString("manifest"),
		Size:      8,
	},
}

func TestScan(t *testing.T) {
	f := newFake()
	f.pending = 2
	s := newScanner(t, f, nil)
	rep, err := s.Scan(t.Context(), image)
	if err != nil {
		t.Fatal(err)
	}
	if f.polls != 3 {
		t.Errorf("polls = %d, want 3 (two 302s, then the report)", f.polls)
	}
	// What the adapter received.
	if len(f.scanBodies) != 1 {
		t.Fatalf("%d scan requests", len(f.scanBodies))
	}
	b := f.scanBodies[0]
	reg, _ := b["registry"].(map[string]any)
	art, _ := b["artifact"].(map[string]any)
	if reg["url"] != "https://berth.internal:5000" || reg["authorization"] != "Bearer pull-only-team-a/web" {
		t.Errorf("registry = %v", reg)
	}
	if art["repository"] != "team-a/web" || art["digest"] != image.Manifest.Digest.String() || art["mime_type"] != ocispec.MediaTypeImageManifest {
		t.Errorf("artifact = %v", art)
	}
	h := f.scanHeaders[0]
	if h.Get("Content-Type") != harbor.MediaTypeScanRequest || h.Get("Authorization") != "Bearer adapter-secret" {
		t.Errorf("scan request headers: Content-Type %q, Authorization %q", h.Get("Content-Type"), h.Get("Authorization"))
	}
	for _, a := range f.reportAccepts {
		if a != "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0" {
			t.Errorf("report Accept = %q, want the type the adapter produces", a)
		}
	}

	// What Berth made of the report.
	if rep.Status != scan.StatusComplete || rep.DatabaseVersion != "Trivy 0.58.0" {
		t.Errorf("status %q, database %q", rep.Status, rep.DatabaseVersion)
	}
	want := []struct{ id, sev, cvss string }{
		{"CVE-2024-0001", scan.SeverityInformational, "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L"},
		{"CVE-2024-0002", scan.SeverityCritical, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"},
		{"CVE-2024-0003", scan.SeverityHigh, ""},
		{"CVE-2024-0004", scan.SeverityUndefined, ""},
	}
	if len(rep.Findings) != len(want) {
		t.Fatalf("%d findings, want %d: %+v", len(rep.Findings), len(want), rep.Findings)
	}
	for i, w := range want {
		got := rep.Findings[i]
		vec := ""
		if got.CVSS != nil {
			vec = got.CVSS.Vector
		}
		if got.ID != w.id || got.Severity != w.sev || vec != w.cvss {
			t.Errorf("finding %d = %s %s %q, want %s %s %q", i, got.ID, got.Severity, vec, w.id, w.sev, w.cvss)
		}
	}
	crit := rep.Findings[1]
	if crit.CVSS.Score != 9.8 || crit.CVSS.Version != "3.1" || crit.FixedVersion != "3.0.15-1" || crit.Package != "openssl" || crit.InstalledVersion != "3.0.11-1" {
		t.Errorf("critical finding = %+v, CVSS %+v", crit, crit.CVSS)
	}
	if len(crit.References) != 1 || crit.URI != "https://security-tracker.debian.org/tracker/CVE-2024-0002" {
		t.Errorf("links = %v (a javascript: link must be dropped)", crit.References)
	}
	if nvd := rep.Findings[0].CVSS; nvd.Source != "nvd" || nvd.Score != 5.3 {
		t.Errorf("vendor CVSS = %+v, want NVD's", nvd)
	}
	wantCounts := map[string]int{scan.SeverityCritical: 1, scan.SeverityHigh: 1, scan.SeverityInformational: 1, scan.SeverityUndefined: 1}
	if fmt.Sprint(rep.SeverityCounts) != fmt.Sprint(wantCounts) {
		t.Errorf("counts = %v, want %v", rep.SeverityCounts, wantCounts)
	}

	// Metadata is cached.
	if _, err := s.Scan(t.Context(), image); err != nil {
		t.Fatal(err)
	}
	if f.metadataCalls != 1 {
		t.Errorf("metadata fetched %d times for two scans", f.metadataCalls)
	}
}

func TestUnsupportedImage(t *testing.T) {
	f := newFake()
	s := newScanner(t, f, nil)
	req := image
	req.Manifest.MediaType = ocispec.MediaTypeImageIndex
	rep, err := s.Scan(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != scan.StatusUnsupportedImage || !strings.Contains(rep.Description, ocispec.MediaTypeImageIndex) {
		t.Errorf("report = %+v", rep)
	}
	if len(f.scanBodies) != 0 {
		t.Error("a scan was requested for a media type the adapter does not consume")
	}
	// An adapter that consumes the type but produces no Harbor report.
	f.produces = []string{"application/vnd.scanner.adapter.vuln.report.raw"}
	s = newScanner(t, f, nil)
	if rep, err := s.Scan(t.Context(), image); err != nil || rep.Status != scan.StatusUnsupportedImage {
		t.Errorf("raw-only adapter: %+v, %v", rep, err)
	}
}

func TestAdapterFailures(t *testing.T) {
	for _, tc := range []struct {
		name    string
		setup   func(*fakeAdapter)
		opts    func(*harbor.Options)
		status  string // a report with this status, or
		errText string // an error wrapping ErrAdapter containing this
	}{
		{name: "scan refused", setup: func(f *fakeAdapter) { f.scanCode = http.StatusUnprocessableEntity }, errText: "unsupported artifact"},
		{name: "scan failed", setup: func(f *fakeAdapter) { f.reportErr = "cannot pull: 401" }, status: scan.StatusFailed},
		{name: "malformed report", setup: func(f *fakeAdapter) { f.report = `{"vulnerabilities": [` }, errText: "malformed JSON"},
		{name: "oversized report", setup: func(f *fakeAdapter) { f.bodySize = 4096 },
			opts: func(o *harbor.Options) { o.MaxResponseSize = 2048 }, errText: "over 2048 bytes"},
		{name: "never ready", setup: func(f *fakeAdapter) { f.pending = -1 },
			opts: func(o *harbor.Options) { o.MaxWait = 50 * time.Millisecond }, errText: "waiting for report"},
		{name: "bad scan id", setup: func(f *fakeAdapter) { f.scanID = "../../metadata" }, errText: "invalid scan ID"},
		{name: "pull credential", opts: func(o *harbor.Options) {
			o.PullAuthorization = func(context.Context, string) (string, error) { return "", errors.New("no token service") }
		}, errText: "no token service"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			if tc.setup != nil {
				tc.setup(f)
			}
			s := newScanner(t, f, tc.opts)
			rep, err := s.Scan(t.Context(), image)
			if tc.status != "" {
				if err != nil || rep.Status != tc.status || rep.Description == "" {
					t.Fatalf("Scan = %+v, %v; want status %s with a description", rep, err, tc.status)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errText) {
				t.Fatalf("Scan error = %v, want one containing %q", err, tc.errText)
			}
			if tc.name != "pull credential" && !errors.Is(err, harbor.ErrAdapter) {
				t.Errorf("error %v does not wrap ErrAdapter", err)
			}
		})
	}
}

func TestContextCancel(t *testing.T) {
	f := newFake()
	f.pending = -1
	s := newScanner(t, f, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	_, err := s.Scan(ctx, image)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Scan error = %v, want the context's", err)
	}
}

func TestNewValidates(t *testing.T) {
	for _, o := range []harbor.Options{
		{},
		{Endpoint: "ftp://x", RegistryURL: "https://r"},
		{Endpoint: "http://adapter", RegistryURL: "not a url"},
		{Endpoint: "http://adapter", RegistryURL: "https://r", MaxWait: -1},
	} {
		if _, err := harbor.New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}
