package rego_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/berth-dev/berth/policy/rego"
)

func TestParsePolicyDocumentErrors(t *testing.T) {
	tests := []struct {
		name     string
		text     string
		location string // want InvalidPolicyError.Location
		reason   string // substring of Reason
	}{
		{"empty", ``, "", "empty"},
		{"syntax", "{\n  \"Statement\": [\n    {\"Effect\": \"Allow\",, }\n  ]\n}", "line 3, column 24", "JSON syntax error"},
		{"truncated", `{"Statement": [`, "line 1, column 16", "unexpected end"},
		{"trailing data", `{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "ecr:*"}} {}`, "line 1, column 73", "unexpected data"},
		{"not an object", `[]`, "$", "JSON object"},
		{"unknown top-level element", `{"Statements": []}`, "$.Statements", `unknown element "Statements"`},
		{"bad version", `{"Version": "2012-10-18", "Statement": []}`, "$.Version", "Version must be"},
		{"missing statement", `{"Version": "2012-10-17"}`, "$", "missing Statement"},
		{"empty statement list", `{"Statement": []}`, "$.Statement", "must not be empty"},
		{"unknown effect", `{"Statement": [{"Effect": "Permit", "Principal": "*", "Action": "ecr:*"}]}`,
			"$.Statement[0].Effect", `unknown Effect "Permit"`},
		{"lower-case effect", `{"Statement": [{"Effect": "allow", "Principal": "*", "Action": "ecr:*"}]}`,
			"$.Statement[0].Effect", "unknown Effect"},
		{"missing effect", `{"Statement": [{"Principal": "*", "Action": "ecr:*"}]}`, "$.Statement[0]", "missing Effect"},
		{"empty action", `{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": []}]}`,
			"$.Statement[0].Action", "must not be empty"},
		{"empty action string", `{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": ""}]}`,
			"$.Statement[0].Action", "must not be empty"},
		{"missing action", `{"Statement": [{"Effect": "Allow", "Principal": "*"}]}`, "$.Statement[0]", "missing Action"},
		{"action and not action", `{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:*", "NotAction": "ecr:PutImage"}]}`,
			"$.Statement[0]", "both Action and NotAction"},
		{"bad action", `{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": ["ecr:PutImage", "PutImage"]}]}`,
			"$.Statement[0].Action[1]", `action "PutImage"`},
		{"bad cidr", `{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:*",
			"Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "10.0.0.0/33"]}}}]}`,
			"$.Statement[0].Condition.IpAddress.aws:SourceIp[1]", "bad CIDR"},
		{"unknown operator", `{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:*",
			"Condition": {"StringMatches": {"aws:username": "x"}}}]}`,
			"$.Statement[0].Condition.StringMatches", `unknown condition operator "StringMatches"`},
		{"null with IfExists", `{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:*",
			"Condition": {"NullIfExists": {"aws:username": "true"}}}]}`,
			"$.Statement[0].Condition.NullIfExists", "unknown condition operator"},
		{"bad date", `{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:*",
			"Condition": {"DateLessThan": {"aws:CurrentTime": "next tuesday"}}}]}`,
			"$.Statement[0].Condition.DateLessThan.aws:CurrentTime[0]", "bad date"},
		{"bad bool", `{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:*",
			"Condition": {"Bool": {"aws:SecureTransport": "yes"}}}]}`,
			"$.Statement[0].Condition.Bool.aws:SecureTransport[0]", `"true" or "false"`},
		{"bad number", `{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:*",
			"Condition": {"NumericLessThan": {"aws:EpochTime": "NaN"}}}]}`,
			"$.Statement[0].Condition.NumericLessThan.aws:EpochTime[0]", "needs a number"},
		{"bad condition key", `{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:*",
			"Condition": {"StringEquals": {"username": "x"}}}]}`,
			"$.Statement[0].Condition.StringEquals.username", "not of the form"},
		{"duplicate condition", `{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:*",
			"Condition": {"StringEquals": {"aws:username": "x", "AWS:UserName": "y"}}}]}`,
			"$.Statement[0].Condition.StringEquals.aws:username", "duplicate condition"},
		{"wildcard principal arn", `{"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:user/*"}, "Action": "ecr:*"}]}`,
			"$.Statement[0].Principal.AWS[0]", "wildcards are not allowed"},
		{"bad principal", `{"Statement": [{"Effect": "Allow", "Principal": {"AWS": "alice"}, "Action": "ecr:*"}]}`,
			"$.Statement[0].Principal.AWS[0]", "neither"},
		{"federated principal", `{"Statement": [{"Effect": "Allow", "Principal": {"Federated": "x"}, "Action": "ecr:*"}]}`,
			"$.Statement[0].Principal.Federated", "not supported"},
		{"bad resource", `{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:*", "Resource": "repository/app"}]}`,
			"$.Statement[0].Resource[0]", "neither"},
		{"unterminated variable", `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:*",
			"Resource": "arn:aws:ecr:*:*:repository/${aws:username"}]}`,
			"$.Statement[0].Resource[0]", "unterminated policy variable"},
		{"unknown statement element", `{"Statement": [{"Effect": "Allow", "Principal": "*", "Actions": "ecr:*"}]}`,
			"$.Statement[0].Actions", `unknown element "Actions"`},
		{"too long", `{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:*", "Sid": "` +
			strings.Repeat("x", rego.MaxPolicyLength) + `"}]}`, "", "the limit is 10240"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rego.ParsePolicyDocument(tt.text)
			if !errors.Is(err, rego.ErrInvalidPolicy) {
				t.Fatalf("ParsePolicyDocument() error = %v, want ErrInvalidPolicy", err)
			}
			var ipe *rego.InvalidPolicyError
			if !errors.As(err, &ipe) {
				t.Fatalf("error %T is not an *InvalidPolicyError", err)
			}
			if ipe.Location != tt.location {
				t.Errorf("Location = %q, want %q (error: %v)", ipe.Location, tt.location, err)
			}
			if !strings.Contains(ipe.Reason, tt.reason) {
				t.Errorf("Reason = %q, want it to contain %q", ipe.Reason, tt.reason)
			}
		})
	}
}

