package lifecycle_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/berth-dev/berth/lifecycle"
)

// pad pads a policy text with trailing spaces to the minimum length, so
// that tests of small documents reach the validation they are about.
func pad(s string) string {
	if n := lifecycle.MinPolicyTextLength - len(s); n > 0 {
		s += strings.Repeat(" ", n)
	}
	return s
}

const (
	okSel = `"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1}`
	okAct = `"action":{"type":"expire"}`
)

// doc builds a padded policy text from rule objects.
func doc(rules ...string) string { return pad(`{"rules":[` + strings.Join(rules, ",") + `]}`) }

// rule builds a rule object from its members.
func rule(members ...string) string { return "{" + strings.Join(members, ",") + "}" }

// sel builds a selection member from its members.
func sel(members ...string) string { return `"selection":{` + strings.Join(members, ",") + "}" }

func prio(n int) string { return fmt.Sprintf(`"rulePriority":%d`, n) }

// tagged is a valid tagged rule with the given priority and prefix.
func tagged(p int, prefix string) string {
	return rule(prio(p), sel(`"tagStatus":"tagged"`, `"tagPrefixList":["`+prefix+`"]`,
		`"countType":"imageCountMoreThan"`, `"countNumber":5`), okAct)
}

func TestParsePolicyInvalid(t *testing.T) {
	count := func(ct string, rest ...string) []string {
		return append([]string{`"countType":"` + ct + `"`, `"countNumber":1`}, rest...)
	}
	withStatus := func(status string, rest ...string) string {
		return sel(append([]string{`"tagStatus":"` + status + `"`}, rest...)...)
	}
	tooMany := make([]string, lifecycle.MaxRules+1)
	for i := range tooMany {
		tooMany[i] = tagged(i+1, fmt.Sprintf("p%d-", i))
	}
	tests := []struct {
		name        string
		text        string
		detail      string
		rule        int // -1: the document
		priority    int
		field       string
		unsupported bool
	}{
		// Text and document.
		{name: "too short", text: `{"rules":[]}`, rule: -1,
			detail: "Member must have length greater than or equal to 100"},
		{name: "too long", text: doc(rule(prio(1), okSel, okAct)) + strings.Repeat(" ", lifecycle.MaxPolicyTextLength), rule: -1,
			detail: "Member must have length less than or equal to 30720"},
		{name: "not JSON", text: pad("rules: []"), rule: -1,
			detail: "Could not map policyString into LifecyclePolicy."},
		{name: "not an object", text: pad(`[{"rules":[]}]`), rule: -1,
			detail: "Could not map policyString into LifecyclePolicy."},
		{name: "trailing data", text: doc(rule(prio(1), okSel, okAct)) + "{}", rule: -1,
			detail: "Could not map policyString into LifecyclePolicy."},
		{name: "no rules", text: pad(`{"Rules":[]}`), rule: -1,
			detail: `object has missing required properties (["rules"])`},
		{name: "unknown member", text: pad(`{"rules":[` + rule(prio(1), okSel, okAct) + `],"version":1,"comment":"x"}`), rule: -1,
			detail: `object instance has properties which are not allowed by the schema: (["comment","version"])`},
		{name: "duplicate member", text: pad(`{"rules":[],"rules":[` + rule(prio(1), okSel, okAct) + `]}`), rule: -1,
			detail: `object has duplicate property ["rules"]`},
		{name: "rules not an array", text: pad(`{"rules":{}}`), rule: -1, field: "rules",
			detail: `instance type (object) does not match any allowed primitive type (allowed: ["array"])`},
		{name: "empty rules", text: doc(), rule: -1, field: "rules",
			detail: "array is too short: must have at least 1 elements but instance has 0 elements"},
		{name: "51 rules", text: doc(tooMany...), rule: -1, field: "rules",
			detail: "array is too long: must have at most 50 elements but instance has 51 elements"},

		// Rule members.
		{name: "rule not an object", text: doc(`[]`), rule: 0,
			detail: `instance type (array) does not match any allowed primitive type (allowed: ["object"])`},
		{name: "rule missing members", text: doc(rule(prio(7))), rule: 0, priority: 7,
			detail: `object has missing required properties (["action","selection"])`},
		{name: "rule unknown member", text: doc(rule(prio(7), okSel, okAct, `"name":"x"`)), rule: 0, priority: 7,
			detail: `object instance has properties which are not allowed by the schema: (["name"])`},
		{name: "rule duplicate member", text: doc(rule(prio(1), prio(2), okSel, okAct)), rule: 0,
			detail: `object has duplicate property ["rulePriority"]`},
		{name: "second rule", text: doc(rule(prio(1), okSel, okAct), rule(prio(2), okSel)), rule: 1, priority: 2,
			detail: `object has missing required properties (["action"])`},
		{name: "priority 0", text: doc(rule(prio(0), okSel, okAct)), rule: 0, field: "rulePriority",
			detail: "numeric instance is lower than the required minimum (minimum: 1, found: 0)"},
		{name: "priority negative", text: doc(rule(`"rulePriority":-99999999999999999999`, okSel, okAct)), rule: 0, field: "rulePriority",
			detail: "numeric instance is lower than the required minimum (minimum: 1, found: -99999999999999999999)"},
		{name: "priority too large", text: doc(rule(`"rulePriority":2147483648`, okSel, okAct)), rule: 0, field: "rulePriority",
			detail: "numeric instance is greater than the required maximum (maximum: 2147483647, found: 2147483648)"},
		{name: "priority string", text: doc(rule(`"rulePriority":"1"`, okSel, okAct)), rule: 0, field: "rulePriority",
			detail: `instance type (string) does not match any allowed primitive type (allowed: ["integer"])`},
		{name: "priority not an integer", text: doc(rule(`"rulePriority":1.0`, okSel, okAct)), rule: 0, field: "rulePriority",
			detail: `instance type (number) does not match any allowed primitive type (allowed: ["integer"])`},
		{name: "description null", text: doc(rule(prio(3), `"description":null`, okSel, okAct)), rule: 0, priority: 3, field: "description",
			detail: `instance type (null) does not match any allowed primitive type (allowed: ["string"])`},
		{name: "description too long", text: doc(rule(prio(3), `"description":"`+strings.Repeat("é", 257)+`"`, okSel, okAct)),
			rule: 0, priority: 3, field: "description",
			detail: "string is too long (length: 257, maximum allowed: 256)"},

		// Selection.
		{name: "selection not an object", text: doc(rule(prio(1), `"selection":"any"`, okAct)), rule: 0, priority: 1, field: "selection",
			detail: `instance type (string) does not match any allowed primitive type (allowed: ["object"])`},
		{name: "selection missing members", text: doc(rule(prio(1), sel(`"tagStatus":"any"`), okAct)), rule: 0, priority: 1, field: "selection",
			detail: `object has missing required properties (["countNumber","countType"])`},
		{name: "selection unknown member", text: doc(rule(prio(1), withStatus("untagged", count("imageCountMoreThan", `"tagFilter":"x"`)...), okAct)),
			rule: 0, priority: 1, field: "selection",
			detail: `object instance has properties which are not allowed by the schema: (["tagFilter"])`},
		{name: "bad tagStatus", text: doc(rule(prio(1), withStatus("all", count("imageCountMoreThan")...), okAct)),
			rule: 0, priority: 1, field: "selection.tagStatus",
			detail: `instance value (all) not found in enum :(possible values: ["any","tagged","untagged"])`},
		{name: "tagged without list", text: doc(rule(prio(1), withStatus("tagged", count("imageCountMoreThan")...), okAct)),
			rule: 0, priority: 1, field: "selection",
			detail: "tagPrefixList or tagPatternList is required when tagStatus is tagged"},
		{name: "tagged with empty list", text: doc(rule(prio(1), withStatus("tagged", count("imageCountMoreThan", `"tagPrefixList":[]`)...), okAct)),
			rule: 0, priority: 1, field: "selection",
			detail: "tagPrefixList or tagPatternList is required when tagStatus is tagged"},
		{name: "both lists", text: doc(rule(prio(1), withStatus("tagged", count("imageCountMoreThan", `"tagPrefixList":["a"]`, `"tagPatternList":["b*"]`)...), okAct)),
			rule: 0, priority: 1, field: "selection",
			detail: "tagPrefixList and tagPatternList cannot both be specified in one rule"},
		{name: "untagged with prefixes", text: doc(rule(prio(1), withStatus("untagged", count("imageCountMoreThan", `"tagPrefixList":["a"]`)...), okAct)),
			rule: 0, priority: 1, field: "selection.tagPrefixList",
			detail: "tagPrefixList can only be specified when tagStatus is tagged, not untagged"},
		{name: "any with patterns", text: doc(rule(prio(1), withStatus("any", count("imageCountMoreThan", `"tagPatternList":["a*"]`)...), okAct)),
			rule: 0, priority: 1, field: "selection.tagPatternList",
			detail: "tagPatternList can only be specified when tagStatus is tagged, not any"},
		{name: "list not an array", text: doc(rule(prio(1), withStatus("tagged", count("imageCountMoreThan", `"tagPrefixList":"prod"`)...), okAct)),
			rule: 0, priority: 1, field: "selection.tagPrefixList",
			detail: `instance type (string) does not match any allowed primitive type (allowed: ["array"])`},
		{name: "list entry not a string", text: doc(rule(prio(1), withStatus("tagged", count("imageCountMoreThan", `"tagPrefixList":["a",1]`)...), okAct)),
			rule: 0, priority: 1, field: "selection.tagPrefixList[1]",
			detail: `instance type (integer) does not match any allowed primitive type (allowed: ["string"])`},
		{name: "empty prefix", text: doc(rule(prio(1), withStatus("tagged", count("imageCountMoreThan", `"tagPrefixList":["a",""]`)...), okAct)),
			rule: 0, priority: 1, field: "selection.tagPrefixList[1]",
			detail: `string "" is too short (length: 0, required minimum: 1)`},
		{name: "too many wildcards", text: doc(rule(prio(1), withStatus("tagged", count("imageCountMoreThan", `"tagPatternList":["*test*1*2*3","test*1*2*3*4*5*6"]`)...), okAct)),
			rule: 0, priority: 1, field: "selection.tagPatternList[1]",
			detail: `tag pattern "test*1*2*3*4*5*6" has 6 wildcards; a pattern may hold at most 4`},
		{name: "bad countType", text: doc(rule(prio(1), withStatus("any", count("imageCountLessThan")...), okAct)),
			rule: 0, priority: 1, field: "selection.countType",
			detail: "instance failed to match exactly one schema (matched 0 out of 2)"},
		{name: "countUnit with imageCountMoreThan", text: doc(rule(prio(1), withStatus("any", count("imageCountMoreThan", `"countUnit":"days"`)...), okAct)),
			rule: 0, priority: 1, field: "selection.countUnit",
			detail: "countUnit can only be specified when countType is sinceImagePushed or sinceImagePulled"},
		{name: "sinceImagePushed without countUnit", text: doc(rule(prio(1), withStatus("any", count("sinceImagePushed")...), okAct)),
			rule: 0, priority: 1, field: "selection",
			detail: `object has missing required properties (["countUnit"])`},
		{name: "countUnit hours", text: doc(rule(prio(1), withStatus("any", count("sinceImagePulled", `"countUnit":"hours"`)...), okAct)),
			rule: 0, priority: 1, field: "selection.countUnit",
			detail: `instance value (hours) not found in enum :(possible values: ["days"])`},
		{name: "countNumber 0", text: doc(rule(prio(1), withStatus("any", `"countType":"imageCountMoreThan"`, `"countNumber":0`), okAct)),
			rule: 0, priority: 1, field: "selection.countNumber",
			detail: "numeric instance is lower than the required minimum (minimum: 1, found: 0)"},
		{name: "countNumber negative", text: doc(rule(prio(1), withStatus("any", `"countType":"imageCountMoreThan"`, `"countNumber":-3`), okAct)),
			rule: 0, priority: 1, field: "selection.countNumber",
			detail: "numeric instance is lower than the required minimum (minimum: 1, found: -3)"},
		{name: "countNumber too large", text: doc(rule(prio(1), withStatus("any", `"countType":"imageCountMoreThan"`, `"countNumber":4294967296`), okAct)),
			rule: 0, priority: 1, field: "selection.countNumber",
			detail: "numeric instance is greater than the required maximum (maximum: 2147483647, found: 4294967296)"},
		{name: "countNumber with exponent", text: doc(rule(prio(1), withStatus("any", `"countType":"sinceImagePushed"`, `"countUnit":"days"`, `"countNumber":1e3`), okAct)),
			rule: 0, priority: 1, field: "selection.countNumber",
			detail: `instance type (number) does not match any allowed primitive type (allowed: ["integer"])`},
		{name: "bad storageClass", text: doc(rule(prio(1), withStatus("any", count("imageCountMoreThan", `"storageClass":"cold"`)...), okAct)),
			rule: 0, priority: 1, field: "selection.storageClass",
			detail: `instance value (cold) not found in enum :(possible values: ["archive","standard"])`},
		{name: "archive storageClass", text: doc(rule(prio(1), withStatus("any", count("imageCountMoreThan", `"storageClass":"archive"`)...), okAct)),
			rule: 0, priority: 1, field: "selection.storageClass", unsupported: true,
			detail: "storageClass archive is not supported: Berth has no archive storage class"},
		{name: "sinceImageTransitioned", text: doc(rule(prio(1), withStatus("any", count("sinceImageTransitioned", `"countUnit":"days"`)...), okAct)),
			rule: 0, priority: 1, field: "selection.countType", unsupported: true,
			detail: "countType sinceImageTransitioned is not supported: Berth has no archive storage class"},

		// Action.
		{name: "action missing type", text: doc(rule(prio(1), okSel, `"action":{}`)), rule: 0, priority: 1, field: "action",
			detail: `object has missing required properties (["type"])`},
		{name: "action unknown member", text: doc(rule(prio(1), okSel, `"action":{"type":"expire","dryRun":true}`)), rule: 0, priority: 1, field: "action",
			detail: `object instance has properties which are not allowed by the schema: (["dryRun"])`},
		{name: "bad action type", text: doc(rule(prio(1), okSel, `"action":{"type":"delete"}`)), rule: 0, priority: 1, field: "action.type",
			detail: `instance value (delete) not found in enum :(possible values: ["expire","transition"])`},
		{name: "action type case", text: doc(rule(prio(1), okSel, `"action":{"type":"EXPIRE"}`)), rule: 0, priority: 1, field: "action.type",
			detail: `instance value (EXPIRE) not found in enum :(possible values: ["expire","transition"])`},
		{name: "transition", text: doc(rule(prio(1), okSel, `"action":{"type":"transition","targetStorageClass":"archive"}`)),
			rule: 0, priority: 1, field: "action.type", unsupported: true,
			detail: "action type transition is not supported: Berth has no archive storage class"},
		{name: "targetStorageClass with expire", text: doc(rule(prio(1), okSel, `"action":{"type":"expire","targetStorageClass":"archive"}`)),
			rule: 0, priority: 1, field: "action.targetStorageClass",
			detail: "targetStorageClass can only be specified when the action type is transition"},

		// Across rules.
		{name: "duplicate priority", text: doc(tagged(1, "a"), tagged(2, "b"), tagged(1, "c")), rule: 2, priority: 1, field: "rulePriority",
			detail: "rulePriority must be unique: rules[0] and rules[2] both have rulePriority 1"},
		{name: "any not last", text: doc(rule(prio(5), withStatus("any", count("imageCountMoreThan")...), okAct), tagged(6, "a")),
			rule: 0, priority: 5, field: "rulePriority",
			detail: "a rule with tagStatus any must have the highest rulePriority: 5 is lower than 6"},
		{name: "two any rules", text: doc(rule(prio(9), withStatus("any", count("imageCountMoreThan")...), okAct),
			rule(prio(8), withStatus("any", count("sinceImagePushed", `"countUnit":"days"`)...), okAct)),
			rule: 1, priority: 8, field: "selection.tagStatus",
			detail: "only one rule can have tagStatus any: rules[0] and rules[1] both do"},
		{name: "two untagged rules", text: doc(rule(prio(1), okSel, okAct),
			rule(prio(2), withStatus("untagged", count("sinceImagePushed", `"countUnit":"days"`)...), okAct)),
			rule: 1, priority: 2, field: "selection.tagStatus",
			detail: "Only one rule can select Untagged images per storage class."},
		{name: "same prefix set", text: doc(
			rule(prio(1), withStatus("tagged", count("imageCountMoreThan", `"tagPrefixList":["a","b"]`)...), okAct),
			rule(prio(2), withStatus("tagged", count("sinceImagePushed", `"countUnit":"days"`, `"tagPrefixList":["b","a","b"]`)...), okAct)),
			rule: 1, priority: 2, field: "selection.tagPrefixList",
			detail: "the set of rules must contain a unique set of tag prefixes: rules[0] and rules[1] have the same tagPrefixList"},
		{name: "same pattern set", text: doc(
			rule(prio(1), withStatus("tagged", count("imageCountMoreThan", `"tagPatternList":["v*"]`)...), okAct),
			rule(prio(2), withStatus("tagged", count("sinceImagePushed", `"countUnit":"days"`, `"tagPatternList":["v*"]`)...), okAct)),
			rule: 1, priority: 2, field: "selection.tagPatternList",
			detail: "the set of rules must contain a unique set of tag prefixes: rules[0] and rules[1] have the same tagPatternList"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := lifecycle.ParsePolicy([]byte(tt.text))
			if err == nil {
				t.Fatalf("ParsePolicy() = %+v, want error %q", p, tt.detail)
			}
			if !errors.Is(err, lifecycle.ErrInvalidPolicy) {
				t.Errorf("ParsePolicy() error = %v, want ErrInvalidPolicy", err)
			}
			if got := errors.Is(err, lifecycle.ErrUnsupported); got != tt.unsupported {
				t.Errorf("errors.Is(err, ErrUnsupported) = %v, want %v", got, tt.unsupported)
			}
			var pe *lifecycle.PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("ParsePolicy() error = %T, want *PolicyError", err)
			}
			if pe.Detail != tt.detail {
				t.Errorf("Detail = %q\n                want %q", pe.Detail, tt.detail)
			}
			if pe.Rule != tt.rule || pe.Priority != tt.priority || pe.Field != tt.field {
				t.Errorf("position = rules[%d] priority %d field %q, want rules[%d] priority %d field %q",
					pe.Rule, pe.Priority, pe.Field, tt.rule, tt.priority, tt.field)
			}
			if !strings.Contains(err.Error(), tt.detail) {
				t.Errorf("Error() = %q, want it to contain the detail", err.Error())
			}
			if tt.rule >= 0 && !strings.Contains(err.Error(), fmt.Sprintf("rules[%d]", tt.rule)) {
				t.Errorf("Error() = %q, want it to name rules[%d]", err.Error(), tt.rule)
			}
		})
	}
}

