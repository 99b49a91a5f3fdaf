package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-dev/berth/httpapi"
	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/policy/authn"
	"github.com/berth-dev/berth/policy/rego"
	"github.com/berth-dev/berth/registry"
)

// Principals of the security tests. Their names make their IAM user ARNs
// (arn:aws:iam::000000000000:user/<name>) in the rego policies.
var (
	principalAlice   = policy.Principal{ID: "u-alice", Name: "alice", Groups: []string{"dev"}}
	principalMallory = policy.Principal{ID: "u-mallory", Name: "mallory"}
	principalBob     = policy.Principal{ID: "u-bob", Name: "bob"}
)

// Repository policies: alice may do anything in test/repo, test/other and
// test/nope (which does not exist); mallory is denied explicitly; bob may
// push to test/other only. Identity policy: alice may list the catalog.
const (
	policyRepo = `{"Version": "2012-10-17", "Statement": [
	  {"Sid": "Alice", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:user/alice"}, "Action": "ecr:*"},
	  {"Sid": "NoMallory", "Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::000000000000:user/mallory"}, "Action": "ecr:*"}]}`
	policyOther = `{"Version": "2012-10-17", "Statement": [
	  {"Sid": "Alice", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:user/alice"}, "Action": "ecr:*"},
	  {"Sid": "BobPush", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:user/bob"},
	   "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability",
	              "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage"]}]}`
	policyCatalog = `{"Version": "2012-10-17", "Statement": [
	  {"Effect": "Allow", "Action": "ecr:DescribeRepositories", "Resource": "*"}]}`
	// policyToken lets alice and bob fetch tokens (ECR's
	// GetAuthorizationToken); mallory may not.
	policyToken = `{"Version": "2012-10-17", "Statement": [
	  {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}]}`
)

// authWorld holds what every environment of the security tests shares:
// credentials, token services and the rego authorizer.
type authWorld struct {
	creds  *authn.Credentials
	tokens *authn.TokenService
	// expired shares tokens' keys with a clock 13 hours late: its tokens
	// have expired. other has keys of its own.
	expired, other *authn.TokenService
	authz          *rego.Authorizer
	keys           map[string][2]string // principal name → access key ID, secret
}

func newAuthWorld(t testing.TB) *authWorld {
	t.Helper()
	w := &authWorld{creds: authn.NewCredentials(), keys: map[string][2]string{}}
	for _, p := range []policy.Principal{principalAlice, principalMallory, principalBob} {
		id, secret, err := authn.GenerateCredential()
		if err != nil {
			t.Fatal(err)
		}
		if err := w.creds.Add(id, secret, p); err != nil {
			t.Fatal(err)
		}
		w.keys[p.Name] = [2]string{id, secret}
	}
	var err error
	if w.tokens, err = authn.NewTokenService(authn.TokenOptions{}); err != nil {
		t.Fatal(err)
	}
	late := func() time.Time { return time.Now().Add(-13 * time.Hour) }
	if w.expired, err = authn.NewTokenService(authn.TokenOptions{Keys: w.tokens.Keys(), Now: late}); err != nil {
		t.Fatal(err)
	}
	if w.other, err = authn.NewTokenService(authn.TokenOptions{}); err != nil {
		t.Fatal(err)
	}
	w.authz, err = rego.New(context.Background(), rego.Options{
		RepositoryPolicies: map[string]string{repo: policyRepo, "test/nope": policyRepo, otherRepo: policyOther},
		IdentityPolicies: map[string][]string{
			"arn:aws:iam::000000000000:user/alice": {policyCatalog, policyToken},
			"arn:aws:iam::000000000000:user/bob":   {policyToken},
		},
	})
	if err != nil {
		t.Fatalf("rego.New() error = %v", err)
	}
	return w
}

// authEnv is a fixture registry, governed by the world's authorizer, behind
// a handler that authenticates.
type authEnv struct {
	*fixture
	h   *httpapi.Handler
	srv *httptest.Server
}

// newEnv returns a fresh environment. With tokenFlow, the handler serves
// the token endpoint at /token and accepts bearer tokens; without, it
// takes Basic credentials only.
func (w *authWorld) newEnv(t testing.TB, tokenFlow bool, extra ...httpapi.Option) *authEnv {
	t.Helper()
	sw := &switchAuthorizer{}
	f := newFixture(t, registry.WithAuthorizer(sw))
	ctx := context.Background()
	upload := func(content string) string {
		st, err := f.reg.StartUpload(ctx, repo)
		if err == nil && content != "" {
			_, err = f.reg.WriteUpload(ctx, repo, st.ID, 0, strings.NewReader(content))
		}
		if err != nil {
			t.Fatalf("upload: %v", err)
		}
		return st.ID
	}
	f.vars["{patchUpload}"] = upload("")
	f.vars["{putUpload}"] = upload("abc")
	f.vars["{abc}"] = digest.FromString("abc").String()
	f.vars["{cancelUpload}"] = upload("")
	f.vars["{fakeUpload}"] = strings.Repeat("0", 32)
	// Setup done: from now on the policies decide.
	sw.set(func(in policy.Input) (policy.Decision, error) { return w.authz.Authorize(context.Background(), in) })

	opts := []httpapi.Option{
		httpapi.WithLogger(slog.New(slog.DiscardHandler)),
		httpapi.WithAuthenticator(httpapi.BasicAuthenticator(w.creds, w.tokens)),
	}
	if tokenFlow {
		opts = append(opts, httpapi.WithTokenEndpoint("/token", w.tokens, "", "berth"))
	}
	h, err := httpapi.New(f.reg, append(opts, extra...)...)
	if err != nil {
		t.Fatalf("httpapi.New() error = %v", err)
	}
	e := &authEnv{fixture: f, h: h, srv: httptest.NewServer(h)}
	t.Cleanup(e.srv.Close)
	return e
}

