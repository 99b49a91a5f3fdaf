package rego_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	opa "github.com/open-policy-agent/opa/v1/rego"

	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/policy/rego"
)

// benchAuthorizer has 20 repository policies (pull for a group, push for
// CI, an IP-conditioned deny), a registry policy, identity policies on
// groups and a custom module.
func benchAuthorizer(b *testing.B) *rego.Authorizer {
	b.Helper()
	repos := map[string]string{}
	for i := range 20 {
		repos[fmt.Sprintf("team-%d/app", i)] = fmt.Sprintf(`{
		  "Version": "2012-10-17",
		  "Statement": [
		    {"Sid": "Pull", "Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::000000000000:group/team-%d", "arn:aws:iam::000000000000:group/readers"]},
		     "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]},
		    {"Sid": "Push", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:group/ci"},
		     "Action": ["ecr:Batch*", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage"]},
		    {"Sid": "Network", "Effect": "Deny", "Principal": "*", "Action": "ecr:*",
		     "Condition": {"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}}}
		  ]
		}`, i)
	}
	a, err := rego.New(context.Background(), rego.Options{
		RepositoryPolicies: repos,
		RegistryPolicy: `{"Version": "2012-10-17", "Statement": [{"Sid": "Admins", "Effect": "Allow",
			"Principal": {"AWS": "arn:aws:iam::000000000000:group/admins"}, "Action": "ecr:*", "Resource": "*"}]}`,
		IdentityPolicies: map[string][]string{
			"arn:aws:iam::000000000000:group/dev": {`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
				"Action": "ecr:Describe*", "Resource": "arn:aws:ecr:*:*:repository/*"}]}`},
			"*": {`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}]}`},
		},
		Modules: map[string]string{"prod.rego": `package berth.custom

deny contains "prod pulls only from 10.0.0.0/8" if {
	startswith(input.repository, "prod/")
	not net.cidr_contains("10.0.0.0/8", input.sourceIp)
}

deny contains "only CI may push release tags" if {
	input.action == "ecr:PutImage"
	startswith(input.reference, "v")
	not "ci" in input.principal.groups
}
`},
	})
	if err != nil {
		b.Fatal(err)
	}
	return a
}

// BenchmarkAuthorize measures a manifest GET (ecr:BatchGetImage) that is
// allowed by a repository policy, serially and at 16 concurrent callers.
func BenchmarkAuthorize(b *testing.B) {
	a := benchAuthorizer(b)
	ctx := context.Background()
	in := policy.Input{
		Version:    policy.InputVersion,
		Principal:  &policy.Principal{ID: "u-7", Name: "alice", Groups: []string{"dev", "team-7"}, Attributes: map[string]string{"team": "seven"}},
		Action:     policy.ActionBatchGetImage,
		Repository: "team-7/app",
		Reference:  "sha256:0f5e3c0e2f1a5b6c7d8e9f00112233445566778899aabbccddeeff0011223344",
		SourceIP:   "10.1.2.3",
		Time:       time.Now(),
	}
	if d, err := a.Authorize(ctx, in); err != nil || !d.Allow {
		b.Fatalf("Authorize() = %+v, %v", d, err)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := a.Authorize(ctx, in); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel16", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := a.Authorize(ctx, in); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("denied", func(b *testing.B) {
		in := in
		in.Action = policy.ActionPutImage
		b.ReportAllocs()
		for b.Loop() {
			if d, err := a.Authorize(ctx, in); err != nil || d.Allow {
				b.Fatal(d, err)
			}
		}
	})
}

// BenchmarkOPAFloor is the cost of evaluating a trivial prepared OPA query
// with a small parsed input on the same machine: the floor under
// BenchmarkAuthorize, for comparing results across machines.
func BenchmarkOPAFloor(b *testing.B) {
	ctx := context.Background()
	pq, err := opa.New(
		opa.Query("data.floor.decision"),
		opa.Module("floor.rego", "package floor\n\ndecision := {\"allow\": true, \"reasons\": set()} if input.action == \"ecr:BatchGetImage\"\n"),
	).PrepareForEval(ctx)
	if err != nil {
		b.Fatal(err)
	}
	in := ast.NewObject(ast.Item(ast.StringTerm("action"), ast.StringTerm("ecr:BatchGetImage")))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := pq.Eval(ctx, opa.EvalParsedInput(in)); err != nil {
			b.Fatal(err)
		}
	}
}
