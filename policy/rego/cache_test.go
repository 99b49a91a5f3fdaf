package rego_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/berth-dev/berth/policy"
	"github.com/berth-dev/berth/policy/rego"
)

// TestDecisionCacheMatchesEvaluation checks that an Authorizer with the
// decision cache decides exactly as one without it, over many distinct
// requests each made several times, with resource tags.
func TestDecisionCacheMatchesEvaluation(t *testing.T) {
	ctx := context.Background()
	cached := bench1000Authorizer(t, 0)
	uncached := bench1000Authorizer(t, -1)
	ins := bench1000Inputs(3000)
	for round := range 3 {
		for i, in := range ins {
			want, err1 := uncached.Authorize(ctx, in)
			got, err2 := cached.Authorize(ctx, in)
			if err1 != nil || err2 != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("round %d, input %d (%+v): cached %+v, %v; uncached %+v, %v", round, i, in, got, err2, want, err1)
			}
		}
	}
}

func TestDecisionCacheTimeDependentStatements(t *testing.T) {
	a := newAuthorizer(t, rego.Options{RepositoryPolicies: map[string]string{
		"app": `{"Version": "2012-10-17", "Statement": [
		  {"Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage",
		   "Condition": {"DateLessThan": {"aws:CurrentTime": "2025-06-01T12:00:00Z"}}}]}`,
		"epoch": `{"Version": "2012-10-17", "Statement": [
		  {"Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage",
		   "Condition": {"NumericLessThan": {"aws:EpochTime": "1748779200"}}}]}`,
		"var": `{"Version": "2012-10-17", "Statement": [
		  {"Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage",
		   "Condition": {"StringLike": {"aws:username": "${aws:EpochTime}*"}}}]}`,
	}})
	for _, repo := range []string{"app", "epoch"} {
		in := req(user("alice"), policy.ActionBatchGetImage, repo)
		in.Time = day.Add(-time.Hour)
		if !allowed(t, a, in) || !allowed(t, a, in) {
			t.Fatalf("%s: denied before the deadline", repo)
		}
		in.Time = day.Add(time.Hour)
		if allowed(t, a, in) {
			t.Fatalf("%s: allowed after the deadline (a cached decision?)", repo)
		}
	}
	in := req(user("alice"), policy.ActionBatchGetImage, "var")
	in.Time = day
	in.Principal.Name = "1748779200"
	if !allowed(t, a, in) || !allowed(t, a, in) {
		t.Fatal("var: denied at the matching time")
	}
	in.Time = day.Add(-100 * 24 * time.Hour)
	if allowed(t, a, in) {
		t.Fatal("var: allowed at another time (a cached decision?)")
	}
}

func TestDecisionCacheTimeDependentModules(t *testing.T) {
	for name, body := range map[string]string{
		"input.time":      `input.time < "2025-06-01T12:00:00Z"`,
		"input.context":   `input.context["aws:epochtime"] < 1748779200`,
		"whole input":     `x := input; x.time < "2025-06-01T12:00:00Z"`,
		"input[var]":      `k := "time"; input[k] < "2025-06-01T12:00:00Z"`,
		"time.now_ns":     `time.now_ns() < time.parse_rfc3339_ns(input.time)`, // in the future: always true
		"helper function": `early(input.repository)`,
	} {
		t.Run(name, func(t *testing.T) {
			mod := "package berth.custom\n\nallow contains \"early\" if {\n\t" + body + "\n}\n\n" +
				"early(_) if input.time < \"2025-06-01T12:00:00Z\"\n"
			if name == "time.now_ns" {
				mod = "package berth.custom\n\nallow contains \"early\" if {\n\t" +
					`time.now_ns() < 1748779200000000000` + "\n}\n"
			}
			a := newAuthorizer(t, rego.Options{Modules: map[string]string{"m.rego": mod}})
			in := req(user("alice"), policy.ActionBatchGetImage, "app")
			in.Time = day.Add(-time.Hour)
			if name == "time.now_ns" {
				// Cacheable or not, the decision is the same; check that the
				// module is at least evaluated.
				if allowed(t, a, in) {
					t.Fatal("allowed")
				}
				return
			}
			if !allowed(t, a, in) || !allowed(t, a, in) {
				t.Fatal("denied before the deadline")
			}
			in.Time = day.Add(time.Hour)
			if allowed(t, a, in) {
				t.Fatal("allowed after the deadline (a cached decision?)")
			}
		})
	}
}

