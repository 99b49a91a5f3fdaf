package harbor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/scan"
)

// Media types of the Pluggable Scanner API.
const (
	MediaTypeScanRequest  = "application/vnd.scanner.adapter.scan.request+json; version=1.0"
	MediaTypeScanResponse = "application/vnd.scanner.adapter.scan.response+json; version=1.0"
	MediaTypeError        = "application/vnd.scanner.adapter.error+json; version=1.0"
	// MediaTypeVulnerabilityReport is the vulnerability report of spec
	// v1.1 (with preferred_cvss, cwe_ids and layer), which Harbor 2.x asks
	// for and current adapters (Trivy) produce. It is preferred.
	MediaTypeVulnerabilityReport = "application/vnd.security.vulnerability.report; version=1.1"
	// MediaTypeReport is the older Harbor vulnerability report, asked for
	// when an adapter does not produce MediaTypeVulnerabilityReport;
	// versions 1.0 and 1.1 share the fields read here.
	MediaTypeReport = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.1"

	mediaTypeVulnerabilityReport = "application/vnd.security.vulnerability.report"
	mediaTypeReport              = "application/vnd.scanner.adapter.vuln.report.harbor+json"
)

// Sentinel errors.
var (
	// ErrAdapter wraps every failure to get a report from the adapter:
	// transport errors, refused requests, a failed scan (the adapter's
	// 500 on the report, with its message), malformed or oversized
	// answers, waiting longer than Options.MaxWait.
	ErrAdapter = errors.New("harbor scanner adapter")
	// ErrInvalid is returned by New for invalid Options and by Scan for a
	// request without a repository or with an invalid digest.
	ErrInvalid = errors.New("harbor: invalid options or request")
)