// request sends a request with an Authorization header (none if auth is
// "") and returns the response with its body read.
func (e *authEnv) request(t testing.TB, method, path, auth, body string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(e.expand(body))
	}
	req, err := http.NewRequest(method, e.srv.URL+e.expand(path), rd)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// tamper changes one character in the middle of a token.
func tamper(tok string) string {
	i := len(tok) / 2
	c := byte('A')
	if tok[i] == 'A' {
		c = 'B'
	}
	return tok[:i] + string(c) + tok[i+1:]
}

// endpoint is one row of the matrix: a request on something that exists,
// and the same request on things that do not.
type endpoint struct {
	name    string
	method  string
	path    string
	missing []string
	body    string
	hdr     map[string]string
	// allowed is the status for a principal the policies allow.
	allowed int
	// scope is the scope of a Bearer challenge, "" for none.
	scope string
}

var authEndpoints = []endpoint{
	{name: "base", method: http.MethodGet, path: "/v2/", allowed: http.StatusOK},
	{name: "catalog", method: http.MethodGet, path: "/v2/_catalog", allowed: http.StatusOK, scope: "registry:catalog:*"},
	{name: "tags list", method: http.MethodGet, path: "/v2/test/repo/tags/list", missing: []string{"/v2/test/nope/tags/list"},
		allowed: http.StatusOK, scope: "repository:test/repo:pull"},
	{name: "manifest GET", method: http.MethodGet, path: "/v2/test/repo/manifests/latest",
		missing: []string{"/v2/test/repo/manifests/nope", "/v2/test/repo/manifests/{unknownDigest}", "/v2/test/nope/manifests/latest"},
		allowed: http.StatusOK, scope: "repository:test/repo:pull"},
	{name: "manifest HEAD", method: http.MethodHead, path: "/v2/test/repo/manifests/{manifest}",
		missing: []string{"/v2/test/repo/manifests/nope", "/v2/test/repo/manifests/{unknownDigest}", "/v2/test/nope/manifests/{manifest}"},
		allowed: http.StatusOK, scope: "repository:test/repo:pull"},
	{name: "manifest PUT", method: http.MethodPut, path: "/v2/test/repo/manifests/newtag", missing: []string{"/v2/test/nope/manifests/newtag"},
		body: "{manifestPayload}", hdr: map[string]string{"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
		allowed: http.StatusCreated, scope: "repository:test/repo:pull,push"},
	{name: "manifest DELETE", method: http.MethodDelete, path: "/v2/test/repo/manifests/v1",
		missing: []string{"/v2/test/repo/manifests/nope", "/v2/test/nope/manifests/v1"},
		allowed: http.StatusAccepted, scope: "repository:test/repo:delete"},
	{name: "blob GET", method: http.MethodGet, path: "/v2/test/repo/blobs/{layer}",
		missing: []string{"/v2/test/repo/blobs/{unknownDigest}", "/v2/test/nope/blobs/{layer}"},
		allowed: http.StatusOK, scope: "repository:test/repo:pull"},
	{name: "blob HEAD", method: http.MethodHead, path: "/v2/test/repo/blobs/{layer}",
		missing: []string{"/v2/test/repo/blobs/{unknownDigest}", "/v2/test/nope/blobs/{layer}"},
		allowed: http.StatusOK, scope: "repository:test/repo:pull"},
	{name: "blob DELETE", method: http.MethodDelete, path: "/v2/test/repo/blobs/{sha512blob}",
		missing: []string{"/v2/test/repo/blobs/{unknownDigest}", "/v2/test/nope/blobs/{sha512blob}"},
		allowed: http.StatusAccepted, scope: "repository:test/repo:delete"},
	{name: "upload POST", method: http.MethodPost, path: "/v2/test/repo/blobs/uploads/", missing: []string{"/v2/test/nope/blobs/uploads/"},
		allowed: http.StatusAccepted, scope: "repository:test/repo:pull,push"},
	{name: "upload PATCH", method: http.MethodPatch, path: "/v2/test/repo/blobs/uploads/{patchUpload}",
		missing: []string{"/v2/test/repo/blobs/uploads/{fakeUpload}", "/v2/test/nope/blobs/uploads/{patchUpload}"},
		body:    "more", hdr: map[string]string{"Content-Type": "application/octet-stream"},
		allowed: http.StatusAccepted, scope: "repository:test/repo:pull,push"},
	{name: "upload PUT", method: http.MethodPut, path: "/v2/test/repo/blobs/uploads/{putUpload}?digest={abc}",
		missing: []string{"/v2/test/repo/blobs/uploads/{fakeUpload}?digest={abc}", "/v2/test/nope/blobs/uploads/{putUpload}?digest={abc}"},
		allowed: http.StatusCreated, scope: "repository:test/repo:pull,push"},
	{name: "upload GET", method: http.MethodGet, path: "/v2/test/repo/blobs/uploads/{upload}",
		missing: []string{"/v2/test/repo/blobs/uploads/{fakeUpload}", "/v2/test/nope/blobs/uploads/{upload}"},
		allowed: http.StatusNoContent, scope: "repository:test/repo:pull,push"},
	{name: "upload DELETE", method: http.MethodDelete, path: "/v2/test/repo/blobs/uploads/{cancelUpload}",
		missing: []string{"/v2/test/repo/blobs/uploads/{fakeUpload}", "/v2/test/nope/blobs/uploads/{cancelUpload}"},
		allowed: http.StatusNoContent, scope: "repository:test/repo:pull,push"},
	{name: "mount", method: http.MethodPost, path: "/v2/test/other/blobs/uploads/?mount={layer}&from=test/repo",
		missing: []string{"/v2/test/other/blobs/uploads/?mount={unknownDigest}&from=test/repo", "/v2/test/other/blobs/uploads/?mount={layer}&from=test/nope"},
		allowed: http.StatusCreated, scope: "repository:test/other:pull,push repository:test/repo:pull"},
	{name: "referrers", method: http.MethodGet, path: "/v2/test/repo/referrers/{manifest}",
		missing: []string{"/v2/test/repo/referrers/{unknownDigest}", "/v2/test/nope/referrers/{manifest}"},
		allowed: http.StatusOK, scope: "repository:test/repo:pull"},
}

// outcome is what a request should get.
type outcome int

const (
	// unauthorized: 401 with the challenge.
	unauthorized outcome = iota
	// invalidToken: 401 with error="invalid_token" in a Bearer challenge.
	invalidToken
	// insufficientScope: 401 with error="insufficient_scope", except on
	// /v2/, which needs no scope (200).
	insufficientScope
	// denied: 403 DENIED, except on /v2/ (200).
	denied
	// allowed: the endpoint's success status.
	allowed
)

// credCase is a kind of credentials, with the outcome under Basic-only
// authentication and under the token flow.
type credCase struct {
	name       string
	auth       func(w *authWorld) string
	basic, tok outcome
}

var allScopes = []authn.Scope{
	{Type: "repository", Name: "test/repo", Actions: []string{"*"}},
	{Type: "repository", Name: "test/other", Actions: []string{"*"}},
	{Type: "repository", Name: "test/nope", Actions: []string{"*"}},
	{Type: "registry", Name: "catalog", Actions: []string{"*"}},
}

func password(s *authn.TokenService, p policy.Principal) string {
	d, err := s.Issue(context.Background(), &p)
	if err != nil {
		panic(err)
	}
	return d.Password()
}

func bearer(s *authn.TokenService, p policy.Principal, scopes []authn.Scope) string {
	st, err := s.IssueScoped(&p, scopes, time.Minute)
	if err != nil {
		panic(err)
	}
	return st.Token
}

var credCases = []credCase{
	{"anonymous", func(*authWorld) string { return "" }, unauthorized, unauthorized},
	{"wrong password", func(w *authWorld) string { return basicAuth(w.keys["alice"][0], w.keys["alice"][1]+"x") }, unauthorized, unauthorized},
	{"unknown key ID", func(w *authWorld) string { return basicAuth("BRTHUNKNOWNKEY000000", w.keys["alice"][1]) }, unauthorized, unauthorized},
	{"malformed Basic", func(*authWorld) string { return "Basic !!!" }, unauthorized, unauthorized},
	{"ECR token expired", func(w *authWorld) string { return basicAuth("AWS", password(w.expired, principalAlice)) }, unauthorized, unauthorized},
	{"ECR token other key", func(w *authWorld) string { return basicAuth("AWS", password(w.other, principalAlice)) }, unauthorized, unauthorized},
	{"ECR token tampered", func(w *authWorld) string { return basicAuth("AWS", tamper(password(w.tokens, principalAlice))) }, unauthorized, unauthorized},
	{"bearer token as ECR token", func(w *authWorld) string { return basicAuth("AWS", bearer(w.tokens, principalAlice, allScopes)) }, unauthorized, unauthorized},
	{"ECR token with access key", func(w *authWorld) string {
		return basicAuth(w.keys["alice"][0], password(w.tokens, principalAlice))
	}, unauthorized, unauthorized},
	{"bearer expired", func(w *authWorld) string { return "Bearer " + bearer(w.expired, principalAlice, allScopes) }, unauthorized, invalidToken},
	{"bearer other key", func(w *authWorld) string { return "Bearer " + bearer(w.other, principalAlice, allScopes) }, unauthorized, invalidToken},
	{"bearer tampered", func(w *authWorld) string { return "Bearer " + tamper(bearer(w.tokens, principalAlice, allScopes)) }, unauthorized, invalidToken},
	{"ECR token as bearer", func(w *authWorld) string { return "Bearer " + password(w.tokens, principalAlice) }, unauthorized, invalidToken},
	{"bearer insufficient scope", func(w *authWorld) string {
		return "Bearer " + bearer(w.tokens, principalAlice, []authn.Scope{{Type: "repository", Name: "test/other", Actions: []string{"pull"}}})
	}, unauthorized, insufficientScope},
	{"denied static", func(w *authWorld) string { return basicAuth(w.keys["mallory"][0], w.keys["mallory"][1]) }, denied, denied},
	{"denied ECR token", func(w *authWorld) string { return basicAuth("AWS", password(w.tokens, principalMallory)) }, denied, denied},
	{"denied bearer", func(w *authWorld) string { return "Bearer " + bearer(w.tokens, principalMallory, allScopes) }, unauthorized, denied},
	{"allowed static", func(w *authWorld) string { return basicAuth(w.keys["alice"][0], w.keys["alice"][1]) }, allowed, allowed},
	{"allowed ECR token", func(w *authWorld) string { return basicAuth("AWS", password(w.tokens, principalAlice)) }, allowed, allowed},
	{"allowed bearer", func(w *authWorld) string { return "Bearer " + bearer(w.tokens, principalAlice, allScopes) }, unauthorized, allowed},
}

// leakHeaders must not be in a refused response.
var leakHeaders = []string{"Docker-Content-Digest", "Location", "Range", "Docker-Upload-Uuid", "Oci-Subject", "Content-Range", "Link"}

// normalize makes the responses for different targets comparable: it
// replaces repository names, digests and upload IDs.
var normalizer = regexp.MustCompile(`test/nope|sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}|[0-9a-f]{32}`)

func normalize(s string) string {
	return normalizer.ReplaceAllStringFunc(s, func(m string) string {
		if m == "test/nope" {
			return "test/repo"
		}
		return "X"
	})
}

// TestAuthMatrix sends every endpoint every kind of credentials, under
// Basic-only authentication and under the token flow, and checks the
// status, the challenge, and that refused requests reveal nothing: the
// same answer whether the target exists or not, no content, no change.
func TestAuthMatrix(t *testing.T) {
	w := newAuthWorld(t)
	rows := 0
	for _, tokenFlow := range []bool{false, true} {
		mode := "basic"
		if tokenFlow {
			mode = "token flow"
		}
		t.Run(mode, func(t *testing.T) {
			// Refusals change nothing, so they share one environment.
			env := w.newEnv(t, tokenFlow)
			before := env.snapshot(t)
			for _, ep := range authEndpoints {
				for _, cc := range credCases {
					want := cc.basic
					if tokenFlow {
						want = cc.tok
					}
					if want == allowed {
						continue
					}
					rows++
					t.Run(ep.name+"/"+cc.name, func(t *testing.T) {
						env.checkRefused(t, w, ep, cc.auth(w), want, tokenFlow)
					})
				}
			}
			if after := env.snapshot(t); after != before {
				t.Errorf("refused requests changed the registry:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			// Successes change things: one environment each.
			for _, ep := range authEndpoints {
				for _, cc := range credCases {
					want := cc.basic
					if tokenFlow {
						want = cc.tok
					}
					if want != allowed {
						continue
					}
					rows++
					t.Run(ep.name+"/"+cc.name, func(t *testing.T) {
						env := w.newEnv(t, tokenFlow)
						resp, body := env.request(t, ep.method, ep.path, cc.auth(w), ep.body, ep.hdr)
						if resp.StatusCode != ep.allowed {
							t.Errorf("%s %s = %d %s, want %d", ep.method, ep.path, resp.StatusCode, body, ep.allowed)
						}
					})
				}
			}
		})
	}
	t.Logf("%d rows (%d endpoints × %d kinds of credentials × 2 modes), each refusal also sent to up to 3 missing targets", rows, len(authEndpoints), len(credCases))
}

// checkRefused sends a refused request to the endpoint's target and to its
// missing targets, and compares.
func (e *authEnv) checkRefused(t *testing.T, w *authWorld, ep endpoint, auth string, want outcome, tokenFlow bool) {
	t.Helper()
	status := http.StatusUnauthorized
	code := "UNAUTHORIZED"
	switch {
	case (want == denied || want == insufficientScope) && ep.name == "base":
		status, code = http.StatusOK, ""
	case want == denied && ep.name == "catalog":
		// The catalog lists what the caller may see: nothing.
		resp, body := e.request(t, ep.method, ep.path, auth, "", nil)
		if resp.StatusCode != http.StatusOK || body != `{"repositories":[]}` {
			t.Errorf("GET /v2/_catalog = %d %s, want 200 and no repositories", resp.StatusCode, body)
		}
		return
	case want == denied:
		status, code = http.StatusForbidden, "DENIED"
	}
	var first string
	for i, path := range append([]string{ep.path}, ep.missing...) {
		resp, body := e.request(t, ep.method, path, auth, ep.body, ep.hdr)
		if resp.StatusCode != status {
			t.Fatalf("%s %s = %d %s, want %d", ep.method, path, resp.StatusCode, body, status)
		}
		if status == http.StatusOK {
			return
		}
		if ep.method == http.MethodHead {
			if body != "" {
				t.Errorf("HEAD %s has a body %q", path, body)
			}
		} else if codes, err := errorCodes(body); err != nil || len(codes) != 1 || codes[0] != code {
			t.Errorf("%s %s body = %s, want one %s error", ep.method, path, body, code)
		}
		for _, h := range leakHeaders {
			if v := resp.Header.Get(h); v != "" {
				t.Errorf("%s %s: refused response has %s: %s", ep.method, path, h, v)
			}
		}
		if strings.Contains(body, string(layerBytes)) || strings.Contains(body, string(configBytes)) || strings.Contains(body, "schemaVersion") {
			t.Errorf("%s %s: refused response leaks content: %s", ep.method, path, body)
		}
		challenge := resp.Header.Get("WWW-Authenticate")
		if status == http.StatusUnauthorized {
			if wantCh := e.challenge(ep, want, tokenFlow); normalize(challenge) != normalize(wantCh) {
				t.Errorf("%s %s: WWW-Authenticate = %q, want %q", ep.method, path, challenge, wantCh)
			}
		} else if challenge != "" {
			t.Errorf("%s %s: %d with WWW-Authenticate %q", ep.method, path, status, challenge)
		}
		got := normalize(resp.Status + "\n" + challenge + "\n" + resp.Header.Get("Content-Type") + "\n" + resp.Header.Get("Content-Length") + "\n" + body)
		if i == 0 {
			first = got
		} else if got != first {
			t.Errorf("%s: the answer tells an existing target from a missing one (%s):\n%s\nvs\n%s", ep.name, path, first, got)
		}
	}
}

// challenge is the WWW-Authenticate header a refusal should carry.
func (e *authEnv) challenge(ep endpoint, want outcome, tokenFlow bool) string {
	if !tokenFlow {
		return httpapi.DefaultAuthChallenge
	}
	ch := `Bearer realm="` + e.srv.URL + `/token",service="berth"`
	if ep.scope != "" {
		ch += `,scope="` + ep.scope + `"`
	}
	switch want {
	case invalidToken:
		ch += `,error="invalid_token"`
	case insufficientScope:
		ch += `,error="insufficient_scope"`
	}
	return ch
}

// TestAuthMountRefused: a principal that may push to the target but not
// pull from the source cannot mount; the blob is not linked.
func TestAuthMountRefused(t *testing.T) {
	w := newAuthWorld(t)
	for _, tokenFlow := range []bool{false, true} {
		env := w.newEnv(t, tokenFlow)
		aliceAuth := basicAuth(w.keys["alice"][0], w.keys["alice"][1])
		bobStatic := basicAuth(w.keys["bob"][0], w.keys["bob"][1])
		mount := "/v2/test/other/blobs/uploads/?mount={layer}&from=test/repo"

		auths := map[string]string{"static": bobStatic, "ECR token": basicAuth("AWS", password(w.tokens, principalBob))}
		if tokenFlow {
			// Scopes cover the source too: the Authorizer refuses.
			auths["bearer"] = "Bearer " + bearer(w.tokens, principalBob, allScopes)
		}
		for name, auth := range auths {
			// Bob can push to test/other...
			resp, body := env.request(t, http.MethodPost, "/v2/test/other/blobs/uploads/", auth, "", nil)
			if resp.StatusCode != http.StatusAccepted {
				t.Fatalf("%s: bob starts an upload in test/other = %d %s", name, resp.StatusCode, body)
			}
			// ...but a mount from test/repo falls back to an upload
			// session, as when the source lacks the blob.
			resp, body = env.request(t, http.MethodPost, mount, auth, "", nil)
			if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Docker-Content-Digest") != "" {
				t.Errorf("%s: mount from a repository bob cannot pull = %d %v %s, want 202 (an upload session)", name, resp.StatusCode, resp.Header, body)
			}
		}
		if tokenFlow {
			// A token without pull on the source: 401 asking for it.
			tok := bearer(w.tokens, principalBob, []authn.Scope{{Type: "repository", Name: "test/other", Actions: []string{"pull", "push"}}})
			resp, _ := env.request(t, http.MethodPost, mount, "Bearer "+tok, "", nil)
			ch := resp.Header.Get("WWW-Authenticate")
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(ch, `scope="repository:test/other:pull,push repository:test/repo:pull"`) || !strings.Contains(ch, "insufficient_scope") {
				t.Errorf("mount without pull scope on the source = %d %q", resp.StatusCode, ch)
			}
		}
		// Nothing was linked: alice, who may read test/other, finds no blob.
		resp, _ := env.request(t, http.MethodHead, "/v2/test/other/blobs/{layer}", aliceAuth, "", nil)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("after refused mounts, HEAD test/other/blobs/{layer} = %d, want 404", resp.StatusCode)
		}
		// Alice may mount it.
		resp, _ = env.request(t, http.MethodPost, mount, aliceAuth, "", nil)
		if resp.StatusCode != http.StatusCreated {
			t.Errorf("alice's mount = %d, want 201", resp.StatusCode)
		}
	}
}

// TestTokenEndpoint checks the token endpoint: GET with Basic credentials,
// OAuth2 POST, scopes, refusals.
func TestTokenEndpoint(t *testing.T) {
	w := newAuthWorld(t)
	env := w.newEnv(t, true)
	alice := basicAuth(w.keys["alice"][0], w.keys["alice"][1])

	resp, body := env.request(t, http.MethodGet, "/token?service=berth&scope=repository:test/repo:pull,push&scope=repository:test/other:pull+registry:catalog:*&scope=repository:test/repo:delete,bogus&scope=user:x:pull&scope=repository:Bad..Name:pull", alice, "", nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET /token = %d %v %s", resp.StatusCode, resp.Header, body)
	}
	var tr struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		IssuedAt    string `json:"issued_at"`
	}
	mustJSON(t, body, &tr)
	if tr.Token == "" || tr.Token != tr.AccessToken || tr.ExpiresIn != int(authn.DefaultScopedTokenLifetime/time.Second) || tr.IssuedAt == "" {
		t.Errorf("token response = %+v", tr)
	}
	p, scopes, err := w.tokens.VerifyScoped(tr.Token)
	if err != nil || p.ID != principalAlice.ID {
		t.Fatalf("VerifyScoped() = %v, %v", p, err)
	}
	var got []string
	for _, s := range scopes {
		got = append(got, s.String())
	}
	if want := "repository:test/repo:pull,push,delete repository:test/other:pull registry:catalog:*"; strings.Join(got, " ") != want {
		t.Errorf("granted scopes = %q, want %q", strings.Join(got, " "), want)
	}

	// OAuth2 password grant.
	form := "grant_type=password&service=berth&client_id=test&scope=repository:test/repo:pull&username=" + w.keys["alice"][0] + "&password=" + strings.NewReplacer("+", "%2B", "/", "%2F").Replace(w.keys["alice"][1])
	resp, body = env.request(t, http.MethodPost, "/token", "", form, map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	var or struct {
		AccessToken string `json:"access_token"`
		Scope       string `json:"scope"`
	}
	mustJSON(t, body, &or)
	if resp.StatusCode != http.StatusOK || or.Scope != "repository:test/repo:pull" {
		t.Errorf("POST /token = %d %s", resp.StatusCode, body)
	}
	if _, _, err := w.tokens.VerifyScoped(or.AccessToken); err != nil {
		t.Errorf("OAuth2 token: %v", err)
	}
	resp, body = env.request(t, http.MethodPost, "/token", "", "grant_type=refresh_token&refresh_token=x", map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "unsupported_grant_type") {
		t.Errorf("POST /token refresh_token = %d %s, want 400 unsupported_grant_type", resp.StatusCode, body)
	}

	for _, tc := range []struct {
		name, method, path, auth string
		want                     int
	}{
		{"no credentials", http.MethodGet, "/token?scope=repository:test/repo:pull", "", http.StatusUnauthorized},
		{"wrong password", http.MethodGet, "/token", basicAuth(w.keys["alice"][0], "nope-nope-nope-nope"), http.StatusUnauthorized},
		{"bearer for a bearer", http.MethodGet, "/token?scope=repository:test/repo:push", "Bearer " + tr.Token, http.StatusUnauthorized},
		{"other service", http.MethodGet, "/token?service=other", alice, http.StatusBadRequest},
		{"too many scopes", http.MethodGet, "/token?scope=" + strings.Repeat("repository:a:pull+", 40), alice, http.StatusBadRequest},
		{"method", http.MethodDelete, "/token", alice, http.StatusMethodNotAllowed},
		{"ECR token", http.MethodGet, "/token", basicAuth("AWS", password(w.tokens, principalAlice)), http.StatusOK},
		{"expired ECR token", http.MethodGet, "/token", basicAuth("AWS", password(w.expired, principalAlice)), http.StatusUnauthorized},
		// Issuing a token needs ecr:GetAuthorizationToken.
		{"allowed GetAuthorizationToken", http.MethodGet, "/token?scope=repository:test/other:pull", basicAuth(w.keys["bob"][0], w.keys["bob"][1]), http.StatusOK},
		{"denied GetAuthorizationToken", http.MethodGet, "/token?scope=repository:test/repo:pull", basicAuth(w.keys["mallory"][0], w.keys["mallory"][1]), http.StatusForbidden},
		{"denied GetAuthorizationToken, no scope", http.MethodGet, "/token", basicAuth(w.keys["mallory"][0], w.keys["mallory"][1]), http.StatusForbidden},
		{"denied GetAuthorizationToken, ECR token", http.MethodGet, "/token", basicAuth("AWS", password(w.tokens, principalMallory)), http.StatusForbidden},
		{"denied GetAuthorizationToken, OAuth2", http.MethodPost, "/token", "", http.StatusForbidden},
	} {
		var form string
		var hdr map[string]string
		if tc.method == http.MethodPost {
			form = "grant_type=password&service=berth&scope=repository:test/repo:pull&username=" + url.QueryEscape(w.keys["mallory"][0]) + "&password=" + url.QueryEscape(w.keys["mallory"][1])
			hdr = map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
		}
		resp, body := env.request(t, tc.method, tc.path, tc.auth, form, hdr)
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %s %s = %d %s, want %d", tc.name, tc.method, tc.path, resp.StatusCode, body, tc.want)
		}
		if resp.StatusCode != http.StatusOK && strings.Contains(body, "token\"") {
			t.Errorf("%s: refused with a token: %s", tc.name, body)
		}
		if resp.StatusCode == http.StatusForbidden && !strings.Contains(body, "DENIED") {
			t.Errorf("%s: body = %s, want DENIED", tc.name, body)
		}
		if resp.StatusCode == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") != `Basic realm="berth"` {
			t.Errorf("%s: WWW-Authenticate = %q", tc.name, resp.Header.Get("WWW-Authenticate"))
		}
	}
	// A token with no scopes opens /v2/ only.
	resp, body = env.request(t, http.MethodGet, "/token", alice, "", nil)
	mustJSON(t, body, &tr)
	if resp, _ := env.request(t, http.MethodGet, "/v2/", "Bearer "+tr.Token, "", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /v2/ with an unscoped token = %d", resp.StatusCode)
	}
	if resp, _ := env.request(t, http.MethodGet, "/v2/test/repo/tags/list", "Bearer "+tr.Token, "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET tags with an unscoped token = %d", resp.StatusCode)
	}
}

