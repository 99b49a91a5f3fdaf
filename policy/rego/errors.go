package rego

import (
	"errors"
	"strings"

	"github.com/berth-dev/berth/policy"
)

// Sentinel errors, shared with package policy so that callers need not
// import this package to test for them.
var (
	// ErrPolicyNotFound is returned when a Get or Delete names a policy that
	// is not set.
	ErrPolicyNotFound = policy.ErrPolicyNotFound
	// ErrInvalidPolicy is returned when a policy document or a Rego module
	// is rejected. The error is an *InvalidPolicyError, which says where.
	ErrInvalidPolicy = policy.ErrInvalidPolicy
	// ErrLockout is returned by SetRepositoryPolicy, without force, when the
	// new policy would prevent the calling principal from setting the
	// repository policy again.
	ErrLockout = policy.ErrLockout
)

// InvalidPolicyError describes why a policy document or Rego module was
// rejected. It matches ErrInvalidPolicy with errors.Is.
type InvalidPolicyError struct {
	// Policy names what was rejected, for example `repository policy
	// "team/app"` or `module "ci.rego"`. It is empty for a bare
	// ParsePolicyDocument call.
	Policy string
	// Location is where the problem is: a JSON path into a policy document
	// ("$.Statement[1].Condition.IpAddress.aws:SourceIp[0]"), a character
	// offset for JSON syntax errors ("line 3, column 7"), or a Rego
	// location ("ci.rego:4:3").
	Location string
	// Reason says what is wrong.
	Reason string
}

func (e *InvalidPolicyError) Error() string {
	var b strings.Builder
	b.WriteString("invalid policy")
	if e.Policy != "" {
		b.WriteString(": ")
		b.WriteString(e.Policy)
	}
	if e.Location != "" {
		b.WriteString(": ")
		b.WriteString(e.Location)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

// Is reports whether target is ErrInvalidPolicy.
func (e *InvalidPolicyError) Is(target error) bool { return target == ErrInvalidPolicy }

// withPolicy returns err with Policy set to name when err is an
// *InvalidPolicyError without one; other errors are returned unchanged.
func withPolicy(err error, name string) error {
	var ipe *InvalidPolicyError
	if errors.As(err, &ipe) && ipe.Policy == "" {
		c := *ipe
		c.Policy = name
		return &c
	}
	return err
}