// Options configures a Scanner.
type Options struct {
	// Endpoint is the adapter's base URL, e.g. "http://trivy-adapter:8080".
	Endpoint string
	// RegistryURL is the base URL under which the adapter reaches this
	// registry to pull the image, e.g. "https://berth.internal:5000".
	RegistryURL string
	// PullAuthorization returns the Authorization header value the adapter
	// sends to the registry to pull repo ("Basic …" or "Bearer …"). It
	// should be short-lived and allow pulls of that repository only. Nil
	// sends none (an open registry).
	PullAuthorization func(ctx context.Context, repo string) (string, error)
	// AdapterAuthorization, if set, is sent as the Authorization header of
	// every request to the adapter.
	AdapterAuthorization string
	// Client is the HTTP client for the adapter (for TLS settings or a
	// transport); the default is a client with http.DefaultTransport. New
	// uses a copy that does not follow redirects: the 302 of a pending
	// report is read, not followed.
	Client *http.Client
	// PollInterval is the first wait between report polls when the
	// adapter gives no Refresh-After; the wait doubles at each poll up to
	// MaxPollInterval. The default is 1s.
	PollInterval time.Duration
	// MaxPollInterval caps the wait between polls, including a
	// Refresh-After asking for longer. The default is 30s.
	MaxPollInterval time.Duration
	// MaxWait bounds a whole scan; default 30 minutes.
	MaxWait time.Duration
	// MaxResponseSize bounds every answer read; default 64 MiB.
	MaxResponseSize int64
	// MetadataTTL is how long the adapter's metadata is cached; default 5
	// minutes.
	MetadataTTL time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Scanner scans images through a Harbor scanner adapter. It is safe for
// concurrent use.
type Scanner struct {
	o        Options
	endpoint *url.URL

	mu       sync.Mutex
	meta     *Metadata
	metaTime time.Time
}

var _ scan.Scanner = (*Scanner)(nil)

// New validates opts and returns a Scanner. It does no I/O.
func New(opts Options) (*Scanner, error) {
	u, err := url.Parse(opts.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%w: Endpoint %q is not an http(s) URL without query", ErrInvalid, opts.Endpoint)
	}
	if r, err := url.Parse(opts.RegistryURL); err != nil || (r.Scheme != "http" && r.Scheme != "https") || r.Host == "" {
		return nil, fmt.Errorf("%w: RegistryURL %q is not an http(s) URL", ErrInvalid, opts.RegistryURL)
	}
	if opts.PollInterval < 0 || opts.MaxPollInterval < 0 || opts.MaxWait < 0 || opts.MaxResponseSize < 0 || opts.MetadataTTL < 0 {
		return nil, fmt.Errorf("%w: negative duration or size in Options", ErrInvalid)
	}
	if strings.ContainsAny(opts.AdapterAuthorization, "\r\n") {
		return nil, fmt.Errorf("%w: AdapterAuthorization has a line break", ErrInvalid)
	}
	client := &http.Client{}
	if opts.Client != nil {
		*client = *opts.Client
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	opts.Client = client
	if opts.PollInterval == 0 {
		opts.PollInterval = time.Second
	}
	if opts.MaxPollInterval == 0 {
		opts.MaxPollInterval = 30 * time.Second
	}
	opts.MaxPollInterval = max(opts.MaxPollInterval, opts.PollInterval)
	if opts.MaxWait == 0 {
		opts.MaxWait = 30 * time.Minute
	}
	if opts.MaxResponseSize == 0 {
		opts.MaxResponseSize = 64 << 20
	}
	if opts.MetadataTTL == 0 {
		opts.MetadataTTL = 5 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return &Scanner{o: opts, endpoint: u}, nil
}

// Metadata is the adapter's description of itself (ScannerAdapterMetadata).
type Metadata struct {
	Scanner      ScannerInfo       `json:"scanner"`
	Capabilities []Capability      `json:"capabilities"`
	Properties   map[string]string `json:"properties,omitempty"`
}

// ScannerInfo names the scanner behind an adapter.
type ScannerInfo struct {
	Name    string `json:"name"`
	Vendor  string `json:"vendor"`
	Version string `json:"version"`
}

// Capability is a set of artifact media types an adapter scans and the
// report media types it produces for them.
type Capability struct {
	ConsumesMimeTypes []string `json:"consumes_mime_types"`
	ProducesMimeTypes []string `json:"produces_mime_types"`
}

// reportType returns the report media type to ask for an artifact of
// media type mt, MediaTypeVulnerabilityReport's kind first, or "" if the
// adapter does not consume mt or produces no vulnerability report for it.
func (m *Metadata) reportType(mt string) string {
	var older string
	for _, c := range m.Capabilities {
		if !slices.Contains(c.ConsumesMimeTypes, mt) {
			continue
		}
		for _, p := range c.ProducesMimeTypes {
			base, _, err := mime.ParseMediaType(p)
			switch {
			case err != nil:
			case base == mediaTypeVulnerabilityReport:
				return p
			case base == mediaTypeReport && older == "":
				older = p
			}
		}
	}
	return older
}

// Metadata returns the adapter's metadata, cached for Options.MetadataTTL.
func (s *Scanner) Metadata(ctx context.Context) (Metadata, error) {
	s.mu.Lock()
	if s.meta != nil && s.o.Now().Sub(s.metaTime) < s.o.MetadataTTL {
		m := *s.meta
		s.mu.Unlock()
		return m, nil
	}
	s.mu.Unlock()
	var m Metadata
	resp, err := s.do(ctx, http.MethodGet, "/api/v1/metadata", "", nil)
	if err != nil {
		return m, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return m, s.adapterError(resp, "metadata")
	}
	if err := s.decode(resp, &m); err != nil {
		return m, fmt.Errorf("metadata: %w", err)
	}
	s.mu.Lock()
	s.meta, s.metaTime = &m, s.o.Now()
	s.mu.Unlock()
	return m, nil
}

type scanRequest struct {
	Registry struct {
		URL           string `json:"url"`
		Authorization string `json:"authorization,omitempty"`
	} `json:"registry"`
	Artifact struct {
		Repository string `json:"repository"`
		Digest     string `json:"digest"`
		Tag        string `json:"tag,omitempty"`
		MimeType   string `json:"mime_type"`
	} `json:"artifact"`
}

// Scan asks the adapter to scan req's image and waits for its report.
//
// An image whose media type the adapter does not consume gives a report
// with status UNSUPPORTED_IMAGE. Failures of the adapter, including a scan
// that the adapter reports as failed, are errors wrapping ErrAdapter; the
// context's error is wrapped too when it ended the wait. A request without
// a repository or with an invalid digest is an error wrapping ErrInvalid.
func (s *Scanner) Scan(ctx context.Context, req scan.Request) (scan.Report, error) {
	if req.Repository == "" {
		return scan.Report{}, fmt.Errorf("%w: request without a repository", ErrInvalid)
	}
	if err := req.Manifest.Digest.Validate(); err != nil {
		return scan.Report{}, fmt.Errorf("%w: manifest digest %q: %w", ErrInvalid, req.Manifest.Digest, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.MaxWait)
	defer cancel()
	meta, err := s.Metadata(ctx)
	if err != nil {
		return scan.Report{}, err
	}
	accept := meta.reportType(req.Manifest.MediaType)
	if accept == "" {
		return scan.Report{
			Status:      scan.StatusUnsupportedImage,
			Description: clip(fmt.Sprintf("scanner %s %s does not scan %s", clip(meta.Scanner.Name, 128), clip(meta.Scanner.Version, 64), req.Manifest.MediaType), 1024),
			CompletedAt: s.o.Now(),
		}, nil
	}
	var sr scanRequest
	sr.Registry.URL = s.o.RegistryURL
	if s.o.PullAuthorization != nil {
		a, err := s.o.PullAuthorization(ctx, req.Repository)
		if err != nil {
			return scan.Report{}, fmt.Errorf("harbor: pull credential for %s: %w", req.Repository, err)
		}
		sr.Registry.Authorization = a
	}
	sr.Artifact.Repository = req.Repository
	sr.Artifact.Digest = req.Manifest.Digest.String()
	sr.Artifact.MimeType = req.Manifest.MediaType
	body, err := json.Marshal(sr)
	if err != nil {
		return scan.Report{}, fmt.Errorf("harbor: encode scan request: %w", err)
	}
	resp, err := s.do(ctx, http.MethodPost, "/api/v1/scan", MediaTypeScanRequest, body)
	if err != nil {
		return scan.Report{}, err
	}
	var ack struct {
		ID string `json:"id"`
	}
	if resp.StatusCode != http.StatusAccepted {
		err := s.adapterError(resp, "scan request")
		resp.Body.Close()
		return scan.Report{}, err
	}
	err = s.decode(resp, &ack)
	resp.Body.Close()
	if err != nil {
		return scan.Report{}, fmt.Errorf("scan response: %w", err)
	}
	if ack.ID == "" || len(ack.ID) > 256 || strings.ContainsAny(ack.ID, "/?#") {
		return scan.Report{}, fmt.Errorf("%w: scan response: invalid scan ID %q", ErrAdapter, ack.ID)
	}
	return s.poll(ctx, ack.ID, accept, meta)
}

// poll fetches the report until it is ready, waiting between polls for
// the adapter's Refresh-After or, without one, an interval that doubles
// from PollInterval; every wait is at most MaxPollInterval.
func (s *Scanner) poll(ctx context.Context, id, accept string, meta Metadata) (scan.Report, error) {
	path := "/api/v1/scan/" + url.PathEscape(id) + "/report"
	backoff := s.o.PollInterval
	for {
		resp, err := s.do(ctx, http.MethodGet, path, "", nil, "Accept", accept)
		if err != nil {
			return scan.Report{}, err
		}
		switch resp.StatusCode {
		case http.StatusOK:
			var hr harborReport
			err := s.decode(resp, &hr)
			resp.Body.Close()
			if err != nil {
				return scan.Report{}, fmt.Errorf("report %s: %w", id, err)
			}
			return s.convert(hr, meta), nil
		case http.StatusFound, http.StatusAccepted:
			wait := backoff
			backoff = min(2*backoff, s.o.MaxPollInterval)
			if ra, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Refresh-After"))); err == nil && ra > 0 {
				wait = time.Duration(min(ra, 86400)) * time.Second
			}
			wait = min(wait, s.o.MaxPollInterval)
			drain(resp)
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return scan.Report{}, fmt.Errorf("%w: waiting for report %s: %w", ErrAdapter, id, ctx.Err())
			case <-t.C:
			}
		default:
			// 500 is a failed scan (the spec's only other final answer),
			// 404 an ID the adapter forgot (restarted): both may succeed
			// when retried.
			err := s.adapterError(resp, "report "+id)
			resp.Body.Close()
			return scan.Report{}, err
		}
	}
}

func (s *Scanner) do(ctx context.Context, method, path, contentType string, body []byte, header ...string) (*http.Response, error) {
	u := *s.endpoint
	u.Path += path
	u.RawPath = ""
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAdapter, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if s.o.AdapterAuthorization != "" {
		req.Header.Set("Authorization", s.o.AdapterAuthorization)
	}
	resp, err := s.o.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %s: %w", ErrAdapter, method, path, err)
	}
	return resp, nil
}

// decode reads a JSON body through the size limit.
func (s *Scanner) decode(resp *http.Response, v any) error {
	b, err := io.ReadAll(io.LimitReader(resp.Body, s.o.MaxResponseSize+1))
	if err != nil {
		return fmt.Errorf("%w: read: %w", ErrAdapter, err)
	}
	if int64(len(b)) > s.o.MaxResponseSize {
		return fmt.Errorf("%w: answer over %d bytes", ErrAdapter, s.o.MaxResponseSize)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: malformed JSON: %w", ErrAdapter, err)
	}
	return nil
}

// errorMessage returns the adapter's error message, or the status.
func (s *Scanner) errorMessage(resp *http.Response) string {
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
		return clip(e.Error.Message, 1024)
	}
	return resp.Status
}

