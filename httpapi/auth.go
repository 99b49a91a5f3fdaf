package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/policy/authn"
	"github.com/berth-dev/berth/registry"
)

// Authenticator finds out who sent a request. It returns (nil, nil) when
// the request carries no credentials it understands, a principal when it
// carries good ones, and an error wrapping authn.ErrInvalidCredentials,
// authn.ErrTokenInvalid, authn.ErrTokenExpired or registry.ErrUnauthorized
// when it carries bad ones (401). Any other error is a server fault (500,
// logged), for example an identity provider that cannot be reached.
//
// An Authenticator only authenticates; the registry's policy.Authorizer
// decides what the principal may do. Implementations must be safe for
// concurrent use and should not read the request body.
type Authenticator interface {
	Authenticate(r *http.Request) (*policy.Principal, error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(r *http.Request) (*policy.Principal, error)

// Authenticate calls f.
func (f AuthenticatorFunc) Authenticate(r *http.Request) (*policy.Principal, error) { return f(r) }

// Identity is what a ScopedAuthenticator found.
type Identity struct {
	// Principal is nil when the request carries no credentials.
	Principal *policy.Principal
	// Scoped is set for credentials limited to Scopes, such as bearer
	// tokens. Credentials without limits leave it false.
	Scoped bool
	// Scopes are what Scoped credentials cover. They grant nothing by
	// themselves: the Authorizer still decides every request.
	Scopes []authn.Scope
}

// ScopedAuthenticator is an extension of Authenticator for credentials that
// cover some scopes only, such as the bearer tokens of the Docker token
// flow. The Handler calls AuthenticateScoped when it is available, and
// answers a request the scopes do not cover with 401 and
// error="insufficient_scope" before the registry sees it. Authenticate
// returns the principal without its limits: wrap a ScopedAuthenticator
// only with ChainAuthenticators, which keeps them.
type ScopedAuthenticator interface {
	Authenticator
	AuthenticateScoped(r *http.Request) (Identity, error)
}

// BasicAuthenticator authenticates "Authorization: Basic" with static
// credentials (the user name is the access key ID, the password its
// secret) or, with the user name "AWS", an ECR-style authorization token
// from tokens.Issue as the password, which is what docker login sends after
// aws ecr get-login-password. Either argument may be nil to accept only the
// other kind. Other authorization schemes are left to other
// Authenticators: (nil, nil).
func BasicAuthenticator(creds *authn.Credentials, tokens *authn.TokenService) Authenticator {
	return basicAuthenticator{creds: creds, tokens: tokens}
}

type basicAuthenticator struct {
	creds  *authn.Credentials
	tokens *authn.TokenService
}

func (a basicAuthenticator) Authenticate(r *http.Request) (*policy.Principal, error) {
	scheme, _, err := authorization(r)
	if err != nil || !strings.EqualFold(scheme, "Basic") {
		return nil, err
	}
	user, pass, ok := r.BasicAuth()
	switch {
	case !ok:
		return nil, fmt.Errorf("malformed Basic credentials: %w", authn.ErrInvalidCredentials)
	case user == authn.TokenUsername && a.tokens != nil:
		return a.tokens.Verify(pass)
	case user != authn.TokenUsername && a.creds != nil:
		return a.creds.Authenticate(user, pass)
	}
	return nil, fmt.Errorf("user %q: %w", truncate(user), authn.ErrInvalidCredentials)
}

// BearerAuthenticator authenticates "Authorization: Bearer" with the scoped
// tokens of tokens.IssueScoped, as the token endpoint (WithTokenEndpoint)
// hands them out. Other schemes are left to other Authenticators.
// WithTokenEndpoint installs one itself; use this only to accept bearer
// tokens issued elsewhere with the same keys.
func BearerAuthenticator(tokens *authn.TokenService) ScopedAuthenticator {
	return bearerAuthenticator{tokens: tokens}
}

type bearerAuthenticator struct{ tokens *authn.TokenService }

func (a bearerAuthenticator) Authenticate(r *http.Request) (*policy.Principal, error) {
	id, err := a.AuthenticateScoped(r)
	return id.Principal, err
}

func (a bearerAuthenticator) AuthenticateScoped(r *http.Request) (Identity, error) {
	scheme, cred, err := authorization(r)
	if err != nil || !strings.EqualFold(scheme, "Bearer") {
		return Identity{}, err
	}
	p, scopes, err := a.tokens.VerifyScoped(cred)
	if err != nil {
		return Identity{}, &authError{err: err, code: "invalid_token"}
	}
	return Identity{Principal: p, Scoped: true, Scopes: scopes}, nil
}

// authorization splits the Authorization header into its scheme and
// credentials. A request with several Authorization headers is refused, so
// that no proxy in front can check one and let Berth use another.
func authorization(r *http.Request) (scheme, credentials string, err error) {
	v := r.Header["Authorization"]
	switch len(v) {
	case 0:
		return "", "", nil
	case 1:
	default:
		return "", "", fmt.Errorf("%d Authorization headers: %w", len(v), authn.ErrInvalidCredentials)
	}
	scheme, credentials, _ = strings.Cut(v[0], " ")
	return scheme, strings.TrimLeft(credentials, " "), nil
}

// ChainAuthenticators tries each Authenticator in turn and returns the
// first principal found. An error stops the chain: bad credentials are not
// passed on to the next Authenticator. Scoped identities keep their scopes.
func ChainAuthenticators(as ...Authenticator) ScopedAuthenticator {
	c := make(chain, 0, len(as))
	for _, a := range as {
		if a != nil {
			c = append(c, a)
		}
	}
	return c
}

type chain []Authenticator

func (c chain) Authenticate(r *http.Request) (*policy.Principal, error) {
	id, err := c.AuthenticateScoped(r)
	return id.Principal, err
}

func (c chain) AuthenticateScoped(r *http.Request) (Identity, error) {
	for _, a := range c {
		id, err := authenticate(a, r)
		if err != nil || id.Principal != nil {
			return id, err
		}
	}
	return Identity{}, nil
}

func authenticate(a Authenticator, r *http.Request) (Identity, error) {
	if sa, ok := a.(ScopedAuthenticator); ok {
		return sa.AuthenticateScoped(r)
	}
	p, err := a.Authenticate(r)
	return Identity{Principal: p}, err
}

// authError is a 401: bad or missing credentials, or credentials whose
// scopes do not cover the request. It matches registry.ErrUnauthorized and
// the error it wraps.
type authError struct {
	err error
	// code is the error parameter of a Bearer challenge: "invalid_token",
	// "insufficient_scope" or "".
	code string
}

func (e *authError) Error() string {
	return registry.ErrUnauthorized.Error() + ": " + e.err.Error()
}

func (e *authError) Unwrap() []error { return []error{registry.ErrUnauthorized, e.err} }

// errNoCredentials answers a request without credentials when anonymous
// requests are not allowed.
var errNoCredentials = &authError{err: errors.New("no credentials")}

// credentialsError classifies an Authenticator's error: bad credentials
// are a 401, anything else a server fault.
func credentialsError(err error) error {
	if ae := (*authError)(nil); errors.As(err, &ae) {
		return ae
	}
	for _, target := range [...]error{authn.ErrInvalidCredentials, authn.ErrTokenInvalid, authn.ErrTokenExpired, registry.ErrUnauthorized} {
		if errors.Is(err, target) {
			return &authError{err: err}
		}
	}
	return fmt.Errorf("authenticate: %w", err)
}

// authenticate is the Handler's first step: it puts the client's address
// and, with an Authenticator, its principal into the request context. It
// fails when credentials are bad, missing (unless anonymous requests are
// allowed), or scoped and not covering the request. A principal already in
// the context, put there by a middleware, counts as authenticated; a
// source IP already there is kept.
func (h *Handler) authenticate(r *http.Request, rt route) (*http.Request, error) {
	ctx := r.Context()
	changed := false
	if h.auth != nil && policy.PrincipalFrom(ctx) == nil {
		id, err := h.auth.AuthenticateScoped(r)
		if err != nil {
			return r, credentialsError(err)
		}
		if id.Principal == nil {
			if !h.anonymous {
				return r, errNoCredentials
			}
		} else {
			if id.Scoped {
				if err := checkScopes(r, rt, id.Scopes); err != nil {
					return r, err
				}
			}
			ctx = policy.WithPrincipal(ctx, id.Principal)
			changed = true
		}
	}
	if policy.SourceIPFrom(ctx) == "" {
		if ip := h.clientIP(r); ip != "" {
			ctx = policy.WithSourceIP(ctx, ip)
			changed = true
		}
	}
	if changed {
		r = r.WithContext(ctx)
	}
	return r, nil
}

// access is what a request needs from a bearer token's scopes.
type access struct {
	typ, name string
	// need is the action the scopes must cover.
	need string
	// ask is the actions a challenge asks for: clients request push
	// together with pull.
	ask string
}

func (a access) scope() string { return a.typ + ":" + a.name + ":" + a.ask }

// requiredAccess returns what a request needs: pull to read, push (asked
// as pull,push) to write or upload, delete to delete, registry:catalog:* for
// the catalog, and pull on the source repository of a mount as well.
// The version check and unknown paths need nothing.
func requiredAccess(r *http.Request, rt route) []access {
	repo := func(need, ask string) access {
		return access{typ: authn.ScopeRepository, name: rt.name, need: need, ask: ask}
	}
	read := repo(authn.ActionPull, authn.ActionPull)
	write := repo(authn.ActionPush, authn.ActionPull+","+authn.ActionPush)
	switch rt.kind {
	case routeCatalog:
		return []access{{typ: authn.ScopeRegistry, name: "catalog", need: authn.ActionAll, ask: authn.ActionAll}}
	case routeTags, routeReferrers:
		return []access{read}
	case routeManifest, routeBlob:
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			return []access{read}
		case http.MethodDelete:
			return []access{repo(authn.ActionDelete, authn.ActionDelete)}
		}
		return []access{write}
	case routeUploadNew:
		if r.Method == http.MethodPost {
			q := r.URL.Query()
			if from := q.Get("from"); from != "" && q.Get("mount") != "" && from != rt.name {
				return []access{write, {typ: authn.ScopeRepository, name: from, need: authn.ActionPull, ask: authn.ActionPull}}
			}
		}
		return []access{write}
	case routeUpload:
		return []access{write}
	}
	return nil
}

// checkScopes refuses a request that scopes do not cover.
//
// Reference: https://distribution.github.io/distribution/spec/auth/token/
func checkScopes(r *http.Request, rt route, scopes []authn.Scope) error {
	for _, a := range requiredAccess(r, rt) {
		if !authn.ScopesAllow(scopes, a.typ, a.name, a.need) {
			return &authError{err: fmt.Errorf("token does not cover %s:%s:%s", a.typ, truncate(a.name), a.need), code: "insufficient_scope"}
		}
	}
	return nil
}

// setChallenge sets the WWW-Authenticate header of a 401. With a token
// endpoint it is a Bearer challenge naming the scope the request needs;
// otherwise the static challenge (WithAuthChallenge).
func (h *Handler) setChallenge(hdr http.Header, r *http.Request, err error) {
	if h.tokens == nil {
		if h.challenge != "" {
			hdr["Www-Authenticate"] = []string{h.challenge}
		}
		return
	}
	var b strings.Builder
	if r.URL.Path == h.tokenPath {
		// The token endpoint itself takes Basic credentials.
		b.WriteString("Basic realm=")
		b.WriteString(quote(h.service))
		hdr["Www-Authenticate"] = []string{b.String()}
		return
	}
	b.WriteString("Bearer realm=")
	b.WriteString(quote(h.realmFor(r)))
	b.WriteString(",service=")
	b.WriteString(quote(h.service))
	if acc := requiredAccess(r, parseRoute(r.URL.Path)); len(acc) > 0 {
		scopes := make([]string, len(acc))
		for i, a := range acc {
			scopes[i] = a.scope()
		}
		b.WriteString(",scope=")
		b.WriteString(quote(strings.Join(scopes, " ")))
	}
	if ae := (*authError)(nil); errors.As(err, &ae) && ae.code != "" {
		b.WriteString(",error=")
		b.WriteString(quote(ae.code))
	}
	hdr["Www-Authenticate"] = []string{b.String()}
}

// quote makes an RFC 9110 quoted-string.
func quote(s string) string {
	if !strings.ContainsAny(s, `"\`) {
		return `"` + s + `"`
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// realmFor returns the token endpoint's URL: the configured realm if it is
// absolute, else the request's scheme and Host with the realm's path.
func (h *Handler) realmFor(r *http.Request) string {
	if h.realmAbsolute {
		return h.realm
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	} else if p := r.Header.Get("X-Forwarded-Proto"); (p == "https" || p == "http") && h.fromTrustedProxy(r) {
		scheme = p
	}
	return scheme + "://" + r.Host + h.realm
}

// clientIP returns the client's address: the peer's, or with trusted
// proxies, the first address of X-Forwarded-For, read from the right, that
// is not a trusted proxy. It returns "" if the peer's address is not an IP
// address (a Unix socket).
func (h *Handler) clientIP(r *http.Request) string {
	host := hostOf(r.RemoteAddr)
	if host == "" {
		return ""
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return ""
	}
	if addr.Is4In6() || addr.Zone() != "" {
		addr = addr.Unmap().WithZone("")
		host = addr.String()
	}
	if len(h.trustedProxies) == 0 || !h.trusted(addr) {
		return host
	}
	client := addr
	xff := r.Header["X-Forwarded-For"]
	for i := len(xff) - 1; i >= 0; i-- {
		hops := strings.Split(xff[i], ",")
		for j := len(hops) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[j]))
			if err != nil {
				// A trusted proxy sent garbage: trust it no further.
				return client.String()
			}
			client = a.Unmap().WithZone("")
			if !h.trusted(client) {
				return client.String()
			}
		}
	}
	return client.String()
}

func (h *Handler) trusted(a netip.Addr) bool {
	for _, p := range h.trustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (h *Handler) fromTrustedProxy(r *http.Request) bool {
	if len(h.trustedProxies) == 0 {
		return false
	}
	a, err := netip.ParseAddr(hostOf(r.RemoteAddr))
	return err == nil && h.trusted(a.Unmap().WithZone(""))
}

// hostOf returns the host part of a RemoteAddr ("1.2.3.4:80",
// "[2001:db8::1]:80"), or the whole if it has no port. It is
// net.SplitHostPort without allocating on odd input.
func hostOf(remote string) string {
	i := strings.LastIndexByte(remote, ':')
	if i < 0 {
		return remote
	}
	host := remote[:i]
	if len(host) >= 2 && host[0] == '[' && host[len(host)-1] == ']' {
		return host[1 : len(host)-1]
	}
	if strings.IndexByte(host, ':') >= 0 {
		return remote // an IPv6 address without a port
	}
	return host
}

// WithAuthenticator makes the Handler authenticate every request with a,
// before the registry sees it, and put the principal found into the
// request context (policy.WithPrincipal), where the registry's Authorizer
// finds it. Bad credentials are answered 401 UNAUTHORIZED; so are requests
// without credentials unless WithAnonymous(true). Combine several
// Authenticators with ChainAuthenticators. The default is no Authenticator:
// the Handler passes on whatever principal a middleware put into the
// context, or none.
func WithAuthenticator(a Authenticator) Option {
	return func(o *options) error {
		if a == nil {
			return errors.New("httpapi: nil Authenticator")
		}
		o.authenticator = a
		return nil
	}
}

// WithAnonymous, with an Authenticator, lets requests without credentials
// through with no principal, for the registry's Authorizer to decide
// (policy/rego allows them only with Options.AllowAnonymous and a
// statement for "*"); the version check /v2/ then answers 200 to them. A
// request the Authorizer denies is answered 401 with a challenge, so that
// clients holding credentials present them. Requests with bad credentials
// are refused either way. The default is false: requests without
// credentials are answered 401 before they reach the registry.
func WithAnonymous(allow bool) Option {
	return func(o *options) error {
		o.anonymous = allow
		return nil
	}
}

// WithTrustedProxies names the reverse proxies whose X-Forwarded-For (and,
// for the token realm, X-Forwarded-Proto) headers are believed. The
// client's address, which the registry hands to its Authorizer
// (policy.Input.SourceIP, aws:SourceIp), is the peer's address, or, when
// the peer is a trusted proxy, the rightmost X-Forwarded-For address that
// is not a trusted proxy. The default is none: X-Forwarded-For is ignored.
func WithTrustedProxies(prefixes []netip.Prefix) Option {
	return func(o *options) error {
		for _, p := range prefixes {
			if !p.IsValid() {
				return fmt.Errorf("httpapi: invalid trusted proxy prefix %v", p)
			}
			o.trustedProxies = append(o.trustedProxies, p.Masked())
		}
		return nil
	}
}

// WithTokenEndpoint serves the Docker/OCI token endpoint at path and
// accepts the bearer tokens it issues, so that clients (docker, containerd,
// go-containerregistry, oras) log in with the token flow:
//
//  1. A request without a good token is answered 401 with
//     WWW-Authenticate: Bearer realm="<realm>",service="<service>",scope="repository:<name>:<actions>"
//     where the scope is what the request needs: pull for GET and HEAD,
//     pull,push for pushes and uploads, delete for DELETE,
//     registry:catalog:* for the catalog, and pull on the source of a
//     mount as well.
//  2. The client asks the endpoint, GET <path>?service=<service>&scope=<scope>,
//     with its credentials as Basic authentication, checked by the
//     WithAuthenticator Authenticator (static credentials, or the user
//     "AWS" and a password from tokens.Issue, with BasicAuthenticator). An
//     OAuth2 password grant (POST, grant_type=password), which containerd
//     tries first, is accepted too.
//  3. The endpoint asks the registry's Authorizer whether the principal
//     may call ecr:GetAuthorizationToken (registry.Authorize, registry-wide)
//     and answers 403 DENIED, with no token, if not: issuing a token is
//     ECR's GetAuthorizationToken. Otherwise it answers {"token",
//     "access_token", "expires_in", "issued_at"} with a bearer token from
//     tokens.IssueScoped, valid for the scopes requested, as requested: the
//     endpoint does not check them against any policy, and a token is never
//     minted from another bearer token.
//  4. The client retries with Authorization: Bearer <token>.
//
// Scopes limit a token; they never grant anything. The registry's
// Authorizer still decides every request for the token's principal, so a
// scope the principal has no permission for is useless, and a request
// outside the token's scopes is refused before the Authorizer is asked:
// 401 with error="insufficient_scope" in the challenge, as the
// distribution token specification says, so that clients fetch a token
// with the missing scope (403 would end the push). A request the
// Authorizer denies is 403 DENIED.
//
// realm is the URL clients fetch tokens from. If it is "" or a path, the
// realm is built per request from its scheme (https with TLS, or a trusted
// proxy's X-Forwarded-Proto) and Host, with the path (path itself if realm
// is ""); behind a proxy that rewrites Host, give an absolute URL. service
// names the registry in challenges and token requests ("berth" if ""); a
// token request naming another service is refused.
//
// Mount the Handler at path too when path is outside /v2/:
//
//	mux.Handle("/v2/", h)
//	mux.Handle("/token", h)
//
// WithTokenEndpoint needs WithAuthenticator and conflicts with
// WithAuthChallenge. The default is no token endpoint: 401 responses carry
// the static challenge of WithAuthChallenge, Basic by default.
func WithTokenEndpoint(path string, tokens *authn.TokenService, realm, service string) Option {
	return func(o *options) error {
		if !strings.HasPrefix(path, "/") {
			return fmt.Errorf("httpapi: token endpoint path %q does not start with /", path)
		}
		if tokens == nil {
			return errors.New("httpapi: nil TokenService")
		}
		if service == "" {
			service = "berth"
		}
		o.tokenPath, o.tokens, o.realm, o.service = path, tokens, realm, service
		return nil
	}
}

// setAuth applies the authentication options.
func (h *Handler) setAuth(o *options) error {
	if o.authenticator != nil {
		h.auth = ChainAuthenticators(o.authenticator)
	}
	if o.tokens == nil {
		return nil
	}
	if o.authenticator == nil {
		return errors.New("httpapi: WithTokenEndpoint needs WithAuthenticator to check the credentials of token requests")
	}
	if o.challengeSet {
		return errors.New("httpapi: WithAuthChallenge conflicts with WithTokenEndpoint")
	}
	realm := o.realm
	if realm == "" {
		realm = o.tokenPath
	}
	u, err := url.Parse(realm)
	switch {
	case err != nil:
		return fmt.Errorf("httpapi: token realm: %w", err)
	case u.IsAbs() && u.Host != "":
		h.realmAbsolute = true
	case !strings.HasPrefix(realm, "/") || u.Host != "":
		return fmt.Errorf("httpapi: token realm %q is neither an absolute URL nor a path", realm)
	}
	if strings.ContainsAny(o.service, "\"\\") {
		return fmt.Errorf("httpapi: token service %q contains a quote or backslash", o.service)
	}
	h.tokenAuth = h.auth
	h.auth = ChainAuthenticators(BearerAuthenticator(o.tokens), o.authenticator)
	h.tokens, h.tokenPath, h.realm, h.service = o.tokens, o.tokenPath, realm, o.service
	return nil
}
