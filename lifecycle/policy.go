package lifecycle

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Limits of the policy grammar. They are ECR's where ECR documents one.
const (
	// MinPolicyTextLength and MaxPolicyTextLength bound the policy text, in
	// characters (UTF-16 code units, as ECR counts them).
	MinPolicyTextLength = 100
	MaxPolicyTextLength = 30720
	// MaxRules is the number of rules a policy may hold (ECR service quota
	// "Rules per lifecycle policy").
	MaxRules = 50
	// MaxDescriptionLength bounds a rule's description, in characters.
	// ECR does not document this limit; 256 is Berth's.
	MaxDescriptionLength = 256
	// MaxPatternWildcards is the number of '*' one tagPatternList entry may
	// hold.
	MaxPatternWildcards = 4
	// MaxNumber is the largest rulePriority and countNumber (a 32-bit
	// integer, as in ECR's schema).
	MaxNumber = math.MaxInt32
)

// TagStatus selects images by whether they carry tags.
type TagStatus string

// Tag statuses.
const (
	// TagStatusTagged selects images with at least one tag matching the
	// rule's tagPrefixList or tagPatternList.
	TagStatusTagged TagStatus = "tagged"
	// TagStatusUntagged selects images without tags.
	TagStatusUntagged TagStatus = "untagged"
	// TagStatusAny selects every image.
	TagStatusAny TagStatus = "any"
)

// CountType is the criterion a rule applies to the images it selects.
type CountType string

// Count types.
const (
	// CountImageCountMoreThan keeps the countNumber most recently pushed
	// selected images and marks the rest.
	CountImageCountMoreThan CountType = "imageCountMoreThan"
	// CountSinceImagePushed marks selected images pushed more than
	// countNumber days ago.
	CountSinceImagePushed CountType = "sinceImagePushed"
	// CountSinceImagePulled marks selected images last pulled (or, if never
	// pulled, pushed) more than countNumber days ago.
	CountSinceImagePulled CountType = "sinceImagePulled"
	// CountSinceImageTransitioned is ECR's criterion for archived images.
	// Berth has no archive storage class; policies using it are rejected
	// with ErrUnsupported.
	CountSinceImageTransitioned CountType = "sinceImageTransitioned"
)

// CountUnit is the unit of countNumber for the since* count types.
type CountUnit string

// CountUnitDays is the only count unit.
const CountUnitDays CountUnit = "days"

// StorageClass is ECR's image storage class. Berth stores every image in the
// standard class.
type StorageClass string

// Storage classes.
const (
	StorageClassStandard StorageClass = "standard"
	// StorageClassArchive is rejected with ErrUnsupported.
	StorageClassArchive StorageClass = "archive"
)

// ActionType is what a rule does to the images it marks.
type ActionType string

// Action types.
const (
	// ActionExpire deletes the image.
	ActionExpire ActionType = "expire"
	// ActionTransition moves the image to the archive storage class in ECR.
	// Berth rejects it with ErrUnsupported.
	ActionTransition ActionType = "transition"
)

// Policy is a lifecycle policy document in ECR's JSON grammar. The zero
// value is not valid: a policy holds 1 to MaxRules rules. Marshalled with
// encoding/json, a Policy produces a document ParsePolicy accepts and parses
// back to an equal Policy.
type Policy struct {
	// Rules in document order. Evaluation orders them by RulePriority.
	Rules []Rule `json:"rules"`
}

// Rule is one rule of a Policy.
type Rule struct {
	// RulePriority orders the rules, lowest first; unique in a policy, not
	// necessarily sequential, 1..MaxNumber.
	RulePriority int `json:"rulePriority"`
	// Description is free text, at most MaxDescriptionLength characters.
	Description string    `json:"description,omitempty"`
	Selection   Selection `json:"selection"`
	Action      Action    `json:"action"`
}

// Selection says which images a rule selects and which of them it marks.
type Selection struct {
	// TagStatus is required.
	TagStatus TagStatus `json:"tagStatus"`
	// TagPatternList holds tag patterns in which '*' matches any run of
	// characters (at most MaxPatternWildcards per pattern). An image is
	// selected when every pattern matches at least one of its tags. Only
	// with TagStatusTagged, and never together with TagPrefixList.
	TagPatternList []string `json:"tagPatternList,omitempty"`
	// TagPrefixList holds tag prefixes. An image is selected when every
	// prefix starts at least one of its tags. Only with TagStatusTagged, and
	// never together with TagPatternList.
	TagPrefixList []string `json:"tagPrefixList,omitempty"`
	// StorageClass is empty or "standard".
	StorageClass StorageClass `json:"storageClass,omitempty"`
	// CountType is required.
	CountType CountType `json:"countType"`
	// CountUnit is "days" for the since* count types and empty for
	// imageCountMoreThan.
	CountUnit CountUnit `json:"countUnit,omitempty"`
	// CountNumber is the number of images to keep (imageCountMoreThan) or
	// of days (since*); 1..MaxNumber.
	CountNumber int `json:"countNumber"`
}

