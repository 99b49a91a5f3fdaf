package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/policy/authn"
	"github.com/berth-dev/berth/registry"
)

// Token endpoint limits.
const (
	// maxTokenScopes bounds the scopes of one token request.
	maxTokenScopes = 32
	// maxTokenForm bounds the body of an OAuth2 token request.
	maxTokenForm = 16 << 10
)

// tokenResponse is the token endpoint's answer.
//
// Reference: https://distribution.github.io/distribution/spec/auth/token/#token-response-fields
type tokenResponse struct {
	Token       string `json:"token,omitempty"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
	IssuedAt    string `json:"issued_at"`
	// Scope is set in OAuth2 answers.
	Scope string `json:"scope,omitempty"`
}

// serveToken serves the token endpoint of WithTokenEndpoint: GET with Basic
// credentials, or POST with an OAuth2 password grant.
//
// References:
// https://distribution.github.io/distribution/spec/auth/token/
// https://distribution.github.io/distribution/spec/auth/oauth/
func (h *Handler) serveToken(w http.ResponseWriter, r *http.Request) {
	var q map[string][]string
	oauth := false
	switch r.Method {
	case http.MethodGet:
		q = r.URL.Query()
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, maxTokenForm)
		if err := r.ParseForm(); err != nil {
			writeOAuthError(w, "invalid_request")
			return
		}
		q = r.PostForm
		if g := r.PostForm.Get("grant_type"); g != "password" {
			// Refresh tokens are not issued; clients fall back to GET.
			writeOAuthError(w, "unsupported_grant_type")
			return
		}
		// Check the form's credentials as Basic credentials.
		r = r.Clone(r.Context())
		r.Header["Authorization"] = []string{"Basic " + base64.StdEncoding.EncodeToString(
			[]byte(r.PostForm.Get("username")+":"+r.PostForm.Get("password")))}
		oauth = true
	default:
		w.Header()["Allow"] = []string{"GET, POST"}
		h.writeError(w, r, "", methodNotAllowed(r.Method))
		return
	}

	// A bearer token never buys another one.
	if scheme, _, _ := authorization(r); strings.EqualFold(scheme, "Bearer") {
		h.writeError(w, r, "", &authError{err: fmt.Errorf("token requests take Basic credentials: %w", authn.ErrInvalidCredentials)})
		return
	}
	id, err := h.tokenAuth.AuthenticateScoped(r)
	switch {
	case err != nil:
		h.writeError(w, r, "", credentialsError(err))
		return
	case id.Principal == nil:
		h.writeError(w, r, "", errNoCredentials)
		return
	case id.Scoped:
		h.writeError(w, r, "", &authError{err: fmt.Errorf("scoped credentials cannot request tokens: %w", authn.ErrInvalidCredentials)})
		return
	}
	if svc := q["service"]; len(svc) > 0 && (len(svc) > 1 || svc[0] != h.service) {
		h.writeError(w, r, "", fmt.Errorf("token request for service %q, this is %q: %w", truncate(strings.Join(svc, ",")), h.service, registry.ErrInvalidParameter))
		return
	}
	scopes, err := requestedScopes(q["scope"])
	if err != nil {
		h.writeError(w, r, "", err)
		return
	}
	// Issuing a token is ECR's GetAuthorizationToken: the principal needs
	// that action, as in ECR, whatever the scopes asked for.
	ctx := policy.WithPrincipal(r.Context(), id.Principal)
	if policy.SourceIPFrom(ctx) == "" {
		if ip := h.clientIP(r); ip != "" {
			ctx = policy.WithSourceIP(ctx, ip)
		}
	}
	if err := h.reg.Authorize(ctx, policy.ActionGetAuthorizationToken, "", ""); err != nil {
		h.writeError(w, r, "", fmt.Errorf("issue token: %w", err))
		return
	}
	st, err := h.tokens.IssueScoped(id.Principal, scopes, 0)
	if err != nil {
		h.writeError(w, r, "", fmt.Errorf("issue token: %w", err))
		return
	}
	resp := tokenResponse{
		AccessToken: st.Token,
		ExpiresIn:   int64(st.ExpiresAt.Sub(st.IssuedAt) / time.Second),
		IssuedAt:    st.IssuedAt.Format(time.RFC3339),
	}
	if oauth {
		granted := make([]string, len(scopes))
		for i, s := range scopes {
			granted[i] = s.String()
		}
		resp.Scope = strings.Join(granted, " ")
	} else {
		resp.Token = st.Token
	}
	body, err := json.Marshal(resp)
	if err != nil {
		h.writeError(w, r, "", err)
		return
	}
	hdr := w.Header()
	hdr["Content-Type"] = contentTypeJSON
	hdr["Content-Length"] = []string{strconv.Itoa(len(body))}
	hdr["Cache-Control"] = []string{"no-store"}
	hdr["Pragma"] = []string{"no-cache"}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// requestedScopes parses the scope parameters of a token request. Each may
// hold several scopes separated by spaces. Scopes that are malformed, of
// an unknown type or without a known action are dropped: the token flow lets
// a server grant less than asked, and the client then fails with 401.
func requestedScopes(params []string) ([]authn.Scope, error) {
	var out []authn.Scope
	n := 0
	for _, p := range params {
		for f := range strings.FieldsSeq(p) {
			if n++; n > maxTokenScopes {
				return nil, fmt.Errorf("more than %d scopes: %w", maxTokenScopes, registry.ErrInvalidParameter)
			}
			s, err := authn.ParseScope(f)
			if err != nil || len(s.Actions) == 0 {
				continue
			}
			if s.Type == authn.ScopeRepository && registry.ValidateName(s.Name) != nil {
				continue
			}
			out = merge(out, s)
		}
	}
	return out, nil
}

// merge adds s to scopes, joining the actions of scopes on one resource.
func merge(scopes []authn.Scope, s authn.Scope) []authn.Scope {
	for i := range scopes {
		if scopes[i].Type == s.Type && scopes[i].Name == s.Name {
			for _, a := range s.Actions {
				scopes[i].Actions = appendNew(scopes[i].Actions, a)
			}
			return scopes
		}
	}
	return append(scopes, s)
}

func appendNew(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// writeOAuthError answers a malformed OAuth2 token request.
//
// Reference: https://www.rfc-editor.org/rfc/rfc6749#section-5.2
func writeOAuthError(w http.ResponseWriter, code string) {
	body := `{"error":"` + code + `"}`
	hdr := w.Header()
	hdr["Content-Type"] = contentTypeJSON
	hdr["Content-Length"] = []string{strconv.Itoa(len(body))}
	hdr["Cache-Control"] = []string{"no-store"}
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write([]byte(body))
}
