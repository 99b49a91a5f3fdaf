package httpapi_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/berth-dev/berth/httpapi"
	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/policy/authn"
	"github.com/berth-dev/berth/registry"
	"github.com/berth-dev/berth/storage/memory"
)

// ExampleAuthenticator plugs an application's own authentication into the
// handler: a session cookie and TLS client certificates, chained with
// static credentials. The registry's Authorizer then decides per request.
func ExampleAuthenticator() {
	sessions := map[string]*policy.Principal{"s3ss10n": {ID: "u-7", Name: "web-user"}}
	cookie := httpapi.AuthenticatorFunc(func(r *http.Request) (*policy.Principal, error) {
		c, err := r.Cookie("session")
		if err != nil {
			return nil, nil // no cookie: not ours
		}
		if p := sessions[c.Value]; p != nil {
			return p, nil
		}
		return nil, fmt.Errorf("session expired: %w", authn.ErrInvalidCredentials)
	})
	mTLS := httpapi.AuthenticatorFunc(func(r *http.Request) (*policy.Principal, error) {
		// The http.Server verified the chain (tls.Config.ClientAuth).
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			return nil, nil
		}
		cn := r.TLS.PeerCertificates[0].Subject.CommonName
		return &policy.Principal{ID: "cert:" + cn, Name: cn, Groups: []string{"machines"}}, nil
	})

	// Only authenticated principals may do anything here.
	authz := policy.AuthorizerFunc(func(_ context.Context, in policy.Input) (policy.Decision, error) {
		return policy.Decision{Allow: in.Principal != nil}, nil
	})
	reg, err := registry.New(memory.New(), registry.WithAuthorizer(authz))
	if err != nil {
		log.Fatal(err)
	}
	h, err := httpapi.New(reg, httpapi.WithAuthenticator(httpapi.ChainAuthenticators(
		cookie, mTLS, httpapi.BasicAuthenticator(authn.NewCredentials(), nil))))
	if err != nil {
		log.Fatal(err)
	}

	try := func(name string, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		fmt.Println(strings.TrimSpace(fmt.Sprintln(name, rec.Code, rec.Header().Get("WWW-Authenticate"))))
	}
	try("nothing", httptest.NewRequest(http.MethodGet, "/v2/", nil))

	r := httptest.NewRequest(http.MethodGet, "/v2/_catalog", nil)
	r.AddCookie(&http.Cookie{Name: "session", Value: "s3ss10n"})
	try("cookie", r)

	r = httptest.NewRequest(http.MethodGet, "/v2/_catalog", nil)
	r.AddCookie(&http.Cookie{Name: "session", Value: "stale"})
	try("stale cookie", r)

	r = httptest.NewRequest(http.MethodGet, "/v2/_catalog", nil)
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{Subject: pkix.Name{CommonName: "ci-runner"}}}}
	try("certificate", r)
	// Output:
	// nothing 401 Basic realm="berth"
	// cookie 200
	// stale cookie 401 Basic realm="berth"
	// certificate 200
}

// ExampleWithTokenEndpoint serves the Docker token flow: a client is
// challenged, fetches a scoped bearer token with its credentials, and
// retries with it.
func ExampleWithTokenEndpoint() {
	creds := authn.NewCredentials()
	id, secret, _ := authn.GenerateCredential()
	_ = creds.Add(id, secret, policy.Principal{ID: "u-1", Name: "ci"})
	tokens, err := authn.NewTokenService(authn.TokenOptions{})
	if err != nil {
		log.Fatal(err)
	}
	reg, err := registry.New(memory.New()) // AllowAll: any authenticated principal
	if err != nil {
		log.Fatal(err)
	}
	h, err := httpapi.New(reg,
		httpapi.WithAuthenticator(httpapi.BasicAuthenticator(creds, tokens)),
		httpapi.WithTokenEndpoint("/token", tokens, "https://registry.example.com/token", "registry.example.com"))
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/v2/", h)
	mux.Handle("/token", h)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// 1. The client is challenged.
	resp, err := http.Get(srv.URL + "/v2/team/app/tags/list")
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("WWW-Authenticate"))

	// 2. It asks the realm for a token, with its credentials.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/token?service=registry.example.com&scope="+url.QueryEscape("repository:team/app:pull"), nil)
	req.SetBasicAuth(id, secret)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	var tok struct {
		Token     string `json:"token"`
		ExpiresIn int    `json:"expires_in"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, tok.ExpiresIn)

	// 3. It retries with the token.
	req, _ = http.NewRequest(http.MethodGet, srv.URL+"/v2/team/app/tags/list", nil)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode) // the repository does not exist

	// The token covers pulls only.
	req, _ = http.NewRequest(http.MethodDelete, srv.URL+"/v2/team/app/manifests/latest", nil)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	// Output:
	// 401 Bearer realm="https://registry.example.com/token",service="registry.example.com",scope="repository:team/app:pull"
	// 200 900
	// 404
	// 401 Bearer realm="https://registry.example.com/token",service="registry.example.com",scope="repository:team/app:delete",error="insufficient_scope"
}
