package lifecycle

import (
	"strings"
	"time"
)

// compiledRule is a Rule prepared for evaluation.
type compiledRule struct {
	priority  int
	status    TagStatus
	prefixes  []string
	patterns  []pattern
	countType CountType
	number    int64
}

// compile returns the policy's rules ordered by priority, lowest first.
func compile(p *Policy) []compiledRule {
	out := make([]compiledRule, len(p.Rules))
	for i, r := range p.Rules {
		c := compiledRule{
			priority:  r.RulePriority,
			status:    r.Selection.TagStatus,
			prefixes:  r.Selection.TagPrefixList,
			countType: r.Selection.CountType,
			number:    int64(r.Selection.CountNumber),
		}
		for _, s := range r.Selection.TagPatternList {
			c.patterns = append(c.patterns, compilePattern(s))
		}
		out[i] = c
	}
	// Insertion sort: at most MaxRules rules, no allocation.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].priority < out[j-1].priority; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// selects reports whether the rule's tagging requirements select an image
// with these tags. With several prefixes (or patterns), each of them must
// match at least one tag; one tag may satisfy several of them.
func (r *compiledRule) selects(tags []string) bool {
	switch r.status {
	case TagStatusAny:
		return true
	case TagStatusUntagged:
		return len(tags) == 0
	case TagStatusTagged:
		if len(tags) == 0 {
			return false
		}
		for _, pre := range r.prefixes {
			if !anyTag(tags, func(t string) bool { return strings.HasPrefix(t, pre) }) {
				return false
			}
		}
		for _, pat := range r.patterns {
			if !anyTag(tags, pat.match) {
				return false
			}
		}
		return true
	}
	return false
}

func anyTag(tags []string, f func(string) bool) bool {
	for _, t := range tags {
		if f(t) {
			return true
		}
	}
	return false
}

// day is the unit of countUnit "days".
const day = 24 * time.Hour

// marksByAge reports whether a since* rule marks an image: its age, in
// whole days elapsed since the reference time, is greater than countNumber.
func (r *compiledRule) marksByAge(img *Image, now time.Time) bool {
	ref := img.PushedAt
	if r.countType == CountSinceImagePulled && img.LastPulledAt.After(ref) {
		ref = img.LastPulledAt
	}
	return int64(now.Sub(ref)/day) > r.number
}

// pattern is a tag pattern split at its wildcards: "a*b*c" is
// {"a", "b", "c"}; a pattern without '*' has one part and matches exactly.
type pattern struct{ parts []string }

func compilePattern(s string) pattern { return pattern{parts: strings.Split(s, "*")} }

// match reports whether the whole tag matches the pattern. The first part
// must be a prefix and the last a suffix; the middle parts are found left
// to right, each at its leftmost position after the previous one, which is
// enough for '*' as the only metacharacter.
func (p pattern) match(tag string) bool {
	parts := p.parts
	if len(parts) == 1 {
		return tag == parts[0]
	}
	first, last := parts[0], parts[len(parts)-1]
	if len(tag) < len(first)+len(last) || !strings.HasPrefix(tag, first) || !strings.HasSuffix(tag, last) {
		return false
	}
	rest := tag[len(first) : len(tag)-len(last)]
	for _, mid := range parts[1 : len(parts)-1] {
		k := strings.Index(rest, mid)
		if k < 0 {
			return false
		}
		rest = rest[k+len(mid):]
	}
	return true
}
