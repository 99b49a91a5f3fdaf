package rego

import (
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	opa "github.com/open-policy-agent/opa/v1/rego"
)

// TestIPInMatchesOPA checks berth.ip_in against OPA's
// net.cidr_contains_matches, which it replaces.
func TestIPInMatchesOPA(t *testing.T) {
	cidrSets := [][]string{
		{"10.0.0.0/8"}, {"192.168.0.0/16", "10.1.2.3/32"}, {"0.0.0.0/0"}, {"::/0"},
		{"2001:db8::/32"}, {"2001:db8::1/128"}, {"::ffff:0.0.0.0/96"}, {"::ffff:10.0.0.0/104"},
		{"::fffe:0:0/95"}, {"10.0.0.0/8", "2001:db8::/32"}, {}, {"fe80::/10"},
	}
	values := []*ast.Term{
		ast.StringTerm("10.1.2.3"), ast.StringTerm("192.168.7.9"), ast.StringTerm("11.0.0.1"),
		ast.StringTerm("::ffff:10.1.2.3"), ast.StringTerm("2001:db8::1"), ast.StringTerm("2001:db9::1"),
		ast.StringTerm("fe80::1%eth0"), ast.StringTerm("fe80::1"), ast.StringTerm("::"), ast.StringTerm("0.0.0.0"),
		ast.StringTerm("10.1.0.0/16"), ast.StringTerm("2001:db8::/48"), ast.StringTerm("alice"), ast.StringTerm(""),
		ast.StringTerm("010.1.2.3"), ast.StringTerm("::ffff:0:0"), ast.IntNumberTerm(167837955), ast.NullTerm(),
	}
	for _, set := range cidrSets {
		terms := make([]*ast.Term, len(set))
		for i, c := range set {
			terms[i] = ast.StringTerm(c)
		}
		cidrs := ast.ArrayTerm(terms...)
		for _, v := range values {
			got, err := ipIn(opa.BuiltinContext{}, cidrs, v)
			if err != nil {
				t.Fatal(err)
			}
			want := cidrContainsMatchesOPA(cidrs, v)
			if got.Value.(ast.Boolean) != ast.Boolean(want) {
				t.Errorf("berth.ip_in(%v, %v) = %v, net.cidr_contains_matches says %v", cidrs, v, got, want)
			}
		}
	}
}