func TestAuthAnonymous(t *testing.T) {
	w := newAuthWorld(t)
	for _, tokenFlow := range []bool{false, true} {
		env := w.newEnv(t, tokenFlow, httpapi.WithAnonymous(true))
		// The version check lets anonymous clients in...
		if resp, _ := env.request(t, http.MethodGet, "/v2/", "", "", nil); resp.StatusCode != http.StatusOK {
			t.Errorf("anonymous GET /v2/ = %d, want 200", resp.StatusCode)
		}
		// ...the Authorizer refuses them (rego without AllowAnonymous), with
		// a challenge...
		resp, _ := env.request(t, http.MethodGet, "/v2/test/repo/manifests/latest", "", "", nil)
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("anonymous GET manifest = %d %q, want 401 with a challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		// ...and bad credentials are still refused.
		if resp, _ := env.request(t, http.MethodGet, "/v2/", basicAuth(w.keys["alice"][0], "wrong-wrong-wrong-wrong"), "", nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET /v2/ with a wrong password = %d, want 401", resp.StatusCode)
		}
	}

	// An Authorizer that lets anonymous pulls through.
	authz, err := rego.New(context.Background(), rego.Options{AllowAnonymous: true, RepositoryPolicies: map[string]string{repo: `{"Version": "2012-10-17",
		"Statement": [{"Effect": "Allow", "Principal": "*", "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}]}`}})
	if err != nil {
		t.Fatal(err)
	}
	w.authz = authz
	env := w.newEnv(t, true, httpapi.WithAnonymous(true))
	if resp, body := env.request(t, http.MethodGet, "/v2/test/repo/manifests/latest", "", "", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("anonymous pull of a public repository = %d %s", resp.StatusCode, body)
	}
	if resp, _ := env.request(t, http.MethodPut, "/v2/test/repo/manifests/x", "", "{manifestPayload}", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous push = %d, want 401", resp.StatusCode)
	}
}

// recordingAuthorizer remembers the last Input.
type recordingAuthorizer struct{ last chan policy.Input }

func (a *recordingAuthorizer) Authorize(_ context.Context, in policy.Input) (policy.Decision, error) {
	select {
	case <-a.last:
	default:
	}
	a.last <- in
	return policy.Decision{Allow: true}, nil
}

func TestSourceIP(t *testing.T) {
	rec := &recordingAuthorizer{last: make(chan policy.Input, 1)}
	f := newFixture(t, registry.WithAuthorizer(rec))
	trusted := []string{"10.0.0.0/8", "192.168.1.1/32"}
	for _, tc := range []struct {
		name       string
		trusted    []string
		remote     string
		xff        []string
		wantSource string
	}{
		{"peer", nil, "203.0.113.7:5555", nil, "203.0.113.7"},
		{"peer ignores XFF", nil, "203.0.113.7:5555", []string{"198.51.100.1"}, "203.0.113.7"},
		{"ipv6 peer", nil, "[2001:db8::1]:443", nil, "2001:db8::1"},
		{"mapped peer", nil, "[::ffff:203.0.113.7]:443", nil, "203.0.113.7"},
		{"unix socket", nil, "@", nil, ""},
		{"untrusted proxy", trusted, "203.0.113.7:1", []string{"198.51.100.1"}, "203.0.113.7"},
		{"trusted proxy", trusted, "10.1.2.3:1", []string{"198.51.100.1"}, "198.51.100.1"},
		{"spoofed left entries", trusted, "10.1.2.3:1", []string{"1.1.1.1, 198.51.100.1"}, "198.51.100.1"},
		{"proxy chain", trusted, "10.1.2.3:1", []string{"198.51.100.1, 192.168.1.1", "10.9.9.9"}, "198.51.100.1"},
		{"all trusted", trusted, "10.1.2.3:1", []string{"10.4.4.4"}, "10.4.4.4"},
		{"garbage", trusted, "10.1.2.3:1", []string{"198.51.100.1, junk"}, "10.1.2.3"},
	} {
		opts := []httpapi.Option{httpapi.WithLogger(slog.New(slog.DiscardHandler))}
		if tc.trusted != nil {
			opts = append(opts, httpapi.WithTrustedProxies(prefixes(t, tc.trusted)))
		}
		h, err := httpapi.New(f.reg, opts...)
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodGet, "/v2/test/repo/tags/list", nil)
		req.RemoteAddr = tc.remote
		req.Header["X-Forwarded-For"] = tc.xff
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, req)
		if rr.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", tc.name, rr.Code, rr.Body)
		}
		if in := <-rec.last; in.SourceIP != tc.wantSource {
			t.Errorf("%s: SourceIP = %q, want %q", tc.name, in.SourceIP, tc.wantSource)
		}
	}

	// A source IP and a principal set by a middleware are kept.
	w := newAuthWorld(t)
	h, err := httpapi.New(f.reg, httpapi.WithAuthenticator(httpapi.BasicAuthenticator(w.creds, nil)))
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/v2/test/repo/tags/list", nil)
	ctx := policy.WithSourceIP(policy.WithPrincipal(req.Context(), &principalBob), "192.0.2.9")
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req.WithContext(ctx))
	if in := <-rec.last; rr.Code != http.StatusOK || in.SourceIP != "192.0.2.9" || in.Principal == nil || in.Principal.ID != principalBob.ID {
		t.Errorf("middleware context: %d, Input %+v", rr.Code, in)
	}
}

