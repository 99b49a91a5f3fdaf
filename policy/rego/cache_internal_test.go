package rego

import (
	"strconv"
	"testing"

	"github.com/berth-dev/berth/policy"
)

func TestModulesCacheable(t *testing.T) {
	a := &Authorizer{registryID: DefaultRegistryID, region: DefaultRegion}
	for body, want := range map[string]bool{
		`input.action == "ecr:PutImage"`:                   true,
		`"ci" in input.principal.groups`:                   true,
		`net.cidr_contains("10.0.0.0/8", input.sourceIp)`:  true,
		`some s in input.statements.allow; s.reason != ""`: true,
		`input.time < "2025"`:                              false,
		`input.context["aws:username"] == "x"`:             false,
		`x := input; x.action == "a"`:                      false,
		`k := "time"; input[k] == "a"`:                     false,
		`time.now_ns() > 0`:                                false,
		`rand.intn("x", 10) == 1`:                          false,
		`io.jwt.decode_verify("x", {"secret": "s"})[0]`:    false,
		`input.action == "a" with input.time as "x"`:       false,
	} {
		c, err := a.compileModules(map[string]string{"m.rego": "package berth.custom\n\nallow contains \"x\" if {\n\t" + body + "\n}\n"})
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if got := modulesCacheable(c); got != want {
			t.Errorf("modulesCacheable(%s) = %v, want %v", body, got, want)
		}
	}
	c, err := a.compileModules(nil)
	if err != nil || !modulesCacheable(c) {
		t.Errorf("embedded policies alone: cacheable %v, %v", c != nil && modulesCacheable(c), err)
	}
}

func TestDecisionCacheBounded(t *testing.T) {
	c := newDecisionCache(160)
	for i := range 10000 {
		c.put(strconv.Itoa(i), policy.Decision{Allow: true, Reasons: []string{"r"}})
	}
	n := 0
	for i := range c.shards {
		n += len(c.shards[i].cur) + len(c.shards[i].old)
	}
	if n > 320 || n < 160 {
		t.Errorf("%d entries, want 160 to 320", n)
	}
	if d, ok := c.get("9999"); !ok || !d.Allow {
		t.Errorf("latest entry: %+v, %v", d, ok)
	}
	if newDecisionCache(0) != nil || newDecisionCache(-1) != nil {
		t.Error("a cache of size <= 0")
	}
}
