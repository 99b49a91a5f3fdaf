package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"

	"github.com/berth-dev/berth/policy/authn"
	"github.com/berth-dev/berth/registry"
)

// Shared header values. net/http never modifies header slices, so one slice
// serves every response and the hot path does not allocate for them.
var (
	apiVersion         = []string{"registry/2.0"}
	contentTypeJSON    = []string{"application/json"}
	contentTypeOctet   = []string{"application/octet-stream"}
	contentTypeIndex   = []string{"application/vnd.oci.image.index.v1+json"}
	contentLengthZero  = []string{"0"}
	contentLengthTwo   = []string{"2"}
	acceptRangesBytes  = []string{"bytes"}
	filtersArtifactTyp = []string{"artifactType"}
)

// emptyJSON is the body of the API version check.
var emptyJSON = []byte("{}")

// DefaultAuthChallenge is the WWW-Authenticate value sent with a 401.
const DefaultAuthChallenge = `Basic realm="berth"`

// Handler serves the OCI distribution API for a Registry. It is safe for
// concurrent use. Create one with New and mount it at /v2/:
//
//	h, err := httpapi.New(reg)
//	mux.Handle("/v2/", h)
type Handler struct {
	reg             *registry.Registry
	log             *slog.Logger
	challenge       string
	maxManifestSize int64

	// Authentication (auth.go, token.go). auth is nil without
	// WithAuthenticator.
	auth           ScopedAuthenticator
	anonymous      bool
	trustedProxies []netip.Prefix
	// The token endpoint, when tokens is set: tokenAuth checks the
	// credentials of token requests.
	tokens        *authn.TokenService
	tokenAuth     ScopedAuthenticator
	tokenPath     string
	realm         string
	realmAbsolute bool
	service       string
}

type options struct {
	logger         *slog.Logger
	challenge      string
	challengeSet   bool
	authenticator  Authenticator
	anonymous      bool
	trustedProxies []netip.Prefix
	tokenPath      string
	tokens         *authn.TokenService
	realm          string
	service        string
}

// Option configures a Handler.
type Option func(*options) error

// WithLogger sets the logger for server faults (level error) and canceled
// requests (level debug); client mistakes are not logged. Log records carry
// the keys method, path, repo, status and err. The default is the registry's logger (reg.Logger()), which
// discards everything unless the registry was given one.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("httpapi: nil Logger")
		}
		o.logger = l
		return nil
	}
}

// WithAuthChallenge sets the WWW-Authenticate header value sent with every
// 401 UNAUTHORIZED response, for example
// `Basic realm="https://registry.example.com/",service="berth"` or, for an
// external token server, `Bearer realm="https://auth.example.com/token",service="registry"`.
// It conflicts with WithTokenEndpoint, whose challenges are computed per
// request. The default is DefaultAuthChallenge.
func WithAuthChallenge(challenge string) Option {
	return func(o *options) error {
		if challenge == "" {
			return errors.New("httpapi: empty auth challenge")
		}
		o.challenge = challenge
		o.challengeSet = true
		return nil
	}
}

// New returns a Handler serving reg. It validates the options and starts
// nothing: no goroutines, no listeners.
func New(reg *registry.Registry, opts ...Option) (*Handler, error) {
	if reg == nil {
		return nil, errors.New("httpapi: nil Registry")
	}
	o := options{challenge: DefaultAuthChallenge}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.logger == nil {
		o.logger = reg.Logger()
	}
	h := &Handler{
		reg:             reg,
		log:             o.logger,
		challenge:       o.challenge,
		maxManifestSize: reg.MaxManifestSize(),
		anonymous:       o.anonymous,
		trustedProxies:  o.trustedProxies,
	}
	if err := h.setAuth(&o); err != nil {
		return nil, err
	}
	return h, nil
}

// ServeHTTP routes a request to its endpoint.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer h.recoverPanic(w, r)
	w.Header()["Docker-Distribution-Api-Version"] = apiVersion
	if h.tokens != nil && r.URL.Path == h.tokenPath {
		h.serveToken(w, r)
		return
	}
	rt := parseRoute(r.URL.Path)
	r, err := h.authenticate(r, rt)
	if err == nil {
		err = h.route(w, r, rt)
	}
	if err != nil {
		if errors.Is(err, registry.ErrUnsupported) && rt.kind != routeUnknown {
			w.Header()["Allow"] = []string{rt.kind.allowedMethods()}
		}
		h.writeError(w, r, rt.name, err)
	}
}

// route serves a request with the endpoint it names.
func (h *Handler) route(w http.ResponseWriter, r *http.Request, rt route) error {
	switch rt.kind {
	case routeBase:
		return h.serveBase(w, r)
	case routeCatalog:
		return h.serveCatalog(w, r)
	case routeTags:
		return h.serveTags(w, r, rt.name)
	case routeManifest:
		return h.serveManifest(w, r, rt.name, rt.ref)
	case routeBlob:
		return h.serveBlob(w, r, rt.name, rt.ref)
	case routeUploadNew:
		return h.serveUploadNew(w, r, rt.name)
	case routeUpload:
		return h.serveUpload(w, r, rt.name, rt.ref)
	case routeReferrers:
		return h.serveReferrers(w, r, rt.name, rt.ref)
	}
	return fmt.Errorf("%q: %w", truncate(r.URL.Path), errRouteUnknown)
}

// recoverPanic turns a panic into a 500 as a last resort. Handlers must not
// rely on it. http.ErrAbortHandler keeps its meaning.
func (h *Handler) recoverPanic(w http.ResponseWriter, r *http.Request) {
	p := recover()
	if p == nil {
		return
	}
	if p == http.ErrAbortHandler { //nolint:errorlint // sentinel panic value
		panic(p)
	}
	repo := parseRoute(r.URL.Path).name
	h.log.ErrorContext(r.Context(), "panic serving request", "method", r.Method, "path", r.URL.Path, "repo", repo, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	h.writeError(w, r, repo, fmt.Errorf("panic: %v", p))
}

// serveBase answers the API version check.
//
// Reference: https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#determining-support
func (h *Handler) serveBase(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return methodNotAllowed(r.Method)
	}
	hdr := w.Header()
	hdr["Content-Type"] = contentTypeJSON
	hdr["Content-Length"] = contentLengthTwo
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(emptyJSON)
	}
	return nil
}