func TestAuthenticatorErrors(t *testing.T) {
	f := newFixture(t)
	var called int
	outage := httpapi.AuthenticatorFunc(func(*http.Request) (*policy.Principal, error) {
		called++
		return nil, errors.New("identity provider unreachable")
	})
	h, err := httpapi.New(f.reg, httpapi.WithLogger(slog.New(slog.DiscardHandler)), httpapi.WithAuthenticator(outage))
	if err != nil {
		t.Fatal(err)
	}
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/v2/", nil))
	if rr.Code != http.StatusInternalServerError || called != 1 {
		t.Errorf("an Authenticator's own failure = %d, want 500", rr.Code)
	}

	// Two Authorization headers are refused.
	w := newAuthWorld(t)
	h, err = httpapi.New(f.reg, httpapi.WithAuthenticator(httpapi.BasicAuthenticator(w.creds, w.tokens)))
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/v2/", nil)
	req.Header["Authorization"] = []string{basicAuth(w.keys["alice"][0], w.keys["alice"][1]), "Basic eDp5"}
	rr = httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	if rr.Code != http.StatusUnauthorized {
		t.Errorf("two Authorization headers = %d, want 401", rr.Code)
	}

	// The chain stops at bad credentials.
	never := httpapi.AuthenticatorFunc(func(*http.Request) (*policy.Principal, error) {
		t.Error("the chain went on after bad credentials")
		return &principalAlice, nil
	})
	c := httpapi.ChainAuthenticators(httpapi.BasicAuthenticator(w.creds, nil), nil, never)
	req = httptest.NewRequest(http.MethodGet, "/v2/", nil)
	req.SetBasicAuth(w.keys["alice"][0], "wrong-wrong-wrong-wrong")
	if p, err := c.Authenticate(req); p != nil || !errors.Is(err, authn.ErrInvalidCredentials) {
		t.Errorf("chain: %v, %v", p, err)
	}
	// Basic without a token service refuses the AWS user.
	req = httptest.NewRequest(http.MethodGet, "/v2/", nil)
	req.SetBasicAuth("AWS", password(w.tokens, principalAlice))
	if p, err := httpapi.BasicAuthenticator(w.creds, nil).Authenticate(req); p != nil || !errors.Is(err, authn.ErrInvalidCredentials) {
		t.Errorf("AWS user without a TokenService: %v, %v", p, err)
	}
}

