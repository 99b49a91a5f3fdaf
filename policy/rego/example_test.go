package rego_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/policy/rego"
)

func Example() {
	ctx := context.Background()
	a, err := rego.New(ctx, rego.Options{
		// ECR repository policy: ci may push and pull, everyone may pull.
		RepositoryPolicies: map[string]string{"team/app": `{
		  "Version": "2012-10-17",
		  "Statement": [
		    {"Sid": "CIPushPull", "Effect": "Allow",
		     "Principal": {"AWS": "arn:aws:iam::000000000000:group/ci"},
		     "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability",
		                "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage"]},
		    {"Sid": "Pull", "Effect": "Allow", "Principal": "*",
		     "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}
		  ]
		}`},
		// A rule IAM JSON cannot say: release tags are immutable after 2025.
		Modules: map[string]string{"release.rego": `package berth.custom

deny contains "release tags are frozen" if {
	input.action == "ecr:PutImage"
	startswith(input.reference, "v")
	time.parse_rfc3339_ns(input.time) > time.parse_rfc3339_ns("2026-01-01T00:00:00Z")
}
`},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	ci := &policy.Principal{ID: "u-1", Name: "runner", Groups: []string{"ci"}}
	dev := &policy.Principal{ID: "u-2", Name: "dev"}
	t := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, in := range []policy.Input{
		{Principal: ci, Action: policy.ActionPutImage, Repository: "team/app", Reference: "main", Time: t},
		{Principal: dev, Action: policy.ActionPutImage, Repository: "team/app", Reference: "main", Time: t},
		{Principal: dev, Action: policy.ActionBatchGetImage, Repository: "team/app", Reference: "main", Time: t},
		{Principal: ci, Action: policy.ActionPutImage, Repository: "team/app", Reference: "v1.0.0", Time: t},
	} {
		d, err := a.Authorize(ctx, in)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s %s %s: %v %q\n", in.Principal.Name, in.Action, in.Reference, d.Allow, d.Reasons)
	}

	// A policy that does not parse is rejected with its location, and the
	// old one stays in force.
	err = a.SetRepositoryPolicy(ctx, "team/app", `{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:*",
		"Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/33"}}}]}`, false)
	fmt.Println(errors.Is(err, rego.ErrInvalidPolicy), err)
	// Output:
	// runner ecr:PutImage main: true ["allowed by repository policy \"team/app\": statement \"CIPushPull\""]
	// dev ecr:PutImage main: false ["no statement allows ecr:PutImage on arn:aws:ecr:local:000000000000:repository/team/app"]
	// dev ecr:BatchGetImage main: true ["allowed by repository policy \"team/app\": statement \"Pull\""]
	// runner ecr:PutImage v1.0.0: false ["denied by custom rule: release tags are frozen"]
	// true invalid policy: repository policy "team/app": $.Statement[0].Condition.IpAddress.aws:SourceIp[0]: IpAddress: bad CIDR "10.0.0.0/33"
}

func ExampleParsePolicyDocument() {
	d, err := rego.ParsePolicyDocument(`{
	  "Version": "2012-10-17",
	  "Statement": {"Sid": "Pull", "Effect": "Allow", "Principal": {"AWS": "000000000000"},
	                "Action": "ECR:BatchGetImage", "Condition": {"ipaddress": {"AWS:SourceIp": "10.1.2.3"}}}
	}`)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(d)
	// Output:
	// {"Version":"2012-10-17","Statement":[{"Sid":"Pull","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::000000000000:root"]},"Action":["ecr:batchgetimage"],"Condition":{"IpAddress":{"aws:sourceip":["10.1.2.3/32"]}}}]}
}