func TestParsePolicyDocumentNormalises(t *testing.T) {
	a, err := rego.ParsePolicyDocument(`{
		"Version": "2012-10-17",
		"Statement": {
			"Sid": "S",
			"Effect": "Allow",
			"Principal": {"AWS": "000000000000"},
			"Action": "ECR:BatchGetImage",
			"Condition": {
				"ipaddress": {"AWS:SourceIp": "10.1.0.0/8"},
				"DateLessThan": {"aws:CurrentTime": "2030-01-01T01:00:00+01:00"},
				"Bool": {"aws:SecureTransport": true}
			}
		}
	}`)
	if err != nil {
		t.Fatal(err)
	}
	want := &rego.Document{
		Version: "2012-10-17",
		Statement: []rego.Statement{{
			Sid:       "S",
			Effect:    "Allow",
			Principal: &rego.Principals{AWS: []string{"arn:aws:iam::000000000000:root"}},
			Action:    []string{"ecr:batchgetimage"},
			Condition: []rego.Condition{
				{Operator: "Bool", Key: "aws:securetransport", Values: []string{"true"}},
				{Operator: "DateLessThan", Key: "aws:currenttime", Values: []string{"2030-01-01T00:00:00Z"}},
				{Operator: "IpAddress", Key: "aws:sourceip", Values: []string{"10.0.0.0/8"}},
			},
		}},
	}
	if !reflect.DeepEqual(a, want) {
		t.Errorf("ParsePolicyDocument() =\n%#v\nwant\n%#v", a, want)
	}

	// The JSON encoding is IAM policy JSON that parses back to the same.
	b, err := rego.ParsePolicyDocument(a.String())
	if err != nil {
		t.Fatalf("re-parse %s: %v", a, err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("round trip changed the document:\n%s\n%s", a, b)
	}
}

func TestParsePolicyDocumentPrincipalStar(t *testing.T) {
	for _, p := range []string{`"*"`, `{"AWS": "*"}`, `{"AWS": ["arn:aws:iam::000000000000:user/a", "*"], "Service": "x.amazonaws.com"}`} {
		d, err := rego.ParsePolicyDocument(`{"Statement": {"Effect": "Allow", "Principal": ` + p + `, "Action": "ecr:*"}}`)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if got := d.Statement[0].Principal; !reflect.DeepEqual(got, &rego.Principals{AWS: []string{"*"}}) {
			t.Errorf("%s: Principal = %+v, want AWS [*]", p, got)
		}
	}
}