func TestDecisionCacheInvalidatedByChanges(t *testing.T) {
	ctx := context.Background()
	a := newAuthorizer(t, rego.Options{RepositoryPolicies: map[string]string{"app": adminPolicy}})
	in := req(user("admin"), policy.ActionPutImage, "app")
	if !allowed(t, a, in) || !allowed(t, a, in) {
		t.Fatal("admin may not push")
	}
	if err := a.SetRepositoryPolicy(ctx, "app", pullOnlyPolicy, true); err != nil {
		t.Fatal(err)
	}
	if allowed(t, a, in) {
		t.Fatal("admin may still push after the policy change")
	}
	if err := a.SetModules(ctx, map[string]string{"m.rego": "package berth.custom\n\nallow contains \"admin\" if input.principal.name == \"admin\"\n"}); err != nil {
		t.Fatal(err)
	}
	if !allowed(t, a, in) {
		t.Fatal("admin may not push after the module change")
	}
	if err := a.DeleteRepositoryPolicy(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	if err := a.SetModules(ctx, map[string]string{}); err != nil {
		t.Fatal(err)
	}
	if allowed(t, a, in) {
		t.Fatal("admin may still push after the module was removed")
	}
}

func TestDecisionCacheReturnsCopies(t *testing.T) {
	a := newAuthorizer(t, rego.Options{RepositoryPolicies: map[string]string{"app": adminPolicy}})
	in := req(user("admin"), policy.ActionPutImage, "app")
	d1, err := a.Authorize(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	d1.Reasons[0] = "changed"
	d2, err := a.Authorize(context.Background(), in)
	if err != nil || d2.Reasons[0] == "changed" {
		t.Fatalf("second decision %+v, %v", d2, err)
	}
	d2.Reasons[0] = "changed"
	if d3, _ := a.Authorize(context.Background(), in); d3.Reasons[0] == "changed" {
		t.Fatalf("third decision %+v", d3)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := a.Authorize(ctx, in); err == nil {
		t.Fatal("no error for a cancelled context")
	}
}

func TestDecisionCacheKeyedOnTagsAndPrincipal(t *testing.T) {
	tags := map[string]string{"env": "dev"}
	a := newAuthorizer(t, rego.Options{
		RepositoryPolicies: map[string]string{"app": `{"Version": "2012-10-17", "Statement": [
		  {"Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage",
		   "Condition": {"StringEquals": {"ecr:ResourceTag/env": "dev", "aws:PrincipalTag/team": "web"}}}]}`},
		ResourceTags: func(context.Context, string) (map[string]string, error) { return tags, nil },
		Modules:      map[string]string{"m.rego": "package berth.custom\n\ndeny contains \"first group\" if input.principal.groups[0] == \"banned\"\n"},
	})
	p := &policy.Principal{ID: "u", Name: "alice", Groups: []string{"a", "banned"}, Attributes: map[string]string{"team": "web"}}
	in := req(p, policy.ActionBatchGetImage, "app")
	if !allowed(t, a, in) {
		t.Fatal("denied")
	}
	tags = map[string]string{"env": "prod"}
	if allowed(t, a, in) {
		t.Fatal("allowed after the tag changed")
	}
	tags = map[string]string{"env": "dev"}
	p2 := *p
	p2.Attributes = map[string]string{"team": "ops"}
	in.Principal = &p2
	if allowed(t, a, in) {
		t.Fatal("allowed with another attribute")
	}
	p3 := *p
	p3.Groups = []string{"banned", "a"}
	in.Principal = &p3
	if allowed(t, a, in) {
		t.Fatal("allowed with the groups reordered")
	}
}
