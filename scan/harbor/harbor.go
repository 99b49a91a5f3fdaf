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

	"github.com/berth-dev/berth/scan"
)

// Media types of the Pluggable Scanner API.
const (
	MediaTypeScanRequest  = "application/vnd.scanner.adapter.scan.request+json; version=1.0"
	MediaTypeScanResponse = "application/vnd.scanner.adapter.scan.response+json; version=1.0"
	MediaTypeError        = "application/vnd.scanner.adapter.error+json; version=1.0"
	// MediaTypeReport is the Harbor vulnerability report; versions 1.0
	// and 1.1 share the fields read here.
	MediaTypeReport = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.1"
	mediaTypeReport = "application/vnd.scanner.adapter.vuln.report.harbor+json"
)

// ErrAdapter wraps every failure to get a report from the adapter:
// transport errors, refused requests, malformed or oversized answers,
// waiting longer than Options.MaxWait.
var ErrAdapter = errors.New("harbor scanner adapter")

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
	// Client is the HTTP client for the adapter; nil means a client
	// without redirects following (the 302 of a pending report is read,
	// not followed).
	Client *http.Client
	// PollInterval is the wait between report polls when the adapter
	// gives no Refresh-After, and the least wait; default 1s.
	PollInterval time.Duration
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
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("harbor: Endpoint %q is not an http(s) URL", opts.Endpoint)
	}
	if r, err := url.Parse(opts.RegistryURL); err != nil || (r.Scheme != "http" && r.Scheme != "https") || r.Host == "" {
		return nil, fmt.Errorf("harbor: RegistryURL %q is not an http(s) URL", opts.RegistryURL)
	}
	if opts.PollInterval < 0 || opts.MaxWait < 0 || opts.MaxResponseSize < 0 || opts.MetadataTTL < 0 {
		return nil, errors.New("harbor: negative duration or size in Options")
	}
	if opts.Client == nil {
		opts.Client = &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = time.Second
	}
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

// Metadata is the adapter's description of itself.
type Metadata struct {
	Scanner struct {
		Name    string `json:"name"`
		Vendor  string `json:"vendor"`
		Version string `json:"version"`
	} `json:"scanner"`
	Capabilities []struct {
		ConsumesMimeTypes []string `json:"consumes_mime_types"`
		ProducesMimeTypes []string `json:"produces_mime_types"`
	} `json:"capabilities"`
	Properties map[string]string `json:"properties,omitempty"`
}

// reportType returns the report media type to ask for an artifact of
// media type mt, or "" if the adapter does not consume it.
func (m *Metadata) reportType(mt string) string {
	for _, c := range m.Capabilities {
		if !slices.Contains(c.ConsumesMimeTypes, mt) {
			continue
		}
		for _, p := range c.ProducesMimeTypes {
			if base, _, err := mime.ParseMediaType(p); err == nil && base == mediaTypeReport {
				return p
			}
		}
	}
	return ""
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
func (s *Scanner) Scan(ctx context.Context, req scan.Request) (scan.Report, error) {
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
			Description: fmt.Sprintf("scanner %s %s does not scan %s", meta.Scanner.Name, meta.Scanner.Version, req.Manifest.MediaType),
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
		return scan.Report{}, err
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
	return s.poll(ctx, ack.ID, accept)
}

// poll fetches the report until it is ready.
func (s *Scanner) poll(ctx context.Context, id, accept string) (scan.Report, error) {
	path := "/api/v1/scan/" + url.PathEscape(id) + "/report"
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
			return s.convert(hr), nil
		case http.StatusFound, http.StatusAccepted:
			wait := s.o.PollInterval
			if ra, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Refresh-After"))); err == nil && ra > 0 {
				wait = max(wait, time.Duration(min(ra, 3600))*time.Second)
			}
			drain(resp)
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return scan.Report{}, fmt.Errorf("%w: waiting for report %s: %w", ErrAdapter, id, ctx.Err())
			case <-t.C:
			}
		case http.StatusInternalServerError:
			// The scan ran and failed: that is the image's result.
			msg := s.errorMessage(resp)
			resp.Body.Close()
			return scan.Report{
				Status:      scan.StatusFailed,
				Description: "scanner adapter: " + msg,
				CompletedAt: s.o.Now(),
			}, nil
		default:
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
		msg := e.Error.Message
		if len(msg) > 1024 {
			msg = msg[:1024] + "…"
		}
		return msg
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

type harborReport struct {
	GeneratedAt time.Time `json:"generated_at"`
	Scanner     struct {
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
	// CVSS fields of spec v1.1; scores are strings there, numbers in
	// some adapters.
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

func (s *Scanner) convert(hr harborReport) scan.Report {
	rep := scan.Report{Status: scan.StatusComplete, CompletedAt: s.o.Now()}
	if hr.Scanner.Name != "" {
		rep.DatabaseVersion = strings.TrimSpace(hr.Scanner.Name + " " + hr.Scanner.Version)
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

// cvssOf returns the finding's CVSS rating: the report's v3 fields, else
// Trivy's vendor attributes (NVD first), else the v2 fields.
func cvssOf(v vulnerability) *scan.CVSS {
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