func TestPolicyErrorMessages(t *testing.T) {
	_, err := lifecycle.ParsePolicy([]byte(doc(rule(prio(4), sel(`"tagStatus":"any"`, `"countType":"imageCountMoreThan"`, `"countNumber":0`), okAct))))
	var pe *lifecycle.PolicyError
	if !errors.As(err, &pe) {
		t.Fatalf("ParsePolicy() error = %v, want *PolicyError", err)
	}
	const wantErr = "Lifecycle policy validation failure: numeric instance is lower than the required minimum (minimum: 1, found: 0) (at rules[0].selection.countNumber, rulePriority 4)"
	if got := pe.Error(); got != wantErr {
		t.Errorf("Error() = %q\n         want %q", got, wantErr)
	}
	const wantECR = "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure: numeric instance is lower than the required minimum (minimum: 1, found: 0)'"
	if got := pe.ECRMessage(); got != wantECR {
		t.Errorf("ECRMessage() = %q\n              want %q", got, wantECR)
	}

	_, err = lifecycle.ParsePolicy([]byte(`{"rules":[]}`))
	if !errors.As(err, &pe) {
		t.Fatalf("ParsePolicy() error = %v, want *PolicyError", err)
	}
	const wantLen = "Invalid parameter at 'lifecyclePolicyText' failed to satisfy constraint: 'Member must have length greater than or equal to 100'"
	if got := pe.ECRMessage(); got != wantLen {
		t.Errorf("ECRMessage() = %q\n              want %q", got, wantLen)
	}
	if got, want := pe.Error(), "Lifecycle policy text failed to satisfy constraint: Member must have length greater than or equal to 100"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestParsePolicyValid(t *testing.T) {
	tests := []struct {
		name string
		text string
		want lifecycle.Policy
	}{
		{
			name: "exactly 100 characters",
			text: doc(rule(prio(1), okSel, okAct)),
			want: lifecycle.Policy{Rules: []lifecycle.Rule{{RulePriority: 1,
				Selection: lifecycle.Selection{TagStatus: "untagged", CountType: "imageCountMoreThan", CountNumber: 1},
				Action:    lifecycle.Action{Type: "expire"}}}},
		},
		{
			name: "sinceImagePulled may expire (Berth deviation), standard class, limits",
			text: doc(rule(prio(2147483647), `"description":"`+strings.Repeat("d", 256)+`"`,
				sel(`"tagStatus":"tagged"`, `"tagPatternList":["*test*1*2*3","test*1*2*3*"]`, `"storageClass":"standard"`,
					`"countType":"sinceImagePulled"`, `"countUnit":"days"`, `"countNumber":2147483647`), okAct)),
			want: lifecycle.Policy{Rules: []lifecycle.Rule{{RulePriority: 2147483647, Description: strings.Repeat("d", 256),
				Selection: lifecycle.Selection{TagStatus: "tagged", TagPatternList: []string{"*test*1*2*3", "test*1*2*3*"},
					StorageClass: "standard", CountType: "sinceImagePulled", CountUnit: "days", CountNumber: 2147483647},
				Action: lifecycle.Action{Type: "expire"}}}},
		},
		{
			name: "empty lists count as none; any last with a gap in priorities",
			text: doc(
				rule(prio(10), sel(`"tagStatus":"untagged"`, `"tagPrefixList":[]`, `"countType":"imageCountMoreThan"`, `"countNumber":3`), okAct),
				rule(prio(1), sel(`"tagStatus":"tagged"`, `"tagPrefixList":["a","b"]`, `"tagPatternList":[]`, `"countType":"imageCountMoreThan"`, `"countNumber":3`), okAct),
				rule(prio(100), sel(`"tagStatus":"any"`, `"countType":"sinceImagePushed"`, `"countUnit":"days"`, `"countNumber":30`), okAct),
				rule(prio(2), sel(`"tagStatus":"tagged"`, `"tagPrefixList":["a"]`, `"countType":"imageCountMoreThan"`, `"countNumber":3`), okAct)),
			want: lifecycle.Policy{Rules: []lifecycle.Rule{
				{RulePriority: 10, Selection: lifecycle.Selection{TagStatus: "untagged", CountType: "imageCountMoreThan", CountNumber: 3}, Action: lifecycle.Action{Type: "expire"}},
				{RulePriority: 1, Selection: lifecycle.Selection{TagStatus: "tagged", TagPrefixList: []string{"a", "b"}, CountType: "imageCountMoreThan", CountNumber: 3}, Action: lifecycle.Action{Type: "expire"}},
				{RulePriority: 100, Selection: lifecycle.Selection{TagStatus: "any", CountType: "sinceImagePushed", CountUnit: "days", CountNumber: 30}, Action: lifecycle.Action{Type: "expire"}},
				{RulePriority: 2, Selection: lifecycle.Selection{TagStatus: "tagged", TagPrefixList: []string{"a"}, CountType: "imageCountMoreThan", CountNumber: 3}, Action: lifecycle.Action{Type: "expire"}},
			}},
		},
		{
			name: "50 rules, 30720 characters",
			text: func() string {
				rules := make([]string, lifecycle.MaxRules)
				for i := range rules {
					rules[i] = tagged(i+1, fmt.Sprintf("p%d-", i))
				}
				s := doc(rules...)
				return s + strings.Repeat("\n", lifecycle.MaxPolicyTextLength-len(s))
			}(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := lifecycle.ParsePolicy([]byte(tt.text))
			if err != nil {
				t.Fatalf("ParsePolicy() error = %v", err)
			}
			if tt.want.Rules != nil && !reflect.DeepEqual(*p, tt.want) {
				t.Errorf("ParsePolicy() = %+v\n want %+v", *p, tt.want)
			}
			// Marshalled back, the policy parses to the same value.
			out, err := json.Marshal(p)
			if err != nil {
				t.Fatalf("json.Marshal() error = %v", err)
			}
			p2, err := lifecycle.ParsePolicy(out)
			if err != nil {
				t.Fatalf("ParsePolicy(json.Marshal()) error = %v\n%s", err, out)
			}
			if !reflect.DeepEqual(p, p2) {
				t.Errorf("round trip = %+v, want %+v", p2, p)
			}
		})
	}
}

func TestValidateBuiltPolicy(t *testing.T) {
	var nilPolicy *lifecycle.Policy
	if err := nilPolicy.Validate(); !errors.Is(err, lifecycle.ErrInvalidPolicy) {
		t.Errorf("(*Policy)(nil).Validate() = %v, want ErrInvalidPolicy", err)
	}
	p := &lifecycle.Policy{Rules: []lifecycle.Rule{{
		RulePriority: 1,
		Selection:    lifecycle.Selection{TagStatus: lifecycle.TagStatusTagged, TagPrefixList: []string{"v"}, CountType: lifecycle.CountImageCountMoreThan, CountNumber: 0},
		Action:       lifecycle.Action{Type: lifecycle.ActionExpire},
	}}}
	if err := p.Validate(); !errors.Is(err, lifecycle.ErrInvalidPolicy) {
		t.Errorf("Validate() = %v, want ErrInvalidPolicy", err)
	}
	// Evaluate refuses an invalid policy rather than guessing: countNumber 0
	// would otherwise expire every selected image.
	imgs := images([]img{{name: "a", tags: []string{"v1"}, pushed: day}})
	if got := lifecycle.Evaluate(p, imgs, now); got != nil {
		t.Errorf("Evaluate(invalid policy) = %v, want nil", got)
	}
	if got := lifecycle.Evaluate(nil, imgs, now); got != nil {
		t.Errorf("Evaluate(nil) = %v, want nil", got)
	}
	p.Rules[0].Selection.CountNumber = 1
	if err := p.Validate(); err != nil {
		t.Errorf("Validate() = %v, want nil", err)
	}
}

// TestPolicyTextLengthUTF16: the length limit counts UTF-16 code units, as
// ECR does, so a character outside the Basic Multilingual Plane counts two.
func TestPolicyTextLengthUTF16(t *testing.T) {
	base := doc(rule(prio(1), `"description":"`+strings.Repeat("😀", 100)+`"`, okSel, okAct))
	units := len([]rune(base)) + 100 // each emoji is a surrogate pair
	fits := base + strings.Repeat(" ", lifecycle.MaxPolicyTextLength-units)
	if _, err := lifecycle.ParsePolicy([]byte(fits)); err != nil {
		t.Errorf("ParsePolicy(%d units) error = %v", lifecycle.MaxPolicyTextLength, err)
	}
	if _, err := lifecycle.ParsePolicy([]byte(fits + " ")); !errors.Is(err, lifecycle.ErrInvalidPolicy) {
		t.Errorf("ParsePolicy(%d units) error = %v, want ErrInvalidPolicy", lifecycle.MaxPolicyTextLength+1, err)
	}
}
