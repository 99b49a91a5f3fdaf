// Command policy shows an embedded registry guarded by ECR-style policies
// evaluated with OPA: two teams that may only touch their own repositories
// (team-a/*, team-b/*), a read-only CI principal, and a custom Rego rule
// that IAM JSON cannot say (only the release group pushes v* tags).
//
// It uses the Go API directly; the principal of each call travels in its
// context. Over HTTP, httpapi resolves the principal from the request's
// credentials and the same decisions apply.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/policy/rego"
	"github.com/berth-dev/berth/registry"
	"github.com/berth-dev/berth/storage/memory"
)

// Identity policies, attached to groups as in IAM.
var identityPolicies = map[string][]string{
	// Each team may do anything in its own namespace.
	"arn:aws:iam::" + rego.DefaultRegistryID + ":group/team-a": {`{
		"Version": "2012-10-17",
		"Statement": [{"Effect": "Allow", "Action": "ecr:*",
			"Resource": "arn:aws:ecr:*:*:repository/team-a/*"}]}`},
	"arn:aws:iam::" + rego.DefaultRegistryID + ":group/team-b": {`{
		"Version": "2012-10-17",
		"Statement": [{"Effect": "Allow", "Action": "ecr:*",
			"Resource": "arn:aws:ecr:*:*:repository/team-b/*"}]}`},
	// CI reads everything and writes nothing.
	"arn:aws:iam::" + rego.DefaultRegistryID + ":group/ci": {`{
		"Version": "2012-10-17",
		"Statement": [{"Sid": "ReadOnly", "Effect": "Allow",
			"Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability",
			           "ecr:ListImages", "ecr:DescribeImages", "ecr:DescribeRepositories", "ecr:ListImageReferrers"],
			"Resource": "*"}]}`},
}

// releaseRule is a custom Rego module: version tags are pushed by the
// release group only, whatever the documents allow.
const releaseRule = `package berth.custom

deny contains "only the release group pushes v* tags" if {
	input.action == "ecr:PutImage"
	startswith(input.reference, "v")
	not release
}

release if "release" in input.principal.groups
`

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "policy:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	authz, err := rego.New(ctx, rego.Options{
		IdentityPolicies: identityPolicies,
		Modules:          map[string]string{"release.rego": releaseRule},
	})
	if err != nil {
		return err
	}
	store := memory.New()
	defer store.Close()
	reg, err := registry.New(store, registry.WithAuthorizer(authz))
	if err != nil {
		return err
	}
	defer reg.Close()

	as := func(name string, groups ...string) context.Context {
		return policy.WithPrincipal(ctx, &policy.Principal{ID: name, Name: name, Groups: groups})
	}
	alice := as("alice", "team-a")
	rita := as("rita", "team-a", "release")
	bob := as("bob", "team-b")
	ci := as("ci", "ci")

	manifest, err := pushImage(alice, reg, "team-a/web")
	if err != nil {
		return err
	}
	try := func(who string, err error) {
		fmt.Fprintf(out, "%-40s %s\n", who, outcome(err))
	}
	put := func(ctx context.Context, repo, tag string) error {
		_, err := reg.PutImage(ctx, registry.PutImageInput{Repository: repo, Manifest: manifest, Tag: tag})
		return err
	}
	pull := func(ctx context.Context, repo, tag string) error {
		_, err := reg.GetImage(ctx, repo, tag)
		return err
	}

	try("alice pushes team-a/web:latest", put(alice, "team-a/web", "latest"))
	try("alice pushes team-a/web:v1.0", put(alice, "team-a/web", "v1.0"))
	try("rita (release) pushes team-a/web:v1.0", put(rita, "team-a/web", "v1.0"))
	try("bob pulls team-a/web:latest", pull(bob, "team-a/web", "latest"))
	try("bob pushes team-a/web:latest", put(bob, "team-a/web", "latest"))
	try("ci pulls team-a/web:v1.0", pull(ci, "team-a/web", "v1.0"))
	try("ci pushes team-a/web:ci", put(ci, "team-a/web", "ci"))
	try("anonymous pulls team-a/web:latest", pull(ctx, "team-a/web", "latest"))

	// Listings show each principal only what it may see.
	for _, p := range []struct {
		name string
		ctx  context.Context
	}{{"bob", bob}, {"ci", ci}} {
		names, _, err := reg.ListRepositories(p.ctx, "", 0)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%-40s [%s]\n", p.name+" lists repositories", strings.Join(names, " "))
	}
	return nil
}

func outcome(err error) string {
	switch {
	case err == nil:
		return "allowed"
	case errors.Is(err, registry.ErrUnauthorized):
		return "unauthorized"
	case errors.Is(err, registry.ErrDenied):
		return "denied"
	default:
		return "error: " + err.Error()
	}
}

// pushImage pushes a config and a layer and returns a manifest naming them.
func pushImage(ctx context.Context, reg *registry.Registry, repo string) ([]byte, error) {
	cfg, err := reg.PushBlob(ctx, repo, "", strings.NewReader(`{"architecture":"amd64","os":"linux"}`))
	if err != nil {
		return nil, err
	}
	layer, err := reg.PushBlob(ctx, repo, "", strings.NewReader("layer"))
	if err != nil {
		return nil, err
	}
	return fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}]}`,
		cfg.Digest, cfg.Size, layer.Digest, layer.Size), nil
}
