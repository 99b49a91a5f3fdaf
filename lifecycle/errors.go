package lifecycle

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Every error ParsePolicy and Policy.Validate return is a
// *PolicyError that matches ErrInvalidPolicy, and also ErrUnsupported when
// the document asks for an ECR feature Berth does not implement.
var (
	// ErrInvalidPolicy: the lifecycle policy text or value breaks the grammar,
	// a limit or a cross-rule constraint (ECR's InvalidParameterException).
	ErrInvalidPolicy = errors.New("invalid lifecycle policy")
	// ErrUnsupported: the policy is valid ECR but uses a feature Berth does
	// not implement (the archive storage class: "transition" actions,
	// "storageClass": "archive", "sinceImageTransitioned").
	ErrUnsupported = errors.New("unsupported lifecycle policy feature")
)

// Whole-document positions in PolicyError.Rule.
const noRule = -1

// PolicyError describes why a policy was rejected. It matches
// ErrInvalidPolicy with errors.Is (and ErrUnsupported for unsupported
// features).
type PolicyError struct {
	// Rule is the index of the offending rule in the "rules" array, or -1
	// when the error concerns the whole document.
	Rule int
	// Priority is the rulePriority of the offending rule, or 0 when it is not
	// known (valid priorities are >= 1).
	Priority int
	// Field is the path of the offending member inside the rule (or the
	// document when Rule is -1), such as "selection.countType"; empty when
	// the error concerns the rule or document as a whole.
	Field string
	// Detail is the failure in ECR's words, without the "Lifecycle policy
	// validation failure: " prefix, such as "numeric instance is lower than
	// the required minimum (minimum: 1, found: 0)".
	Detail string

	length      bool // a text-length constraint, not a validation failure
	unsupported bool
}

func (e *PolicyError) Error() string {
	var b strings.Builder
	if e.length {
		b.WriteString("Lifecycle policy text failed to satisfy constraint: ")
		b.WriteString(e.Detail)
	} else {
		b.WriteString("Lifecycle policy validation failure: ")
		b.WriteString(e.Detail)
	}
	var at []string
	if e.Rule >= 0 {
		loc := fmt.Sprintf("rules[%d]", e.Rule)
		if e.Field != "" {
			loc += "." + e.Field
		}
		at = append(at, "at "+loc)
		if e.Priority > 0 {
			at = append(at, fmt.Sprintf("rulePriority %d", e.Priority))
		}
	} else if e.Field != "" {
		at = append(at, "at "+e.Field)
	}
	if len(at) > 0 {
		b.WriteString(" (")
		b.WriteString(strings.Join(at, ", "))
		b.WriteString(")")
	}
	return b.String()
}

// Unwrap lets errors.Is match ErrInvalidPolicy and, for unsupported
// features, ErrUnsupported.
func (e *PolicyError) Unwrap() []error {
	if e.unsupported {
		return []error{ErrInvalidPolicy, ErrUnsupported}
	}
	return []error{ErrInvalidPolicy}
}

// ECRMessage returns the message ECR's PutLifecyclePolicy and
// StartLifecyclePolicyPreview put in an InvalidParameterException for this
// failure, for example
//
//	Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure: object has missing required properties (["rules"])'
//
// It carries no rule position, as ECR's does not.
func (e *PolicyError) ECRMessage() string {
	if e.length {
		return "Invalid parameter at 'lifecyclePolicyText' failed to satisfy constraint: '" + e.Detail + "'"
	}
	return "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure: " + e.Detail + "'"
}

func docError(field, detail string) *PolicyError {
	return &PolicyError{Rule: noRule, Field: field, Detail: detail}
}

func ruleError(rule, priority int, field, detail string) *PolicyError {
	return &PolicyError{Rule: rule, Priority: priority, Field: field, Detail: detail}
}

func unsupportedError(rule, priority int, field, detail string) *PolicyError {
	return &PolicyError{Rule: rule, Priority: priority, Field: field, Detail: detail, unsupported: true}
}
