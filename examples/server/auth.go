package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/berth-dev/berth/httpapi"
	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/policy/authn"
	"github.com/berth-dev/berth/policy/rego"
	"github.com/berth-dev/berth/registry"
)

// policiesFile is the -policies file: IAM JSON documents (as JSON values)
// and custom Rego modules.
//
//	{
//	  "identityPolicies":   {"arn:aws:iam::000000000000:user/ci": [{"Version": "2012-10-17", "Statement": [...]}]},
//	  "repositoryPolicies": {"team-a/app": {"Version": "2012-10-17", "Statement": [...]}},
//	  "registryPolicy":     {"Version": "2012-10-17", "Statement": [...]},
//	  "modules":            {"release.rego": "package berth.custom\n..."}
//	}
type policiesFile struct {
	IdentityPolicies   map[string][]json.RawMessage `json:"identityPolicies"`
	RepositoryPolicies map[string]json.RawMessage   `json:"repositoryPolicies"`
	RegistryPolicy     json.RawMessage              `json:"registryPolicy"`
	Modules            map[string]string            `json:"modules"`
}

// security is what -credentials and -policies turn on.
type security struct {
	authorizer policy.Authorizer
	creds      *authn.Credentials
	tokens     *authn.TokenService
}

// loadSecurity reads the credentials and policies files. With neither, it
// returns nil: the registry is open, which run allows on loopback only.
func loadSecurity(ctx context.Context, log *slog.Logger, credsPath, policiesPath string) (*security, error) {
	if credsPath == "" {
		if policiesPath != "" {
			return nil, errors.New("-policies needs -credentials: policies name authenticated principals")
		}
		return nil, nil
	}
	f, err := os.Open(credsPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	creds, err := authn.LoadCredentials(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", credsPath, err)
	}
	opts := rego.Options{Logger: log}
	if policiesPath != "" {
		b, err := os.ReadFile(policiesPath)
		if err != nil {
			return nil, err
		}
		var pf policiesFile
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&pf); err != nil {
			return nil, fmt.Errorf("%s: %w", policiesPath, err)
		}
		opts.IdentityPolicies = map[string][]string{}
		for arn, docs := range pf.IdentityPolicies {
			for _, d := range docs {
				opts.IdentityPolicies[arn] = append(opts.IdentityPolicies[arn], string(d))
			}
		}
		opts.RepositoryPolicies = map[string]string{}
		for repo, d := range pf.RepositoryPolicies {
			opts.RepositoryPolicies[repo] = string(d)
		}
		if len(pf.RegistryPolicy) > 0 {
			opts.RegistryPolicy = string(pf.RegistryPolicy)
		}
		opts.Modules = pf.Modules
	}
	authz, err := rego.New(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("policies: %w", err)
	}
	tokens, err := authn.NewTokenService(authn.TokenOptions{})
	if err != nil {
		return nil, err
	}
	return &security{authorizer: authz, creds: creds, tokens: tokens}, nil
}

// httpOptions turns on authentication: Basic with static credentials or an
// authorization token, and the bearer-token flow at /token.
func (s *security) httpOptions() []httpapi.Option {
	return []httpapi.Option{
		httpapi.WithAuthenticator(httpapi.ChainAuthenticators(
			httpapi.BasicAuthenticator(s.creds, s.tokens),
			httpapi.BearerAuthenticator(s.tokens),
		)),
		httpapi.WithTokenEndpoint("/token", s.tokens, "/token", "berth"),
	}
}

// authorizationTokenHandler serves ECR's GetAuthorizationToken over HTTP: a
// POST with static credentials (Basic) returns a 12-hour token that docker
// login, crane, oras, regctl and skopeo accept as the password of user
// "AWS".
func authorizationTokenHandler(reg *registry.Registry, s *security) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "use POST", http.StatusMethodNotAllowed)
			return
		}
		id, secret, ok := r.BasicAuth()
		if !ok {
			w.Header().Set("Www-Authenticate", `Basic realm="berth"`)
			http.Error(w, "credentials required", http.StatusUnauthorized)
			return
		}
		p, err := s.creds.Authenticate(id, secret)
		if err != nil {
			w.Header().Set("Www-Authenticate", `Basic realm="berth"`)
			http.Error(w, "invalid credentials", http.StatusUnauthorized)
			return
		}
		// As in ECR, the principal needs ecr:GetAuthorizationToken.
		ctx := policy.WithPrincipal(r.Context(), p)
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			ctx = policy.WithSourceIP(ctx, host)
		}
		switch err := reg.Authorize(ctx, policy.ActionGetAuthorizationToken, "", ""); {
		case errors.Is(err, registry.ErrDenied), errors.Is(err, registry.ErrUnauthorized):
			http.Error(w, "not allowed to get an authorization token", http.StatusForbidden)
			return
		case err != nil:
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		data, err := s.tokens.Issue(ctx, p)
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"authorizationData": []any{map[string]any{
			"authorizationToken": data.AuthorizationToken,
			"expiresAt":          data.ExpiresAt.UTC().Format(time.RFC3339),
			"proxyEndpoint":      data.ProxyEndpoint,
		}}})
	})
}
