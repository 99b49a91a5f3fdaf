package rego

import (
	"net/netip"

	"github.com/open-policy-agent/opa/v1/ast"
	opa "github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/types"
)

// ipInBuiltin is berth.ip_in(cidrs, v), which the embedded policies use for
// the IpAddress and NotIpAddress operators. It is true if v is in one of
// cidrs, and false otherwise; it is exactly
//
//	count(net.cidr_contains_matches(cidrs, v)) > 0
//
// with false where that is an error (v is not a string, or neither an
// address nor a CIDR), but decides the common case, v an address, without
// OPA's per-call parsing and result sets. The policies only decide with its
// result: the matching logic stays in Rego.
var ipInBuiltin = &ast.Builtin{
	Name: "berth.ip_in",
	Decl: types.NewFunction(types.Args(types.NewArray(nil, types.S), types.A), types.B),
}

var ipInFunction = opa.Function2(&opa.Function{Name: ipInBuiltin.Name, Decl: ipInBuiltin.Decl}, ipIn)

var cidrContainsMatches = topdown.GetBuiltin("net.cidr_contains_matches")

func ipIn(_ opa.BuiltinContext, cidrs, v *ast.Term) (*ast.Term, error) {
	s, ok := v.Value.(ast.String)
	if !ok {
		return ast.InternedTerm(false), nil
	}
	arr, ok := cidrs.Value.(*ast.Array)
	addr, err := netip.ParseAddr(string(s))
	if !ok || err != nil || addr.Zone() != "" {
		// Not an address as net.ParseIP takes it (a CIDR, say): OPA's
		// builtin decides.
		return ast.InternedTerm(cidrContainsMatchesOPA(cidrs, v)), nil
	}
	// net.IPNet.Contains compares IPv4 and IPv4-mapped IPv6 addresses and
	// networks as IPv4.
	addr = addr.Unmap()
	for i := range arr.Len() {
		c, ok := arr.Elem(i).Value.(ast.String)
		if !ok {
			return ast.InternedTerm(cidrContainsMatchesOPA(cidrs, v)), nil
		}
		p, err := netip.ParsePrefix(string(c))
		if err != nil || p.Addr().Zone() != "" {
			return ast.InternedTerm(cidrContainsMatchesOPA(cidrs, v)), nil
		}
		p = p.Masked()
		if p.Addr().Is4In6() { // then p.Bits() >= 96
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		if p.Contains(addr) {
			return ast.InternedTerm(true), nil
		}
	}
	return ast.InternedTerm(false), nil
}

// cidrContainsMatchesOPA is count(net.cidr_contains_matches(cidrs, v)) > 0,
// false on errors.
func cidrContainsMatchesOPA(cidrs, v *ast.Term) bool {
	found := false
	err := cidrContainsMatches(topdown.BuiltinContext{}, []*ast.Term{cidrs, v}, func(t *ast.Term) error {
		if s, ok := t.Value.(ast.Set); ok {
			found = s.Len() > 0
		}
		return nil
	})
	return err == nil && found
}
