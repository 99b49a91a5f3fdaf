package rego

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	opa "github.com/open-policy-agent/opa/v1/rego"
)

// wildcardMatchARN is the reference for ArnLike: * and ? do not match ':',
// except that "*" alone matches anything.
func wildcardMatchARN(pattern, s string) bool {
	if pattern == "*" {
		return true
	}
	return wildcardMatchSegments(pattern, s)
}

func wildcardMatchSegments(pattern, s string) bool {
	if pattern == "" {
		return s == ""
	}
	switch pattern[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if wildcardMatchSegments(pattern[1:], s[i:]) {
				return true
			}
			if i < len(s) && s[i] == ':' {
				return false
			}
		}
		return false
	case '?':
		return s != "" && s[0] != ':' && wildcardMatchSegments(pattern[1:], s[1:])
	default:
		return s != "" && s[0] == pattern[0] && wildcardMatchSegments(pattern[1:], s[1:])
	}
}

// TestPatternsAgreeWithWildcardMatch checks that compiled pattern sets, as
// the Rego policies match them, agree with the IAM wildcard semantics the
// Go side uses to index actions: * matches any run of characters, ? one
// character, and nothing else is special.
func TestPatternsAgreeWithWildcardMatch(t *testing.T) {
	ctx := context.Background()
	a, err := New(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := a.compileModules(nil)
	if err != nil {
		t.Fatal(err)
	}
	pq, err := opa.New(opa.Query("data.berth.iam.in_set(input.ps, input.s)"), opa.Compiler(c)).PrepareForEval(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	gen := func(alphabet string, n int) string {
		var b strings.Builder
		for range r.IntN(n) {
			b.WriteByte(alphabet[r.IntN(len(alphabet))])
		}
		return b.String()
	}
	for i := range 3000 {
		pattern := gen(`ab*?[]{}\:`, 7)
		s := gen(`ab[]{}\:*?`, 7)
		if pattern == "" {
			continue
		}
		mode, want := matchGlob, wildcardMatch(pattern, s)
		if i%2 == 1 {
			mode, want = matchARN, wildcardMatchARN(pattern, s)
		}
		ps, err := ast.InterfaceToValue(compilePatternSet([]string{pattern}, mode, false))
		if err != nil {
			t.Fatal(err)
		}
		rs, err := pq.Eval(ctx, opa.EvalParsedInput(ast.NewObject(
			ast.Item(ast.StringTerm("ps"), ast.NewTerm(ps)),
			ast.Item(ast.StringTerm("s"), ast.StringTerm(s)),
		)))
		if err != nil {
			t.Fatal(err)
		}
		if got := len(rs) == 1; got != want {
			t.Errorf("mode %d: pattern %q, %q: Rego says %v, want %v (compiled %v)", mode, pattern, s, got, want, ps)
		}
	}
}

func TestWildcardMatch(t *testing.T) {
	for _, tt := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true},
		{"*", "ecr:putimage", true},
		{"ecr:*", "ecr:putimage", true},
		{"ecr:batch*", "ecr:batchgetimage", true},
		{"ecr:batch*", "ecr:putimage", false},
		{"ecr:*image", "ecr:putimage", true},
		{"ecr:?utimage", "ecr:putimage", true},
		{"ecr:?utimage", "ecr:utimage", false},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
		{"", "", true},
		{"", "a", false},
	} {
		if got := wildcardMatch(tt.p, tt.s); got != tt.want {
			t.Errorf("wildcardMatch(%q, %q) = %v, want %v", tt.p, tt.s, got, tt.want)
		}
	}
}