func TestNewAuthOptions(t *testing.T) {
	f := newFixture(t)
	w := newAuthWorld(t)
	basic := httpapi.WithAuthenticator(httpapi.BasicAuthenticator(w.creds, w.tokens))
	for name, opts := range map[string][]httpapi.Option{
		"nil authenticator":      {httpapi.WithAuthenticator(nil)},
		"token without authn":    {httpapi.WithTokenEndpoint("/token", w.tokens, "", "")},
		"token path":             {basic, httpapi.WithTokenEndpoint("token", w.tokens, "", "")},
		"nil token service":      {basic, httpapi.WithTokenEndpoint("/token", nil, "", "")},
		"relative realm":         {basic, httpapi.WithTokenEndpoint("/token", w.tokens, "auth/token", "")},
		"challenge conflict":     {basic, httpapi.WithAuthChallenge(`Basic realm="x"`), httpapi.WithTokenEndpoint("/token", w.tokens, "", "")},
		"quote in service":       {basic, httpapi.WithTokenEndpoint("/token", w.tokens, "", `a"b`)},
		"invalid trusted prefix": {httpapi.WithTrustedProxies([]netip.Prefix{{}})},
		"scheme-relative realm":  {basic, httpapi.WithTokenEndpoint("/token", w.tokens, "//evil.example/token", "")},
	} {
		if _, err := httpapi.New(f.reg, opts...); err == nil {
			t.Errorf("%s: New() error = nil", name)
		}
	}
	h, err := httpapi.New(f.reg, basic, httpapi.WithTokenEndpoint("/v2/token", w.tokens, "https://auth.example.com/v2/token", "reg"))
	if err != nil {
		t.Fatal(err)
	}
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/v2/test/repo/tags/list", nil))
	if want := `Bearer realm="https://auth.example.com/v2/token",service="reg",scope="repository:test/repo:pull"`; rr.Code != http.StatusUnauthorized || rr.Header().Get("WWW-Authenticate") != want {
		t.Errorf("absolute realm: %d %q, want %q", rr.Code, rr.Header().Get("WWW-Authenticate"), want)
	}
	// The realm follows the request's Host, and a trusted proxy's scheme.
	h, err = httpapi.New(f.reg, basic, httpapi.WithTokenEndpoint("/token", w.tokens, "", ""), httpapi.WithTrustedProxies(prefixes(t, []string{"10.0.0.0/8"})))
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/v2/", nil)
	req.Host = "registry.example.com"
	req.RemoteAddr = "10.0.0.1:9"
	req.Header.Set("X-Forwarded-Proto", "https")
	rr = httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	if want := `Bearer realm="https://registry.example.com/token",service="berth"`; rr.Header().Get("WWW-Authenticate") != want {
		t.Errorf("derived realm = %q, want %q", rr.Header().Get("WWW-Authenticate"), want)
	}
	req.RemoteAddr = "203.0.113.1:9"
	rr = httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	if want := `Bearer realm="http://registry.example.com/token",service="berth"`; rr.Header().Get("WWW-Authenticate") != want {
		t.Errorf("derived realm, untrusted proxy = %q, want %q", rr.Header().Get("WWW-Authenticate"), want)
	}
}

