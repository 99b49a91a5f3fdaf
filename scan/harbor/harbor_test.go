package harbor_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
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

const (
	reportV11 = "application/vnd.security.vulnerability.report; version=1.1"
	reportV10 = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
)

// fakeAdapter is a Harbor scanner adapter written for the tests, after
// the Pluggable Scanner API v1.1 and what Harbor's Trivy adapter sends: it
// records what it receives and answers from its fields.
type fakeAdapter struct {
	mu           sync.Mutex
	consumes     []string
	produces     []string
	pending      int    // 302s before the report; -1 means forever
	refreshAfter string // Refresh-After of the 302s
	scanCode     int    // status of POST /scan; 0 means 202
	scanID       string
	scanBody     string // body of the 202; "" means {"id": scanID}
	report       string // body of the report; "" means the canned one for the Accept
	reportCode   int    // status of the report when ready; 0 means 200
	bodySize     int    // pad the report to this size
	slow         bool   // answer nothing until the client gives up
	metadataBody string // if set, the metadata answer; "!503" answers 503

	metadataCalls int
	scanBodies    []map[string]any
	scanHeaders   []http.Header
	reportAccepts []string
	reportAuth    []string
	pollTimes     []time.Time
}

// cannedV11 is a report of the v1.1 type as Trivy's adapter writes it.
const cannedV11 = `{
  "generated_at": "2026-11-25T08:00:00Z",
  "artifact": {"repository": "team-a/web", "digest": "sha256:…", "mime_type": "application/vnd.oci.image.manifest.v1+json"},
  "scanner": {"name": "Trivy", "vendor": "Aqua Security", "version": "0.58.0"},
  "severity": "Critical",
  "vulnerabilities": [
    {"id": "CVE-2024-0002", "package": "openssl", "version": "3.0.11-1", "fix_version": "3.0.15-1",
     "severity": "Critical", "description": "bad", "links": ["https://avd.aquasec.com/nvd/cve-2024-0002", "javascript:alert(1)"],
     "layer": {"digest": "sha256:4739cd2f4f486596c583c79f6033f1a9dee019389d512603609494678c8ccd53", "diff_id": "sha256:f66829086c450acd5f67d0529a58f7120926c890f04e17aa7f0e9365da86480a"},
     "preferred_cvss": {"score_v3": 9.8, "score_v2": null, "vector_v3": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "vector_v2": ""},
     "cwe_ids": ["CWE-190"]},
    {"id": "CVE-2024-0001", "package": "zlib", "version": "1.2.13", "severity": "Negligible",
     "preferred_cvss": {"score_v3": 5.3, "score_v2": null, "vector_v3": "", "vector_v2": ""},
     "vendor_attributes": {"CVSS": {"redhat": {"V3Vector": "CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:L/I:N/A:N", "V3Score": 2.5},
                                     "nvd": {"V3Vector": "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L", "V3Score": 5.3}}}},
    {"id": "CVE-2024-0003", "package": "curl", "version": "8.0", "severity": "High",
     "preferred_cvss": {"score_v2": 5, "vector_v2": "AV:N/AC:L/Au:N/C:N/I:N/A:P"}},
    {"id": "CVE-2024-0004", "package": "bash", "version": "5.2", "severity": "Whatever", "layer": {"digest": "not a digest"}}
  ]
}`

// cannedV10 is a report of the older Harbor type.
const cannedV10 = `{
  "generated_at": "2026-11-25T08:00:00Z",
  "scanner": {"name": "Clair", "vendor": "CoreOS", "version": "2.1"},
  "vulnerabilities": [
    {"id": "CVE-2024-0009", "package": "dpkg", "version": "1.17.27", "fix_version": "1.18.0", "severity": "Medium",
     "links": ["https://security-tracker.debian.org/tracker/CVE-2024-0009"],
     "cve3_score": "3.2", "cvss3_vector": "CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N"}
  ]
}`

