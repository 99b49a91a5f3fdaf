package rego_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
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
		DecisionCacheSize: -1, // measure evaluations
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

// bench1000Modules is the custom module of BenchmarkAuthorize1000.
const bench1000Module = `package berth.custom

deny contains "prod pulls only from 10.0.0.0/8" if {
	startswith(input.repository, "prod/")
	not net.cidr_contains("10.0.0.0/8", input.sourceIp)
}

deny contains "only CI may push release tags" if {
	input.action == "ecr:PutImage"
	startswith(input.reference, "v")
	not "ci" in input.principal.groups
}
`

// bench1000Authorizer has 1,000 repository policies in four shapes (pull
// for the team's group and a user, push for CI, explicit deny of deletes;
// the same plus a NotIpAddress deny; a wildcard "ecr:*" for the team's
// group with a NotAction deny; public pulls from an IpAddress range with a
// StringLike condition), identity policies, a registry policy and a custom
// module.
func bench1000Authorizer(b testing.TB, cacheSize int) *rego.Authorizer {
	b.Helper()
	repos := map[string]string{}
	for i := range 1000 {
		var doc string
		switch i % 4 {
		case 0:
			doc = `{"Version": "2012-10-17", "Statement": [
			  {"Sid": "Pull", "Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::000000000000:group/team-%[1]d", "arn:aws:iam::000000000000:user/bob"]},
			   "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]},
			  {"Sid": "Push", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:group/ci"},
			   "Action": ["ecr:Batch*", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage"]},
			  {"Sid": "NoDelete", "Effect": "Deny", "Principal": "*", "Action": ["ecr:BatchDeleteImage", "ecr:DeleteRepository"]}]}`
		case 1:
			doc = `{"Version": "2012-10-17", "Statement": [
			  {"Sid": "Pull", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:group/team-%[1]d"},
			   "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]},
			  {"Sid": "DenyPush", "Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::000000000000:group/readers"},
			   "Action": ["ecr:PutImage", "ecr:InitiateLayerUpload"]},
			  {"Sid": "Network", "Effect": "Deny", "Principal": "*", "Action": "ecr:*",
			   "Condition": {"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16", "2001:db8::/32"]}}}]}`
		case 2:
			doc = `{"Version": "2012-10-17", "Statement": [
			  {"Sid": "Team", "Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::000000000000:group/team-%[1]d", "arn:aws:iam::000000000000:group/ci"]},
			   "Action": "ecr:*"},
			  {"Sid": "OnlyImages", "Effect": "Deny", "Principal": {"AWS": "*"},
			   "NotAction": ["ecr:Batch*", "ecr:Get*", "ecr:*LayerUpload", "ecr:UploadLayerPart", "ecr:PutImage", "ecr:Describe*", "ecr:List*"]}]}`
		case 3:
			doc = `{"Version": "2012-10-17", "Statement": [
			  {"Sid": "PublicPull", "Effect": "Allow", "Principal": "*",
			   "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
			   "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "172.16.0.0/12"]},
			                 "StringLike": {"aws:PrincipalTag/team": ["*"]}}},
			  {"Sid": "Push", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:group/team-%[1]d"},
			   "Action": ["ecr:Batch*", "ecr:*LayerUpload", "ecr:UploadLayerPart", "ecr:PutImage"]}]}`
		}
		repos[fmt.Sprintf("team-%d/app-%d", i%50, i)] = fmt.Sprintf(doc, i%50)
	}
	a, err := rego.New(context.Background(), rego.Options{
		RepositoryPolicies: repos,
		RegistryPolicy: `{"Version": "2012-10-17", "Statement": [{"Sid": "Admins", "Effect": "Allow",
			"Principal": {"AWS": "arn:aws:iam::000000000000:group/admins"}, "Action": "ecr:*", "Resource": "*"}]}`,
		IdentityPolicies: map[string][]string{
			"arn:aws:iam::000000000000:group/dev": {`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
				"Action": ["ecr:Describe*", "ecr:List*"], "Resource": "arn:aws:ecr:*:*:repository/*"}]}`},
			"arn:aws:iam::000000000000:group/ci": {`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
				"Action": "ecr:BatchGetImage", "Resource": "arn:aws:ecr:local:000000000000:repository/${aws:PrincipalTag/team}/*"}]}`},
			"*": {`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}]}`},
		},
		Modules:           map[string]string{"prod.rego": bench1000Module},
		DecisionCacheSize: cacheSize,
	})
	if err != nil {
		b.Fatal(err)
	}
	return a
}