func prefixes(t testing.TB, ss []string) []netip.Prefix {
	t.Helper()
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func mustJSON(t testing.TB, body string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
}

// BenchmarkAuth measures the authentication step on a manifest pull: none
// configured, static credentials, an ECR-style token, a bearer token.
func BenchmarkAuth(b *testing.B) {
	w := newAuthWorld(b)
	w.authz = nil
	alice := basicAuth(w.keys["alice"][0], w.keys["alice"][1])
	for _, bc := range []struct {
		name, auth string
		tokenFlow  bool
	}{
		{"none", "", false},
		{"static", alice, false},
		{"ECR token", basicAuth("AWS", password(w.tokens, principalAlice)), false},
		{"bearer", "Bearer " + bearer(w.tokens, principalAlice, allScopes), true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f := newFixture(b)
			opts := []httpapi.Option{httpapi.WithLogger(slog.New(slog.DiscardHandler))}
			if bc.auth != "" {
				opts = append(opts, httpapi.WithAuthenticator(httpapi.BasicAuthenticator(w.creds, w.tokens)))
			}
			if bc.tokenFlow {
				opts = append(opts, httpapi.WithTokenEndpoint("/token", w.tokens, "", ""))
			}
			h, err := httpapi.New(f.reg, opts...)
			if err != nil {
				b.Fatal(err)
			}
			u, _ := url.Parse("/v2/test/repo/manifests/latest")
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req := &http.Request{Method: http.MethodGet, URL: u, Header: http.Header{}, Body: http.NoBody, RemoteAddr: "192.0.2.1:40000"}
				if bc.auth != "" {
					req.Header.Set("Authorization", bc.auth)
				}
				req = req.WithContext(b.Context())
				dw := &discardWriter{hdr: http.Header{}}
				for pb.Next() {
					clear(dw.hdr)
					dw.code = 0
					h.ServeHTTP(dw, req)
					if dw.code != http.StatusOK {
						b.Fatalf("status %d", dw.code)
					}
				}
			})
		})
	}
}