func (f *fakeAdapter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	slow := f.slow
	f.mu.Unlock()
	if slow {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/metadata":
		f.metadataCalls++
		if f.metadataBody == "!503" {
			w.Header().Set("Content-Type", harbor.MediaTypeError)
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"error":{"message":"updating the vulnerability database"}}`)
			return
		}
		if f.metadataBody != "" {
			io.WriteString(w, f.metadataBody)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.scanner.adapter.metadata+json; version=1.0")
		json.NewEncoder(w).Encode(map[string]any{
			"scanner":      map[string]string{"name": "Trivy", "vendor": "Aqua Security", "version": "0.58.0"},
			"capabilities": []any{map[string]any{"consumes_mime_types": f.consumes, "produces_mime_types": f.produces}},
			"properties": map[string]string{
				"harbor.scanner-adapter/scanner-type":                      "os-package-vulnerability",
				"harbor.scanner-adapter/vulnerability-database-updated-at": "2026-11-25T06:00:00Z",
			},
		})
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/scan":
		var body map[string]any
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
			w.Header().Set("Content-Type", harbor.MediaTypeError)
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":{"message":"invalid JSON"}}`)
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
		if f.scanBody != "" {
			io.WriteString(w, f.scanBody)
			return
		}
		id := f.scanID
		if id == "" {
			id = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
		}
		fmt.Fprintf(w, `{"id":%q}`, id)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/api/v1/scan/") && strings.HasSuffix(r.URL.Path, "/report"):
		f.pollTimes = append(f.pollTimes, time.Now())
		f.reportAccepts = append(f.reportAccepts, r.Header.Get("Accept"))
		f.reportAuth = append(f.reportAuth, r.Header.Get("Authorization"))
		if f.pending != 0 {
			if f.pending > 0 {
				f.pending--
			}
			if f.refreshAfter != "" {
				w.Header().Set("Refresh-After", f.refreshAfter)
			}
			w.Header().Set("Location", r.URL.Path) // as some adapters do; must not be followed
			w.WriteHeader(http.StatusFound)
			return
		}
		if f.reportCode != 0 && f.reportCode != http.StatusOK {
			w.Header().Set("Content-Type", harbor.MediaTypeError)
			w.WriteHeader(f.reportCode)
			io.WriteString(w, f.report)
			return
		}
		accept, _, _ := mime.ParseMediaType(r.Header.Get("Accept"))
		body := f.report
		switch {
		case body != "":
		case accept == "application/vnd.security.vulnerability.report":
			body = cannedV11
		case accept == "application/vnd.scanner.adapter.vuln.report.harbor+json":
			body = cannedV10
		default:
			http.Error(w, "unsupported report type", http.StatusBadRequest)
			return
		}
		if f.bodySize > len(body) {
			body = strings.Replace(body, `"vulnerabilities"`, `"pad":"`+strings.Repeat("x", f.bodySize)+`","vulnerabilities"`, 1)
		}
		w.Header().Set("Content-Type", r.Header.Get("Accept"))
		io.WriteString(w, body)
	default:
		http.NotFound(w, r)
	}
}

// newFake returns an adapter like Trivy's: OCI and Docker images, both
// report types.
func newFake() *fakeAdapter {
	return &fakeAdapter{
		consumes: []string{ocispec.MediaTypeImageManifest, "application/vnd.docker.distribution.manifest.v2+json"},
		produces: []string{reportV10, reportV11},
	}
}

