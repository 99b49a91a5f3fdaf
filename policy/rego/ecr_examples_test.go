package rego_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/policy/rego"
)

// The repository policies below reproduce the examples of the Amazon ECR
// User Guide, "Private repository policy examples"
// (https://docs.aws.amazon.com/AmazonECR/latest/userguide/repository-policy-examples.html),
// with account 000000000000 (the default RegistryID).

const pushPullPolicy = `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "AllowPushPull",
      "Effect": "Allow",
      "Principal": {
        "AWS": [
          "arn:aws:iam::000000000000:user/push-pull-user-1",
          "arn:aws:iam::000000000000:user/push-pull-user-2"
        ]
      },
      "Action": [
        "ecr:BatchGetImage",
        "ecr:BatchCheckLayerAvailability",
        "ecr:CompleteLayerUpload",
        "ecr:GetDownloadUrlForLayer",
        "ecr:InitiateLayerUpload",
        "ecr:PutImage",
        "ecr:UploadLayerPart"
      ]
    }
  ]
}`

const pullPolicy = `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "AllowPull",
      "Effect": "Allow",
      "Principal": {"AWS": "arn:aws:iam::000000000000:user/pull-user"},
      "Action": [
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchCheckLayerAvailability"
      ]
    }
  ]
}`

const crossAccountPushPolicy = `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "AllowCrossAccountPush",
      "Effect": "Allow",
      "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
      "Action": [
        "ecr:BatchCheckLayerAvailability",
        "ecr:CompleteLayerUpload",
        "ecr:InitiateLayerUpload",
        "ecr:PutImage",
        "ecr:UploadLayerPart"
      ]
    }
  ]
}`

const denyPullPolicy = `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "DenyPull",
      "Effect": "Deny",
      "Principal": "*",
      "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    }
  ]
}`

const ipAllowPolicy = `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "IPAllow",
      "Effect": "Deny",
      "Principal": "*",
      "Action": "ecr:*",
      "Condition": {"NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"}}
    }
  ]
}`

const publicPullPolicy = `{
  "Version": "2008-10-17",
  "Statement": [
    {
      "Sid": "AllowPublicPull",
      "Effect": "Allow",
      "Principal": "*",
      "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    }
  ]
}`

const codeBuildPolicy = `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "CodeBuildAccess",
      "Effect": "Allow",
      "Principal": {"Service": "codebuild.amazonaws.com"},
      "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
      "Condition": {
        "ArnLike": {"aws:SourceArn": "arn:aws:codebuild:region:123456789012:project/project-name"},
        "StringEquals": {"aws:SourceAccount": "123456789012"}
      }
    }
  ]
}`

// allowAllIdentity is an identity policy that allows every ECR action.
const allowAllIdentity = `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]}`

func user(name string, groups ...string) *policy.Principal {
	return &policy.Principal{ID: "id-" + name, Name: name, Groups: groups}
}

var day = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func req(p *policy.Principal, action, repo string) policy.Input {
	return policy.Input{Version: policy.InputVersion, Principal: p, Action: action, Repository: repo, Time: day}
}

func withIP(in policy.Input, ip string) policy.Input { in.SourceIP = ip; return in }

func at(in policy.Input, t time.Time) policy.Input { in.Time = t; return in }

