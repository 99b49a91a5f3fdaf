package authn_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/policy/authn"
)

// ExampleLoadCredentials loads static credentials and checks a secret.
func ExampleLoadCredentials() {
	creds, err := authn.LoadCredentials(strings.NewReader(`{"credentials": [
	  {"accessKeyId": "BRTHEXAMPLE000000001",
	   "secretHash": "hmac-sha256:000102030405060708090a0b0c0d0e0f:d11f3de1d729105f85b401a3b5d3bf215de230b3dfd8dd7de349dc010c1f409b",
	   "principal": {"id": "u-1", "name": "ci", "groups": ["ci"]}},
	  {"accessKeyId": "BRTHEXAMPLE000000002",
	   "secret": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
	   "principal": {"id": "u-2", "name": "alice"}}
	]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	p, err := creds.Authenticate("BRTHEXAMPLE000000001", "Tq0mW1xJ7v9uYhR3b8nC5sZ2eK4pL6dF0gA1hB7c")
	fmt.Println(p.Name, p.Groups, err)
	p, err = creds.Authenticate("BRTHEXAMPLE000000002", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	fmt.Println(p.Name, err)
	_, err = creds.Authenticate("BRTHEXAMPLE000000002", "guess")
	fmt.Println(errors.Is(err, authn.ErrInvalidCredentials))
	_, err = creds.Authenticate("BRTHNOSUCHKEY0000000", "guess")
	fmt.Println(errors.Is(err, authn.ErrInvalidCredentials))
	// Output:
	// ci [ci] <nil>
	// alice <nil>
	// true
	// true
}

// ExampleTokenService_Issue exposes ECR's GetAuthorizationToken as an HTTP
// endpoint: the caller authenticates with static credentials and gets an
// authorization token for docker login.
func ExampleTokenService_Issue() {
	creds := authn.NewCredentials()
	id, secret, _ := authn.GenerateCredential()
	_ = creds.Add(id, secret, policy.Principal{ID: "u-1", Name: "ci"})
	tokens, _ := authn.NewTokenService(authn.TokenOptions{ProxyEndpoint: "https://registry.example.com"})

	getAuthorizationToken := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		p, err := creds.Authenticate(user, pass)
		if !ok || err != nil {
			http.Error(w, "invalid credentials", http.StatusUnauthorized)
			return
		}
		// An application with an Authorizer checks
		// policy.ActionGetAuthorizationToken for p here.
		data, err := tokens.Issue(r.Context(), p)
		if err != nil {
			http.Error(w, "cannot issue a token", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_ = json.NewEncoder(w).Encode(map[string]any{"authorizationData": []authn.AuthorizationData{data}})
	})

	req := httptest.NewRequest(http.MethodPost, "/", nil)
	req.SetBasicAuth(id, secret)
	rec := httptest.NewRecorder()
	getAuthorizationToken.ServeHTTP(rec, req)

	var out struct{ AuthorizationData []authn.AuthorizationData }
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	data := out.AuthorizationData[0]
	fmt.Println(rec.Code, data.ProxyEndpoint, data.ExpiresAt.Sub(time.Now()).Round(time.Hour))

	// docker login --username AWS --password <password> registry.example.com
	p, err := tokens.Verify(data.Password())
	fmt.Println(p.Name, err)
	// Output:
	// 200 https://registry.example.com 12h0m0s
	// ci <nil>
}

// ExampleTokenService_RotateKey revokes tokens by rotating the signing key.
func ExampleTokenService_RotateKey() {
	ctx := context.Background()
	// One verification key: a rotation revokes every token at once.
	tokens, _ := authn.NewTokenService(authn.TokenOptions{VerificationKeys: 1})
	data, _ := tokens.Issue(ctx, &policy.Principal{ID: "u-1"})
	_ = tokens.RotateKey()
	_, err := tokens.Verify(data.Password())
	fmt.Println(errors.Is(err, authn.ErrTokenInvalid))
	// Output: true
}