var testNow = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

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
		Now:                  func() time.Time { return testNow },
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
	if len(f.pollTimes) != 3 {
		t.Errorf("polls = %d, want 3 (two 302s, then the report)", len(f.pollTimes))
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
	for i, a := range f.reportAccepts {
		if a != reportV11 {
			t.Errorf("report Accept = %q, want the v1.1 vulnerability report", a)
		}
		if f.reportAuth[i] != "Bearer adapter-secret" {
			t.Errorf("report Authorization = %q", f.reportAuth[i])
		}
	}

	// What Berth made of the report.
	if rep.Status != scan.StatusComplete || rep.DatabaseVersion != "Trivy 0.58.0 (database 2026-11-25T06:00:00Z)" || !rep.CompletedAt.Equal(testNow) {
		t.Errorf("status %q, database %q, completed %v", rep.Status, rep.DatabaseVersion, rep.CompletedAt)
	}
	want := []struct{ id, sev, cvss string }{
		{"CVE-2024-0001", scan.SeverityInformational, "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L"},
		{"CVE-2024-0002", scan.SeverityCritical, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"},
		{"CVE-2024-0003", scan.SeverityHigh, "AV:N/AC:L/Au:N/C:N/I:N/A:P"},
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
	if crit.CVSS.Score != 9.8 || crit.CVSS.Version != "3.1" || crit.FixedVersion != "3.0.15-1" || crit.Package != "openssl" ||
		crit.InstalledVersion != "3.0.11-1" || crit.Description != "bad" {
		t.Errorf("critical finding = %+v, CVSS %+v", crit, crit.CVSS)
	}
	if crit.Layer != "sha256:4739cd2f4f486596c583c79f6033f1a9dee019389d512603609494678c8ccd53" {
		t.Errorf("layer = %q", crit.Layer)
	}
	if rep.Findings[3].Layer != "" {
		t.Errorf("invalid layer digest kept: %q", rep.Findings[3].Layer)
	}
	if len(crit.References) != 1 || crit.URI != "https://avd.aquasec.com/nvd/cve-2024-0002" {
		t.Errorf("links = %v (a javascript: link must be dropped)", crit.References)
	}
	// preferred_cvss without a vector: the vendor's rating, NVD's first.
	if nvd := rep.Findings[0].CVSS; nvd.Source != "nvd" || nvd.Score != 5.3 || nvd.Version != "3.0" {
		t.Errorf("vendor CVSS = %+v, want NVD's", nvd)
	}
	if v2 := rep.Findings[2].CVSS; v2.Version != "2.0" || v2.Score != 5 {
		t.Errorf("v2 CVSS = %+v", v2)
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

// An adapter that produces only the older Harbor report type is asked for
// that, and its CVSS fields are read.
func TestOlderReportType(t *testing.T) {
	f := newFake()
	f.produces = []string{"application/vnd.scanner.adapter.vuln.report.raw", reportV10}
	s := newScanner(t, f, nil)
	rep, err := s.Scan(t.Context(), image)
	if err != nil {
		t.Fatal(err)
	}
	if f.reportAccepts[0] != reportV10 {
		t.Errorf("Accept = %q, want %q", f.reportAccepts[0], reportV10)
	}
	if len(rep.Findings) != 1 {
		t.Fatalf("findings = %+v", rep.Findings)
	}
	fd := rep.Findings[0]
	if fd.ID != "CVE-2024-0009" || fd.Severity != scan.SeverityMedium || fd.CVSS == nil || fd.CVSS.Score != 3.2 || fd.CVSS.Version != "3.0" {
		t.Errorf("finding = %+v, CVSS %+v", fd, fd.CVSS)
	}
	if rep.DatabaseVersion != "Clair 2.1 (database 2026-11-25T06:00:00Z)" {
		t.Errorf("database = %q", rep.DatabaseVersion)
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
	if rep.Status != scan.StatusUnsupportedImage || !strings.Contains(rep.Description, ocispec.MediaTypeImageIndex) || !strings.Contains(rep.Description, "Trivy") {
		t.Errorf("report = %+v", rep)
	}
	if len(f.scanBodies) != 0 {
		t.Error("a scan was requested for a media type the adapter does not consume")
	}
	// An adapter that consumes the type but produces no vulnerability
	// report.
	f.produces = []string{"application/vnd.scanner.adapter.vuln.report.raw", "application/vnd.security.sbom.report+json; version=1.0"}
	s = newScanner(t, f, nil)
	if rep, err := s.Scan(t.Context(), image); err != nil || rep.Status != scan.StatusUnsupportedImage {
		t.Errorf("raw-only adapter: %+v, %v", rep, err)
	}
	if len(f.scanBodies) != 0 {
		t.Error("a scan was requested from an adapter without vulnerability reports")
	}
}

func TestAdapterFailures(t *testing.T) {
	for _, tc := range []struct {
		name    string
		setup   func(*fakeAdapter)
		opts    func(*harbor.Options)
		errText string // an error wrapping ErrAdapter containing this
	}{
		{name: "scan refused", setup: func(f *fakeAdapter) { f.scanCode = http.StatusUnprocessableEntity }, errText: "422: unsupported artifact"},
		{name: "scan failed", setup: func(f *fakeAdapter) {
			f.reportCode, f.report = http.StatusInternalServerError, `{"error":{"message":"cannot pull: 401"}}`
		}, errText: "500: cannot pull: 401"},
		{name: "error without JSON", setup: func(f *fakeAdapter) { f.reportCode, f.report = http.StatusInternalServerError, "<html>oops" },
			errText: "500 Internal Server Error"},
		{name: "huge error message", setup: func(f *fakeAdapter) {
			f.reportCode, f.report = http.StatusInternalServerError, `{"error":{"message":"`+strings.Repeat("é", 4000)+`"}}`
		}, errText: "éé…"},
		{name: "report forgotten", setup: func(f *fakeAdapter) { f.reportCode = http.StatusNotFound }, errText: "404"},
		{name: "malformed report", setup: func(f *fakeAdapter) { f.report = `{"vulnerabilities": [` }, errText: "malformed JSON"},
		{name: "wrong report shape", setup: func(f *fakeAdapter) { f.report = `{"vulnerabilities": {"id": 1}}` }, errText: "malformed JSON"},
		{name: "oversized report", setup: func(f *fakeAdapter) { f.bodySize = 4096 },
			opts: func(o *harbor.Options) { o.MaxResponseSize = 2048 }, errText: "over 2048 bytes"},
		{name: "oversized scan response", setup: func(f *fakeAdapter) { f.scanBody = `{"id":"` + strings.Repeat("a", 4096) + `"}` },
			opts: func(o *harbor.Options) { o.MaxResponseSize = 2048 }, errText: "over 2048 bytes"},
		{name: "never ready", setup: func(f *fakeAdapter) { f.pending = -1 },
			opts: func(o *harbor.Options) { o.MaxWait = 50 * time.Millisecond }, errText: "waiting for report"},
		{name: "bad scan id", setup: func(f *fakeAdapter) { f.scanID = "../../metadata" }, errText: "invalid scan ID"},
		{name: "empty scan id", setup: func(f *fakeAdapter) { f.scanBody = `{}` }, errText: "invalid scan ID"},
		{name: "metadata not JSON", setup: func(f *fakeAdapter) { f.metadataBody = "not json" }, errText: "metadata: harbor scanner adapter: malformed JSON"},
		{name: "metadata refused", setup: func(f *fakeAdapter) { f.metadataBody = "!503" }, errText: "metadata: 503"},
		{name: "adapter down", opts: func(o *harbor.Options) { o.Endpoint = "http://127.0.0.1:1" }, errText: "GET /api/v1/metadata"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			if tc.setup != nil {
				tc.setup(f)
			}
			s := newScanner(t, f, tc.opts)
			rep, err := s.Scan(t.Context(), image)
			if err == nil || !strings.Contains(err.Error(), tc.errText) {
				t.Fatalf("Scan = %+v, %v; want an error containing %q", rep, err, tc.errText)
			}
			if !errors.Is(err, harbor.ErrAdapter) {
				t.Errorf("error %v does not wrap ErrAdapter", err)
			}
			if len(err.Error()) > 2048 {
				t.Errorf("error message of %d bytes", len(err.Error()))
			}
		})
	}
}

func TestPullCredentialError(t *testing.T) {
	f := newFake()
	errNoToken := errors.New("no token service")
	s := newScanner(t, f, func(o *harbor.Options) {
		o.PullAuthorization = func(context.Context, string) (string, error) { return "", errNoToken }
	})
	_, err := s.Scan(t.Context(), image)
	if !errors.Is(err, errNoToken) {
		t.Fatalf("Scan error = %v, want the credential error", err)
	}
	if len(f.scanBodies) != 0 {
		t.Error("scan requested without a credential")
	}
}

// A slow adapter: the caller's deadline ends the call promptly, with an
// error that wraps both ErrAdapter and the context's error.
func TestSlowAdapter(t *testing.T) {
	f := newFake()
	f.slow = true
	s := newScanner(t, f, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.Scan(ctx, image)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, harbor.ErrAdapter) {
		t.Fatalf("Scan error = %v, want ErrAdapter and the context's", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Scan returned after %v", d)
	}
}

func TestContextCancelWhilePolling(t *testing.T) {
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

// Without Refresh-After the wait doubles from PollInterval up to
// MaxPollInterval. Timers never fire early, so the gaps between polls the
// fake sees are at least the planned waits.
func TestBackoff(t *testing.T) {
	f := newFake()
	f.pending = 5
	s := newScanner(t, f, func(o *harbor.Options) {
		o.PollInterval = 10 * time.Millisecond
		o.MaxPollInterval = 40 * time.Millisecond
	})
	if _, err := s.Scan(t.Context(), image); err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{10, 20, 40, 40, 40}
	if len(f.pollTimes) != 6 {
		t.Fatalf("%d polls, want 6", len(f.pollTimes))
	}
	for i, w := range want {
		if gap := f.pollTimes[i+1].Sub(f.pollTimes[i]); gap < w*time.Millisecond {
			t.Errorf("gap %d = %v, want at least %v", i, gap, w*time.Millisecond)
		}
	}
}

// Refresh-After is honoured (in seconds), but capped by MaxPollInterval.
func TestRefreshAfter(t *testing.T) {
	f := newFake()
	f.pending, f.refreshAfter = 1, "1"
	s := newScanner(t, f, func(o *harbor.Options) { o.MaxPollInterval = 5 * time.Second })
	if _, err := s.Scan(t.Context(), image); err != nil {
		t.Fatal(err)
	}
	if gap := f.pollTimes[1].Sub(f.pollTimes[0]); gap < time.Second {
		t.Errorf("polled again after %v, want the 1s of Refresh-After", gap)
	}

	f = newFake()
	f.pending, f.refreshAfter = 2, "3600"
	s = newScanner(t, f, func(o *harbor.Options) { o.MaxPollInterval = 20 * time.Millisecond })
	start := time.Now()
	if _, err := s.Scan(t.Context(), image); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Refresh-After of an hour was not capped: %v", d)
	}
}

// A caller's http.Client that follows redirects is not changed, and the
// scanner still reads the 302s instead of following them.
func TestClientRedirectsNotFollowed(t *testing.T) {
	f := newFake()
	f.pending = 1
	client := &http.Client{}
	s := newScanner(t, f, func(o *harbor.Options) { o.Client = client })
	if _, err := s.Scan(t.Context(), image); err != nil {
		t.Fatal(err)
	}
	if client.CheckRedirect != nil {
		t.Error("New modified the caller's client")
	}
	if len(f.pollTimes) != 2 {
		t.Errorf("%d polls, want 2", len(f.pollTimes))
	}
}

func TestInvalidRequest(t *testing.T) {
	s := newScanner(t, newFake(), nil)
	for _, req := range []scan.Request{
		{Manifest: image.Manifest},
		{Repository: "a", Manifest: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: "sha256:short"}},
	} {
		if _, err := s.Scan(t.Context(), req); !errors.Is(err, harbor.ErrInvalid) {
			t.Errorf("Scan(%+v) error = %v, want ErrInvalid", req, err)
		}
	}
}

func TestNewValidates(t *testing.T) {
	for _, o := range []harbor.Options{
		{},
		{Endpoint: "ftp://x", RegistryURL: "https://r"},
		{Endpoint: "http://adapter?x=1", RegistryURL: "https://r"},
		{Endpoint: "http://adapter", RegistryURL: "not a url"},
		{Endpoint: "http://adapter", RegistryURL: "https://r", MaxWait: -1},
		{Endpoint: "http://adapter", RegistryURL: "https://r", MaxPollInterval: -1},
		{Endpoint: "http://adapter", RegistryURL: "https://r", AdapterAuthorization: "Bearer x\r\nX-Evil: 1"},
	} {
		if _, err := harbor.New(o); !errors.Is(err, harbor.ErrInvalid) {
			t.Errorf("New(%+v) error = %v, want ErrInvalid", o, err)
		}
	}
}