// Action is a rule's action.
type Action struct {
	// Type is "expire". ("transition" is ECR's and rejected with
	// ErrUnsupported.)
	Type ActionType `json:"type"`
	// TargetStorageClass belongs to "transition" actions only.
	TargetStorageClass StorageClass `json:"targetStorageClass,omitempty"`
}

// ParsePolicy parses and validates a lifecycle policy text. Decoding is
// strict: unknown and duplicate members, wrong JSON types and trailing data
// are rejected. Errors are *PolicyError values matching ErrInvalidPolicy
// (and ErrUnsupported for ECR features Berth lacks); their Detail follows
// ECR's wording where ECR's is known.
func ParsePolicy(text []byte) (*Policy, error) {
	if n := textLength(text); n < MinPolicyTextLength {
		return nil, &PolicyError{Rule: noRule, length: true,
			Detail: fmt.Sprintf("Member must have length greater than or equal to %d", MinPolicyTextLength)}
	} else if n > MaxPolicyTextLength {
		return nil, &PolicyError{Rule: noRule, length: true,
			Detail: fmt.Sprintf("Member must have length less than or equal to %d", MaxPolicyTextLength)}
	}
	p, err := decodePolicy(text)
	if err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// textLength counts UTF-16 code units, as ECR's length constraint does.
// Bytes that are not UTF-8 count one each.
func textLength(text []byte) int {
	n := 0
	for _, r := range string(text) {
		if utf16.RuneLen(r) == 2 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// Validate checks a Policy value against the grammar's rules and limits,
// everything ParsePolicy checks except the text length. Use it for policies
// built in Go rather than parsed. It returns a *PolicyError matching
// ErrInvalidPolicy.
func (p *Policy) Validate() error {
	if p == nil {
		return docError("", `object has missing required properties (["rules"])`)
	}
	switch n := len(p.Rules); {
	case n == 0:
		return docError("rules", "array is too short: must have at least 1 elements but instance has 0 elements")
	case n > MaxRules:
		return docError("rules", fmt.Sprintf("array is too long: must have at most %d elements but instance has %d elements", MaxRules, n))
	}
	for i := range p.Rules {
		if err := p.Rules[i].validate(i); err != nil {
			return err
		}
	}
	return p.validateAcrossRules()
}

func (r *Rule) validate(i int) error {
	prio := r.RulePriority
	if prio < 1 || prio > MaxNumber {
		return ruleError(i, 0, "rulePriority", rangeDetail(strconv.Itoa(prio), prio < 1))
	}
	if n := utf8.RuneCountInString(r.Description); n > MaxDescriptionLength {
		return ruleError(i, prio, "description",
			fmt.Sprintf("string is too long (length: %d, maximum allowed: %d)", n, MaxDescriptionLength))
	}
	s := &r.Selection
	switch s.TagStatus {
	case TagStatusTagged, TagStatusUntagged, TagStatusAny:
	default:
		return ruleError(i, prio, "selection.tagStatus", enumDetail(string(s.TagStatus), "any", "tagged", "untagged"))
	}
	for _, l := range []struct {
		name string
		list []string
	}{{"tagPatternList", s.TagPatternList}, {"tagPrefixList", s.TagPrefixList}} {
		for j, e := range l.list {
			field := fmt.Sprintf("selection.%s[%d]", l.name, j)
			if e == "" {
				return ruleError(i, prio, field, `string "" is too short (length: 0, required minimum: 1)`)
			}
			if l.name == "tagPatternList" {
				if w := strings.Count(e, "*"); w > MaxPatternWildcards {
					return ruleError(i, prio, field, fmt.Sprintf(
						"tag pattern %q has %d wildcards; a pattern may hold at most %d", e, w, MaxPatternWildcards))
				}
			}
		}
	}
	hasPatterns, hasPrefixes := len(s.TagPatternList) > 0, len(s.TagPrefixList) > 0
	switch {
	case s.TagStatus == TagStatusTagged && !hasPatterns && !hasPrefixes:
		return ruleError(i, prio, "selection",
			"tagPrefixList or tagPatternList is required when tagStatus is tagged")
	case hasPatterns && hasPrefixes:
		return ruleError(i, prio, "selection",
			"tagPrefixList and tagPatternList cannot both be specified in one rule")
	case s.TagStatus != TagStatusTagged && (hasPatterns || hasPrefixes):
		list := "tagPrefixList"
		if hasPatterns {
			list = "tagPatternList"
		}
		return ruleError(i, prio, "selection."+list,
			fmt.Sprintf("%s can only be specified when tagStatus is tagged, not %s", list, s.TagStatus))
	}
	switch s.StorageClass {
	case "", StorageClassStandard:
	case StorageClassArchive:
		return unsupportedError(i, prio, "selection.storageClass",
			"storageClass archive is not supported: Berth has no archive storage class")
	default:
		return ruleError(i, prio, "selection.storageClass", enumDetail(string(s.StorageClass), "archive", "standard"))
	}
	switch s.CountType {
	case CountImageCountMoreThan:
		if s.CountUnit != "" {
			return ruleError(i, prio, "selection.countUnit",
				"countUnit can only be specified when countType is sinceImagePushed or sinceImagePulled")
		}
	case CountSinceImagePushed, CountSinceImagePulled:
		switch s.CountUnit {
		case CountUnitDays:
		case "":
			return ruleError(i, prio, "selection", `object has missing required properties (["countUnit"])`)
		default:
			return ruleError(i, prio, "selection.countUnit", enumDetail(string(s.CountUnit), "days"))
		}
	case CountSinceImageTransitioned:
		return unsupportedError(i, prio, "selection.countType",
			"countType sinceImageTransitioned is not supported: Berth has no archive storage class")
	default:
		// ECR's schema has one branch per count type shape.
		return ruleError(i, prio, "selection.countType", "instance failed to match exactly one schema (matched 0 out of 2)")
	}
	if n := s.CountNumber; n < 1 || n > MaxNumber {
		return ruleError(i, prio, "selection.countNumber", rangeDetail(strconv.Itoa(n), n < 1))
	}
	switch r.Action.Type {
	case ActionExpire:
		if r.Action.TargetStorageClass != "" {
			return ruleError(i, prio, "action.targetStorageClass",
				"targetStorageClass can only be specified when the action type is transition")
		}
	case ActionTransition:
		return unsupportedError(i, prio, "action.type",
			"action type transition is not supported: Berth has no archive storage class")
	default:
		return ruleError(i, prio, "action.type", enumDetail(string(r.Action.Type), "expire", "transition"))
	}
	return nil
}

// validateAcrossRules checks the constraints between rules, in this order:
// unique priorities, "any" last and once, one untagged rule, unique tag
// prefix and pattern sets.
func (p *Policy) validateAcrossRules() error {
	byPriority := make(map[int]int, len(p.Rules))
	highest := 0
	for i, r := range p.Rules {
		if j, dup := byPriority[r.RulePriority]; dup {
			return ruleError(i, r.RulePriority, "rulePriority", fmt.Sprintf(
				"rulePriority must be unique: rules[%d] and rules[%d] both have rulePriority %d", j, i, r.RulePriority))
		}
		byPriority[r.RulePriority] = i
		highest = max(highest, r.RulePriority)
	}
	anyRule, untaggedRule := -1, -1
	for i, r := range p.Rules {
		switch r.Selection.TagStatus {
		case TagStatusAny:
			if anyRule >= 0 {
				return ruleError(i, r.RulePriority, "selection.tagStatus", fmt.Sprintf(
					"only one rule can have tagStatus any: rules[%d] and rules[%d] both do", anyRule, i))
			}
			anyRule = i
			if r.RulePriority != highest {
				return ruleError(i, r.RulePriority, "rulePriority", fmt.Sprintf(
					"a rule with tagStatus any must have the highest rulePriority: %d is lower than %d", r.RulePriority, highest))
			}
		case TagStatusUntagged:
			if untaggedRule >= 0 {
				return ruleError(i, r.RulePriority, "selection.tagStatus",
					"Only one rule can select Untagged images per storage class.")
			}
			untaggedRule = i
		}
	}
	seen := make(map[string]int)
	for i, r := range p.Rules {
		if r.Selection.TagStatus != TagStatusTagged {
			continue
		}
		key, list := "prefix", r.Selection.TagPrefixList
		if len(list) == 0 {
			key, list = "pattern", r.Selection.TagPatternList
		}
		set := slices.Clone(list)
		slices.Sort(set)
		set = slices.Compact(set)
		key += "\x00" + strings.Join(set, "\x00")
		if j, dup := seen[key]; dup {
			name := "tagPrefixList"
			if strings.HasPrefix(key, "pattern") {
				name = "tagPatternList"
			}
			return ruleError(i, r.RulePriority, "selection."+name, fmt.Sprintf(
				"the set of rules must contain a unique set of tag prefixes: rules[%d] and rules[%d] have the same %s", j, i, name))
		}
		seen[key] = i
	}
	return nil
}

func enumDetail(got string, possible ...string) string {
	return fmt.Sprintf(`instance value (%s) not found in enum :(possible values: ["%s"])`, got, strings.Join(possible, `","`))
}

func rangeDetail(found string, low bool) string {
	if low {
		return fmt.Sprintf("numeric instance is lower than the required minimum (minimum: 1, found: %s)", found)
	}
	return fmt.Sprintf("numeric instance is greater than the required maximum (maximum: %d, found: %s)", MaxNumber, found)
}
