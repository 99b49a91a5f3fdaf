package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/berth-dev/berth/httpapi"
	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/policy/authn"
	"github.com/berth-dev/berth/policy/rego"
	"github.com/berth-dev/berth/registry"
	"github.com/berth-dev/berth/storage/badgerstore"
)

// The static access key the client of the berth-auth target sends as Basic
// credentials on every request. Bench only: a real deployment generates
// its keys (authn.GenerateCredential).
const (
	benchAccessKeyID = "BRTHBENCHBENCHBENCH0"
	benchSecret      = "YmVydGgtYmVuY2gtc2VjcmV0LW5vdC1mb3ItdXNlLQ"
)

// benchRepositoryPolicy is the repository policy of every bench
// repository: the bench user may pull and push, another user is denied
// everything, and nobody may push or pull from outside loopback and
// private networks (an IP condition, evaluated on every request).
const benchRepositoryPolicy = `{"Version": "2012-10-17", "Statement": [
  {"Sid": "BenchPushPull", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:user/bench"},
   "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability",
              "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage", "ecr:ListImages"]},
  {"Sid": "NoIntruder", "Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::000000000000:user/intruder"}, "Action": "ecr:*"},
  {"Sid": "Network", "Effect": "Deny", "Principal": "*", "Action": "ecr:*",
   "Condition": {"NotIpAddress": {"aws:SourceIp": ["127.0.0.0/8", "::1/128", "10.0.0.0/8"]}}}]}`

// benchIdentityPolicy lets the bench user create the bench repositories
// (on first push).
const benchIdentityPolicy = `{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": ["ecr:CreateRepository", "ecr:DescribeRepositories", "ecr:GetAuthorizationToken"],
   "Resource": ["arn:aws:ecr:*:*:repository/bench/*", "*"]}]}`

// newBerthAuthHandler is newBerthHandler with security on: Basic
// authentication with a static access key (authn.Credentials), and a rego
// Authorizer (default decision cache) with a repository policy on each
// bench repository and an identity policy.
func newBerthAuthHandler(dir string) (http.Handler, func() error, error) {
	creds := authn.NewCredentials()
	if err := creds.Add(benchAccessKeyID, benchSecret, policy.Principal{ID: "u-bench", Name: "bench"}); err != nil {
		return nil, nil, err
	}
	repos := map[string]string{}
	for _, r := range []string{repoBlobs, repoManifests, repoTags, repoImages, repoProbe} {
		repos[r] = benchRepositoryPolicy
	}
	authz, err := rego.New(context.Background(), rego.Options{
		RepositoryPolicies: repos,
		IdentityPolicies:   map[string][]string{"arn:aws:iam::000000000000:user/bench": {benchIdentityPolicy}},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("policies: %w", err)
	}
	store, err := badgerstore.New(badgerstore.Options{Dir: dir})
	if err != nil {
		return nil, nil, err
	}
	reg, err := registry.New(store, registry.WithAuthorizer(authz))
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	h, err := httpapi.New(reg, httpapi.WithAuthenticator(httpapi.BasicAuthenticator(creds, nil)))
	if err != nil {
		reg.Close()
		store.Close()
		return nil, nil, err
	}
	return h, func() error {
		reg.Close()
		return store.Close()
	}, nil
}

// authHeader is the Authorization header a target's client sends, if any.
func authHeader(target string) string {
	if target != tBerthAuth {
		return ""
	}
	return basicHeader(benchAccessKeyID, benchSecret)
}
