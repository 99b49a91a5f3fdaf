package rego

import (
	"reflect"
	"testing"
)

var fuzzSeeds = []string{
	`{"Version": "2012-10-17", "Statement": [{"Sid": "AllowPull", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:user/pull-user"}, "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]}]}`,
	`{"Version": "2008-10-17", "Statement": {"Effect": "Allow", "Principal": "*", "Action": "ecr:*"}}`,
	`{"Version": "2012-10-17", "Statement": [{"Sid": "IPAllow", "Effect": "Deny", "Principal": "*", "Action": "ecr:*", "Condition": {"NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"}}}]}`,
	`{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "NotPrincipal": {"AWS": ["111122223333", "arn:aws:iam::111122223333:role/x"], "Service": "codebuild.amazonaws.com"}, "NotAction": "ecr:Batch*", "NotResource": "arn:aws:ecr:*:*:repository/prod/*"}]}`,
	`{"Version": "2012-10-17", "Id": "x", "Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "arn:aws:ecr:*:*:repository/${aws:username}/${*}x",
	  "Condition": {"ForAllValues:StringLikeIfExists": {"aws:TagKeys": ["a*", "b?"]}, "DateLessThan": {"aws:CurrentTime": "2030-01-01"}, "DateGreaterThan": {"aws:EpochTime": 1700000000},
	  "NumericLessThanEquals": {"s3:max-keys": "10"}, "Bool": {"aws:SecureTransport": false}, "Null": {"aws:TokenIssueTime": "true"},
	  "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/team-*"}, "StringEqualsIgnoreCase": {"aws:PrincipalTag/Team": "Web"}}}]}`,
	`{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:*", "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.1", "2001:db8::/32"]}}}]}`,
	`{"Statement": []}`,
	`{"Statement": [{"Effect": "allow"}]}`,
	`[1, 2]`,
	`{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:*", "Sid": "\u00e9\ud800"}]}`,
}

// FuzzParsePolicyDocument checks that ParsePolicyDocument never panics, that
// every accepted document re-serialises to IAM JSON that parses back to the
// same normalised Document, and that accepted documents compile.
func FuzzParsePolicyDocument(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		d, err := ParsePolicyDocument(text)
		if err != nil {
			if d != nil {
				t.Fatalf("ParsePolicyDocument returned a document and an error: %v", err)
			}
			return
		}
		b, err := d.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON: %v", err)
		}
		// The re-serialised text may exceed MaxPolicyLength (single
		// values become lists), so parse it without the limit.
		d2, err := parseDocument(string(b), false)
		if err != nil {
			t.Fatalf("re-parse of %s: %v\noriginal: %q", b, err, text)
		}
		if !reflect.DeepEqual(d, d2) {
			t.Fatalf("round trip changed the document:\n%#v\n%#v\ntext: %q\nre-serialised: %s", d, d2, text, b)
		}
		for _, k := range []policyKind{repositoryPolicy, registryPolicy, identityPolicy} {
			if checkKind(d, k) == nil {
				if _, err := compileDocument(d, k, "fuzz", text); err != nil {
					t.Fatalf("compileDocument(%v): %v", k, err)
				}
			}
		}
	})
}