func (s *Scanner) adapterError(resp *http.Response, what string) error {
	return fmt.Errorf("%w: %s: %d: %s", ErrAdapter, what, resp.StatusCode, s.errorMessage(resp))
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// harborReport is the part of both report types read here.
type harborReport struct {
	Scanner struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"scanner"`
	Vulnerabilities []vulnerability `json:"vulnerabilities"`
}

type vulnerability struct {
	ID          string   `json:"id"`
	Package     string   `json:"package"`
	Version     string   `json:"version"`
	FixVersion  string   `json:"fix_version"`
	Severity    string   `json:"severity"`
	Description string   `json:"description"`
	Links       []string `json:"links"`
	// PreferredCVSS is the rating of the v1.1 vulnerability report.
	PreferredCVSS *struct {
		ScoreV3  json.RawMessage `json:"score_v3"`
		ScoreV2  json.RawMessage `json:"score_v2"`
		VectorV3 string          `json:"vector_v3"`
		VectorV2 string          `json:"vector_v2"`
	} `json:"preferred_cvss"`
	// Layer is the layer that introduced the package (v1.1 report).
	Layer *struct {
		Digest string `json:"digest"`
	} `json:"layer"`
	// CVSS fields of the older Harbor report; scores are strings there,
	// numbers in some adapters.
	CVSS3Score  json.RawMessage `json:"cve3_score"`
	CVSS3Vector string          `json:"cvss3_vector"`
	CVSS2Score  json.RawMessage `json:"cve2_score"`
	CVSS2Vector string          `json:"cvss2_vector"`
	// VendorAttributes is free-form; Trivy's adapter puts
	// {"CVSS": {"nvd": {"V3Vector": …, "V3Score": …}}} there.
	VendorAttributes map[string]json.RawMessage `json:"vendor_attributes"`
}

var severities = map[string]string{
	"unknown":    scan.SeverityUndefined,
	"negligible": scan.SeverityInformational,
	"low":        scan.SeverityLow,
	"medium":     scan.SeverityMedium,
	"high":       scan.SeverityHigh,
	"critical":   scan.SeverityCritical,
}

// propDatabaseUpdated is the metadata property with the time of the
// adapter's vulnerability data.
const propDatabaseUpdated = "harbor.scanner-adapter/vulnerability-database-updated-at"

// convert maps a report to Berth's. DatabaseVersion is the scanner's name
// and version, and the time of its vulnerability data if the metadata
// gives it: "Trivy 0.58.0 (database 2026-11-25T06:00:00Z)".
func (s *Scanner) convert(hr harborReport, meta Metadata) scan.Report {
	rep := scan.Report{Status: scan.StatusComplete, CompletedAt: s.o.Now()}
	name, version := hr.Scanner.Name, hr.Scanner.Version
	if name == "" {
		name, version = meta.Scanner.Name, meta.Scanner.Version
	}
	rep.DatabaseVersion = strings.TrimSpace(clip(name, 128) + " " + clip(version, 64))
	if db := meta.Properties[propDatabaseUpdated]; db != "" {
		rep.DatabaseVersion = strings.TrimSpace(rep.DatabaseVersion + " (database " + clip(db, 64) + ")")
	}
	for _, v := range hr.Vulnerabilities {
		f := scan.Finding{
			ID:               v.ID,
			Description:      v.Description,
			Package:          v.Package,
			InstalledVersion: v.Version,
			FixedVersion:     v.FixVersion,
			Severity:         severities[strings.ToLower(v.Severity)],
			CVSS:             cvssOf(v),
		}
		if f.Severity == "" {
			f.Severity = scan.SeverityUndefined
		}
		if v.Layer != nil {
			if d, err := digest.Parse(v.Layer.Digest); err == nil {
				f.Layer = d
			}
		}
		for _, l := range v.Links {
			if u, err := url.Parse(l); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
				f.References = append(f.References, l)
			}
		}
		if len(f.References) > 0 {
			f.URI = f.References[0]
		}
		rep.Findings = append(rep.Findings, f)
	}
	sort.SliceStable(rep.Findings, func(i, j int) bool {
		a, b := rep.Findings[i], rep.Findings[j]
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		return a.Package < b.Package
	})
	rep.SeverityCounts = scan.CountSeverities(rep.Findings)
	return rep
}

// cvssOf returns the finding's CVSS rating: a v3 rating with a vector from
// preferred_cvss, the older report's fields, or Trivy's vendor attributes
// (NVD first), in that order; else a v2 rating from the same places.
func cvssOf(v vulnerability) *scan.CVSS {
	pc := v.PreferredCVSS
	if pc != nil && pc.VectorV3 != "" {
		return &scan.CVSS{Version: cvssVersion(pc.VectorV3, "3.0"), Vector: pc.VectorV3, Score: score(pc.ScoreV3)}
	}
	if v.CVSS3Vector != "" {
		return &scan.CVSS{Version: cvssVersion(v.CVSS3Vector, "3.0"), Vector: v.CVSS3Vector, Score: score(v.CVSS3Score)}
	}
	if raw, ok := v.VendorAttributes["CVSS"]; ok {
		var bySource map[string]struct {
			V3Vector string  `json:"V3Vector"`
			V3Score  float64 `json:"V3Score"`
			V2Vector string  `json:"V2Vector"`
			V2Score  float64 `json:"V2Score"`
		}
		if json.Unmarshal(raw, &bySource) == nil {
			sources := make([]string, 0, len(bySource))
			for k := range bySource {
				sources = append(sources, k)
			}
			sort.Slice(sources, func(i, j int) bool {
				if (sources[i] == "nvd") != (sources[j] == "nvd") {
					return sources[i] == "nvd"
				}
				return sources[i] < sources[j]
			})
			for _, src := range sources {
				c := bySource[src]
				if c.V3Vector != "" {
					return &scan.CVSS{Version: cvssVersion(c.V3Vector, "3.0"), Vector: c.V3Vector, Score: c.V3Score, Source: src}
				}
			}
		}
	}
	if pc != nil && pc.VectorV2 != "" {
		return &scan.CVSS{Version: "2.0", Vector: pc.VectorV2, Score: score(pc.ScoreV2)}
	}
	if v.CVSS2Vector != "" {
		return &scan.CVSS{Version: "2.0", Vector: v.CVSS2Vector, Score: score(v.CVSS2Score)}
	}
	return nil
}

func cvssVersion(vector, def string) string {
	if rest, ok := strings.CutPrefix(vector, "CVSS:"); ok {
		if v, _, ok := strings.Cut(rest, "/"); ok {
			return v
		}
	}
	return def
}

// score reads a score given as a JSON number or string.
func score(raw json.RawMessage) float64 {
	var f float64
	if json.Unmarshal(raw, &f) == nil {
		return f
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		f, _ = strconv.ParseFloat(strings.TrimSpace(s), 64)
	}
	return f
}

// clip cuts s to at most n bytes, at a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
