package lifecycle_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/berth-dev/berth/lifecycle"
)

func FuzzParsePolicy(f *testing.F) {
	seeds := []string{
		policyAgeUntagged, policyAgeProdPattern, policyCountUntagged,
		twoRules("tagPrefixList", "prod", "beta"), twoRules("tagPatternList", "beta*", "prod*"),
		multiTag(`"tagPatternList": ["alpha*", "beta*"]`, "sinceImagePushed", `, "countUnit": "days"`, "5"),
		policyAllImagesA, allImagesB(`"tagPrefixList": ["alpha"]`),
		graphPolicy(true, true),
		doc(rule(prio(1), okSel, `"action":{"type":"transition","targetStorageClass":"archive"}`)),
		doc(rule(prio(1), sel(`"tagStatus":"tagged"`, `"tagPatternList":["*a*b*c*d*e"]`, `"countType":"imageCountMoreThan"`, `"countNumber":1`), okAct)),
		doc(rule(prio(1), `"description":"<\u2028>"`, okSel, okAct)),
		doc(rule(`"rulePriority":1e0`, okSel, okAct)),
		doc(rule(prio(1), okSel, okAct), rule(prio(1), okSel, okAct)),
		pad(`{"rules":null}`), pad(`{"rules":[null]}`), pad(`"rules"`), "",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	imgs := images([]img{
		{name: "index", tags: []string{"prod-1", "beta-1"}, pushed: 30 * day, children: []string{"child"}},
		{name: "child", pushed: 30 * day},
		{name: "sig", pushed: 20 * day, subject: "index"},
		{name: "alpha", tags: []string{"alpha-1", "test"}, pushed: 10 * day, pulled: 2 * day},
		{name: "untagged", pushed: 2 * day},
	})
	f.Fuzz(func(t *testing.T, text []byte) {
		p, err := lifecycle.ParsePolicy(text)
		if err != nil {
			var pe *lifecycle.PolicyError
			if !errors.Is(err, lifecycle.ErrInvalidPolicy) || !errors.As(err, &pe) || pe.Detail == "" {
				t.Fatalf("ParsePolicy() error = %#v, want a *PolicyError matching ErrInvalidPolicy", err)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("accepted policy fails Validate: %v", err)
		}
		out, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("json.Marshal() error = %v", err)
		}
		p2, err := lifecycle.ParsePolicy(out)
		if err != nil {
			var pe *lifecycle.PolicyError
			if errors.As(err, &pe) && len(out) > lifecycle.MaxPolicyTextLength {
				// Escaping ('<' is written \u003c) can push a text near the
				// limit over it; the value itself must still be equal.
				p2 = new(lifecycle.Policy)
				if err := json.Unmarshal(out, p2); err != nil {
					t.Fatal(err)
				}
			} else {
				t.Fatalf("ParsePolicy(json.Marshal(p)) error = %v\n%s", err, out)
			}
		}
		if !reflect.DeepEqual(p, p2) {
			t.Fatalf("round trip changed the policy:\n%+v\n%+v", p, p2)
		}
		res := lifecycle.Evaluate(p, imgs, now)
		if len(res) > len(imgs) {
			t.Fatalf("Evaluate() = %d results for %d images", len(res), len(imgs))
		}
	})
}