// bench1000Inputs returns n requests spread over the 1,000 repositories,
// several principals, actions and source addresses: mostly pulls, some
// pushes and deletes, allowed and denied.
func bench1000Inputs(n int) []policy.Input {
	r := rand.New(rand.NewPCG(1, 2))
	actions := []string{
		policy.ActionBatchGetImage, policy.ActionBatchGetImage, policy.ActionGetDownloadURLForLayer,
		policy.ActionGetDownloadURLForLayer, policy.ActionBatchCheckLayerAvailability,
		policy.ActionPutImage, policy.ActionInitiateLayerUpload, policy.ActionBatchDeleteImage,
		policy.ActionListImages, policy.ActionDescribeImages,
	}
	ips := []string{"10.1.2.3", "192.168.7.9", "172.16.4.4", "203.0.113.5", "2001:db8::1", "[2001:db8::2]:443", ""}
	now := time.Now()
	ins := make([]policy.Input, n)
	for i := range ins {
		repo := r.IntN(1000)
		team := repo % 50
		if r.IntN(3) > 0 {
			team = r.IntN(50)
		}
		var p *policy.Principal
		switch r.IntN(8) {
		case 0:
			p = &policy.Principal{ID: "u-ci", Name: "ci-bot", Groups: []string{"ci"}, Attributes: map[string]string{"team": fmt.Sprintf("team-%d", team)}}
		case 1:
			p = &policy.Principal{ID: "u-bob", Name: "bob", Groups: []string{"readers"}}
		case 2:
			p = nil // anonymous
		default:
			p = &policy.Principal{ID: fmt.Sprintf("u-%d", r.IntN(500)), Name: fmt.Sprintf("user-%d", r.IntN(500)),
				Groups: []string{"dev", fmt.Sprintf("team-%d", team)}, Attributes: map[string]string{"team": fmt.Sprintf("team-%d", team)}}
		}
		ref := fmt.Sprintf("sha256:%064x", r.Uint64())
		if r.IntN(4) == 0 {
			ref = fmt.Sprintf("v1.%d.%d", r.IntN(10), r.IntN(10))
		}
		ins[i] = policy.Input{
			Version:    policy.InputVersion,
			Principal:  p,
			Action:     actions[r.IntN(len(actions))],
			Repository: fmt.Sprintf("team-%d/app-%d", repo%50, repo),
			Reference:  ref,
			SourceIP:   ips[r.IntN(len(ips))],
			Time:       now,
		}
	}
	return ins
}

// reportLatency reports the median and 99th percentile of ds.
func reportLatency(b *testing.B, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(ds[len(ds)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkAuthorize1000 measures the latency of decisions under 1,000
// repository policies, for 8,192 distinct requests spread over the
// repositories (see bench1000Inputs), and reports the median and 99th
// percentile of the per-call latency: serially, with GOMAXPROCS callers
// and with 16 callers per CPU (whose latency includes waiting for a CPU).
// "uncached" disables the decision cache, so every call evaluates the
// policies; "cached" uses the default cache, which misses on the first
// call for each distinct request and hits afterwards.
func BenchmarkAuthorize1000(b *testing.B) {
	for _, mode := range []struct {
		name string
		size int
	}{{"uncached", -1}, {"cached", 0}} {
		b.Run(mode.name, func(b *testing.B) { benchAuthorize1000(b, mode.size) })
	}
}

func benchAuthorize1000(b *testing.B, cacheSize int) {
	a := bench1000Authorizer(b, cacheSize)
	ctx := context.Background()
	ins := bench1000Inputs(8192)
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		ds := make([]time.Duration, 0, 1<<16)
		i := 0
		for b.Loop() {
			in := ins[i%len(ins)]
			i++
			t0 := time.Now()
			if _, err := a.Authorize(ctx, in); err != nil {
				b.Fatal(err)
			}
			ds = append(ds, time.Since(t0))
		}
		reportLatency(b, ds)
	})
	for _, par := range []int{1, 16} {
		b.Run(fmt.Sprintf("parallel%d", par), func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(par)
			var mu sync.Mutex
			var all []time.Duration
			var next atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				ds := make([]time.Duration, 0, 1<<12)
				for pb.Next() {
					in := ins[int(next.Add(1))%len(ins)]
					t0 := time.Now()
					if _, err := a.Authorize(ctx, in); err != nil {
						b.Error(err)
						return
					}
					ds = append(ds, time.Since(t0))
				}
				mu.Lock()
				all = append(all, ds...)
				mu.Unlock()
			})
			reportLatency(b, all)
		})
	}
}