func TestECRRepositoryPolicyExamples(t *testing.T) {
	const repo = "team/app"
	tests := []struct {
		name       string
		repoPolicy string
		identity   map[string][]string
		registry   string
		anonymous  bool
		in         policy.Input
		allow      bool
		reason     string // substring of one of the reasons
	}{
		// Allow push and pull to named users.
		{name: "push-pull user may push", repoPolicy: pushPullPolicy,
			in: req(user("push-pull-user-1"), policy.ActionPutImage, repo), allow: true, reason: `statement "AllowPushPull"`},
		{name: "push-pull user may pull", repoPolicy: pushPullPolicy,
			in: req(user("push-pull-user-2"), policy.ActionBatchGetImage, repo), allow: true},
		{name: "push-pull user may not delete", repoPolicy: pushPullPolicy,
			in: req(user("push-pull-user-1"), policy.ActionBatchDeleteImage, repo), allow: false, reason: "no statement allows"},
		{name: "other user may not push", repoPolicy: pushPullPolicy,
			in: req(user("mallory"), policy.ActionPutImage, repo), allow: false},
		{name: "policy is for its repository only", repoPolicy: pushPullPolicy,
			in: req(user("push-pull-user-1"), policy.ActionPutImage, "other"), allow: false},

		// Allow pull to another principal.
		{name: "pull user may pull manifests", repoPolicy: pullPolicy,
			in: req(user("pull-user"), policy.ActionBatchGetImage, repo), allow: true, reason: `statement "AllowPull"`},
		{name: "pull user may pull layers", repoPolicy: pullPolicy,
			in: req(user("pull-user"), policy.ActionGetDownloadURLForLayer, repo), allow: true},
		{name: "pull user may check layers", repoPolicy: pullPolicy,
			in: req(user("pull-user"), policy.ActionBatchCheckLayerAvailability, repo), allow: true},
		{name: "pull user may not push", repoPolicy: pullPolicy,
			in: req(user("pull-user"), policy.ActionPutImage, repo), allow: false},

		// Naming an account delegates to its identity policies.
		{name: "own account principal grants nothing by itself",
			repoPolicy: strings.ReplaceAll(crossAccountPushPolicy, "111122223333", "000000000000"),
			in:         req(user("alice"), policy.ActionPutImage, repo), allow: false},
		{name: "other account principal does not match local users", repoPolicy: crossAccountPushPolicy,
			in: req(user("alice"), policy.ActionPutImage, repo), allow: false},
		{name: "own account principal plus identity policy",
			repoPolicy: strings.ReplaceAll(crossAccountPushPolicy, "111122223333", "000000000000"),
			identity:   map[string][]string{"arn:aws:iam::000000000000:user/alice": {allowAllIdentity}},
			in:         req(user("alice"), policy.ActionPutImage, repo), allow: true},

		// Explicit deny beats any allow.
		{name: "deny pull beats identity allow", repoPolicy: denyPullPolicy,
			identity: map[string][]string{"*": {allowAllIdentity}},
			in:       req(user("alice"), policy.ActionBatchGetImage, repo), allow: false, reason: `denied by repository policy "team/app": statement "DenyPull"`},
		{name: "deny pull leaves push", repoPolicy: denyPullPolicy,
			identity: map[string][]string{"*": {allowAllIdentity}},
			in:       req(user("alice"), policy.ActionPutImage, repo), allow: true},
		{name: "deny push to a user beats registry allow",
			repoPolicy: `{"Version": "2012-10-17", "Statement": [{"Sid": "DenyPush", "Effect": "Deny",
				"Principal": {"AWS": "arn:aws:iam::000000000000:user/intern"},
				"Action": ["ecr:PutImage", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload"]}]}`,
			registry: `{"Version": "2012-10-17", "Statement": [{"Sid": "All", "Effect": "Allow", "Principal": "*",
				"Action": "ecr:*", "Resource": "arn:aws:ecr:local:000000000000:repository/*"}]}`,
			in: req(user("intern"), policy.ActionPutImage, repo), allow: false, reason: `"DenyPush"`},
		{name: "deny push to a user leaves others",
			repoPolicy: `{"Version": "2012-10-17", "Statement": [{"Sid": "DenyPush", "Effect": "Deny",
				"Principal": {"AWS": "arn:aws:iam::000000000000:user/intern"}, "Action": "ecr:PutImage"}]}`,
			registry: `{"Version": "2012-10-17", "Statement": [{"Sid": "All", "Effect": "Allow", "Principal": "*",
				"Action": "ecr:*", "Resource": "arn:aws:ecr:local:000000000000:repository/*"}]}`,
			in: req(user("alice"), policy.ActionPutImage, repo), allow: true, reason: `allowed by registry policy: statement "All"`},

		// Source IP conditions.
		{name: "IPAllow: inside the range", repoPolicy: ipAllowPolicy,
			identity: map[string][]string{"*": {allowAllIdentity}},
			in:       withIP(req(user("alice"), policy.ActionBatchGetImage, repo), "192.0.2.10"), allow: true},
		{name: "IPAllow: outside the range", repoPolicy: ipAllowPolicy,
			identity: map[string][]string{"*": {allowAllIdentity}},
			in:       withIP(req(user("alice"), policy.ActionBatchGetImage, repo), "203.0.113.9"), allow: false, reason: `"IPAllow"`},
		{name: "IPAllow: no source IP is outside", repoPolicy: ipAllowPolicy,
			identity: map[string][]string{"*": {allowAllIdentity}},
			in:       req(user("alice"), policy.ActionBatchGetImage, repo), allow: false},
		{name: "IPAllow: IPv4-mapped address with port", repoPolicy: ipAllowPolicy,
			identity: map[string][]string{"*": {allowAllIdentity}},
			in:       withIP(req(user("alice"), policy.ActionBatchGetImage, repo), "[::ffff:192.0.2.10]:5000"), allow: true},
		{name: "IpAddress allow",
			repoPolicy: `{"Version": "2012-10-17", "Statement": [{"Sid": "Office", "Effect": "Allow", "Principal": "*",
				"Action": "ecr:BatchGetImage", "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32"]}}}]}`,
			in: withIP(req(user("alice"), policy.ActionBatchGetImage, repo), "2001:db8::1"), allow: true},
		{name: "IpAddress allow, outside",
			repoPolicy: `{"Version": "2012-10-17", "Statement": [{"Sid": "Office", "Effect": "Allow", "Principal": "*",
				"Action": "ecr:BatchGetImage", "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8"]}}}]}`,
			in: withIP(req(user("alice"), policy.ActionBatchGetImage, repo), "172.16.0.1"), allow: false},

		// Wildcard actions.
		{name: "ecr:* allows everything",
			repoPolicy: `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:user/admin"}, "Action": "ecr:*"}]}`,
			in:         req(user("admin"), policy.ActionDeleteRepository, repo), allow: true, reason: "Statement[0]"},
		{name: "ecr:Batch* allows BatchGetImage",
			repoPolicy: `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:Batch*"}]}`,
			in:         req(user("alice"), policy.ActionBatchGetImage, repo), allow: true},
		{name: "ecr:Batch* does not allow PutImage",
			repoPolicy: `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:Batch*"}]}`,
			in:         req(user("alice"), policy.ActionPutImage, repo), allow: false},
		{name: "action names are case-insensitive",
			repoPolicy: `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ECR:batchgetIMAGE"}]}`,
			in:         req(user("alice"), policy.ActionBatchGetImage, repo), allow: true},
		{name: "? matches one character",
			repoPolicy: `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:?utImage"}]}`,
			in:         req(user("alice"), policy.ActionPutImage, repo), allow: true},

		// NotAction: a read-only repository.
		{name: "NotAction denies push",
			repoPolicy: `{"Version": "2012-10-17", "Statement": [{"Sid": "ReadOnly", "Effect": "Deny", "Principal": "*",
				"NotAction": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]}]}`,
			identity: map[string][]string{"*": {allowAllIdentity}},
			in:       req(user("alice"), policy.ActionPutImage, repo), allow: false, reason: `"ReadOnly"`},
		{name: "NotAction leaves pull",
			repoPolicy: `{"Version": "2012-10-17", "Statement": [{"Sid": "ReadOnly", "Effect": "Deny", "Principal": "*",
				"NotAction": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]}]}`,
			identity: map[string][]string{"*": {allowAllIdentity}},
			in:       req(user("alice"), policy.ActionBatchGetImage, repo), allow: true},

		// Public ("*") access.
		{name: "public pull: anonymous denied unless enabled", repoPolicy: publicPullPolicy,
			in: req(nil, policy.ActionBatchGetImage, repo), allow: false},
		{name: "public pull: anonymous allowed when enabled", repoPolicy: publicPullPolicy, anonymous: true,
			in: req(nil, policy.ActionBatchGetImage, repo), allow: true, reason: `"AllowPublicPull"`},
		{name: "public pull: anonymous may not push", repoPolicy: publicPullPolicy, anonymous: true,
			in: req(nil, policy.ActionPutImage, repo), allow: false},
		{name: "public pull: any authenticated user", repoPolicy: publicPullPolicy,
			in: req(user("alice"), policy.ActionBatchGetImage, repo), allow: true},

		// Expiry with DateLessThan.
		{name: "DateLessThan before expiry",
			repoPolicy: `{"Version": "2012-10-17", "Statement": [{"Sid": "Temporary", "Effect": "Allow", "Principal": "*",
				"Action": "ecr:BatchGetImage", "Condition": {"DateLessThan": {"aws:CurrentTime": "2025-07-01T00:00:00Z"}}}]}`,
			in: req(user("alice"), policy.ActionBatchGetImage, repo), allow: true},
		{name: "DateLessThan after expiry",
			repoPolicy: `{"Version": "2012-10-17", "Statement": [{"Sid": "Temporary", "Effect": "Allow", "Principal": "*",
				"Action": "ecr:BatchGetImage", "Condition": {"DateLessThan": {"aws:CurrentTime": "2025-07-01T00:00:00Z"}}}]}`,
			in: at(req(user("alice"), policy.ActionBatchGetImage, repo), time.Date(2025, 7, 2, 0, 0, 0, 0, time.UTC)), allow: false},
		{name: "DateGreaterThan with epoch seconds",
			repoPolicy: `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
				"Action": "ecr:BatchGetImage", "Condition": {"DateGreaterThan": {"aws:EpochTime": 1700000000}}}]}`,
			in: req(user("alice"), policy.ActionBatchGetImage, repo), allow: true},

		// Conditions on the principal.
		{name: "StringLike on aws:username",
			repoPolicy: `{"Version": "2012-10-17", "Statement": [{"Sid": "CI", "Effect": "Allow", "Principal": "*",
				"Action": "ecr:PutImage", "Condition": {"StringLike": {"aws:username": "ci-*"}}}]}`,
			in: req(user("ci-runner-7"), policy.ActionPutImage, repo), allow: true},
		{name: "StringLike on aws:username, no match",
			repoPolicy: `{"Version": "2012-10-17", "Statement": [{"Sid": "CI", "Effect": "Allow", "Principal": "*",
				"Action": "ecr:PutImage", "Condition": {"StringLike": {"aws:username": "ci-*"}}}]}`,
			in: req(user("alice"), policy.ActionPutImage, repo), allow: false},
		{name: "ArnLike on aws:PrincipalArn",
			repoPolicy: `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
				"Action": "ecr:*", "Condition": {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/team-a-*"}}}]}`,
			in: req(user("team-a-bob"), policy.ActionPutImage, repo), allow: true},
		{name: "ArnLike on aws:PrincipalArn, no match",
			repoPolicy: `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
				"Action": "ecr:*", "Condition": {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/team-a-*"}}}]}`,
			in: req(user("team-b-bob"), policy.ActionPutImage, repo), allow: false},
		{name: "ArnEquals on aws:PrincipalArn",
			repoPolicy: `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
				"Action": "ecr:*", "Condition": {"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::000000000000:user/bob"}}}]}`,
			in: req(user("bob"), policy.ActionPutImage, repo), allow: true},
		{name: "StringEquals on a principal tag",
			repoPolicy: `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
				"Action": "ecr:PutImage", "Condition": {"StringEquals": {"aws:PrincipalTag/Team": "platform"}}}]}`,
			in: req(&policy.Principal{ID: "7", Name: "carol", Attributes: map[string]string{"team": "platform"}}, policy.ActionPutImage, repo), allow: true},
		{name: "StringNotEquals deny on userid",
			repoPolicy: `{"Version": "2012-10-17", "Statement": [
				{"Effect": "Allow", "Principal": "*", "Action": "ecr:*"},
				{"Sid": "OnlyOwner", "Effect": "Deny", "Principal": "*", "Action": "ecr:DeleteRepository",
				 "Condition": {"StringNotEquals": {"aws:userid": "id-owner"}}}]}`,
			in: req(user("alice"), policy.ActionDeleteRepository, repo), allow: false, reason: `"OnlyOwner"`},

		// Groups and roles as principals (Berth extension).
		{name: "group ARN as principal",
			repoPolicy: `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:group/ci"}, "Action": "ecr:PutImage"}]}`,
			in:         req(user("runner", "ci"), policy.ActionPutImage, repo), allow: true},
		{name: "role ARN as principal",
			repoPolicy: `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:role/deployer"}, "Action": "ecr:BatchGetImage"}]}`,
			in:         req(user("svc", "role/deployer"), policy.ActionBatchGetImage, repo), allow: true},

		// Service principals never match Berth principals.
		{name: "service principal", repoPolicy: codeBuildPolicy,
			in: req(user("codebuild"), policy.ActionBatchGetImage, repo), allow: false},

		// Policy variables in identity policies.
		{name: "identity policy with ${aws:username}",
			identity: map[string][]string{"*": {`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:*",
				"Resource": "arn:aws:ecr:*:*:repository/${aws:username}/*"}]}`}},
			in: req(user("alice"), policy.ActionPutImage, "alice/app"), allow: true},
		{name: "identity policy with ${aws:username}, someone else's namespace",
			identity: map[string][]string{"*": {`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:*",
				"Resource": "arn:aws:ecr:*:*:repository/${aws:username}/*"}]}`}},
			in: req(user("alice"), policy.ActionPutImage, "bob/app"), allow: false},

		// Registry-wide actions have the resource "*".
		{name: "registry-wide action needs Resource *",
			identity: map[string][]string{"*": {`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:*",
				"Resource": "arn:aws:ecr:local:000000000000:repository/*"}]}`}},
			in: req(user("alice"), policy.ActionGetAuthorizationToken, ""), allow: false},
		{name: "registry-wide action with Resource *",
			identity: map[string][]string{"*": {`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}]}`}},
			in:       req(user("alice"), policy.ActionGetAuthorizationToken, ""), allow: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			opts := rego.Options{IdentityPolicies: tt.identity, RegistryPolicy: tt.registry, AllowAnonymous: tt.anonymous}
			if tt.repoPolicy != "" {
				opts.RepositoryPolicies = map[string]string{repo: tt.repoPolicy}
			}
			a, err := rego.New(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			d, err := a.Authorize(ctx, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allow != tt.allow {
				t.Errorf("Authorize().Allow = %v, want %v (reasons %q)", d.Allow, tt.allow, d.Reasons)
			}
			if len(d.Reasons) == 0 {
				t.Errorf("Authorize() returned no reasons")
			}
			if tt.reason != "" && !strings.Contains(strings.Join(d.Reasons, "\n"), tt.reason) {
				t.Errorf("Authorize().Reasons = %q, want one containing %q", d.Reasons, tt.reason)
			}
		})
	}
}

// TestActionsOutsideTheECRList checks statement selection for actions that
// are not ECR actions Berth knows, and for unusual spellings.
func TestActionsOutsideTheECRList(t *testing.T) {
	ctx := context.Background()
	a, err := rego.New(ctx, rego.Options{RepositoryPolicies: map[string]string{"app": `{
	  "Version": "2012-10-17",
	  "Statement": [
	    {"Sid": "Future", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:user/alice"}, "Action": "ecr:Future*"},
	    {"Sid": "Other", "Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject"]},
	    {"Sid": "NotPull", "Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::000000000000:user/bob"},
	     "NotAction": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}
	  ]
	}`}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		who    string
		action string
		allow  bool
	}{
		{"alice", "ecr:FutureAction", true},
		{"alice", "ECR:futureaction", true},
		{"bob", "ecr:FutureAction", false},
		{"alice", "s3:GetObject", true},
		{"alice", "S3:getobject", true},
		{"bob", "s3:GetObject", false}, // NotPull denies bob everything but pulls
		{"bob", "ecr:PutImage", false},
		{"alice", "ecr:PutImage", false},
		{"alice", "ecr:putimage", false},
	} {
		d, err := a.Authorize(ctx, req(user(tt.who), tt.action, "app"))
		if err != nil {
			t.Fatal(err)
		}
		if d.Allow != tt.allow {
			t.Errorf("%s %s: Allow = %v, want %v (%q)", tt.who, tt.action, d.Allow, tt.allow, d.Reasons)
		}
	}
}
