package policy

import (
	"context"
	"errors"
	"time"
)

// Actions, named as ECR's IAM actions. The registry authorizes every Go API
// call and HTTP operation with one of these.
const (
	ActionGetAuthorizationToken         = "ecr:GetAuthorizationToken"
	ActionBatchCheckLayerAvailability   = "ecr:BatchCheckLayerAvailability"
	ActionGetDownloadURLForLayer        = "ecr:GetDownloadUrlForLayer"
	ActionBatchGetImage                 = "ecr:BatchGetImage"
	ActionInitiateLayerUpload           = "ecr:InitiateLayerUpload"
	ActionUploadLayerPart               = "ecr:UploadLayerPart"
	ActionCompleteLayerUpload           = "ecr:CompleteLayerUpload"
	ActionPutImage                      = "ecr:PutImage"
	ActionBatchDeleteImage              = "ecr:BatchDeleteImage"
	ActionListImages                    = "ecr:ListImages"
	ActionDescribeImages                = "ecr:DescribeImages"
	ActionCreateRepository              = "ecr:CreateRepository"
	ActionDescribeRepositories          = "ecr:DescribeRepositories"
	ActionDeleteRepository              = "ecr:DeleteRepository"
	ActionPutImageTagMutability         = "ecr:PutImageTagMutability"
	ActionPutImageScanningConfiguration = "ecr:PutImageScanningConfiguration"
	ActionTagResource                   = "ecr:TagResource"
	ActionUntagResource                 = "ecr:UntagResource"
	ActionListTagsForResource           = "ecr:ListTagsForResource"
	ActionListImageReferrers            = "ecr:ListImageReferrers"
	ActionSetRepositoryPolicy           = "ecr:SetRepositoryPolicy"
	ActionGetRepositoryPolicy           = "ecr:GetRepositoryPolicy"
	ActionDeleteRepositoryPolicy        = "ecr:DeleteRepositoryPolicy"
	ActionPutRegistryPolicy             = "ecr:PutRegistryPolicy"
	ActionGetRegistryPolicy             = "ecr:GetRegistryPolicy"
	ActionDeleteRegistryPolicy          = "ecr:DeleteRegistryPolicy"

	ActionPutLifecyclePolicy          = "ecr:PutLifecyclePolicy"
	ActionGetLifecyclePolicy          = "ecr:GetLifecyclePolicy"
	ActionDeleteLifecyclePolicy       = "ecr:DeleteLifecyclePolicy"
	ActionStartLifecyclePolicyPreview = "ecr:StartLifecyclePolicyPreview"
	ActionGetLifecyclePolicyPreview   = "ecr:GetLifecyclePolicyPreview"

	ActionPutRegistryScanningConfiguration        = "ecr:PutRegistryScanningConfiguration"
	ActionGetRegistryScanningConfiguration        = "ecr:GetRegistryScanningConfiguration"
	ActionBatchGetRepositoryScanningConfiguration = "ecr:BatchGetRepositoryScanningConfiguration"
	ActionStartImageScan                          = "ecr:StartImageScan"
	ActionDescribeImageScanFindings               = "ecr:DescribeImageScanFindings"

	// ActionExpireUploads is Berth's own action (ECR has no such
	// operation): removing abandoned upload sessions. "ecr:*" does not
	// match it.
	ActionExpireUploads = "berth:ExpireUploads"
)

// Sentinel errors of authorizers and policy managers, wrapped with context.
var (
	// ErrDenied: an Authorizer denied the request.
	ErrDenied = errors.New("denied")
	// ErrPolicyNotFound: no policy is set (ECR's
	// RepositoryPolicyNotFoundException, RegistryPolicyNotFoundException).
	ErrPolicyNotFound = errors.New("policy not found")
	// ErrInvalidPolicy: a policy document or module was rejected (ECR's
	// InvalidParameterException).
	ErrInvalidPolicy = errors.New("invalid policy")
	// ErrLockout: without force, the policy would stop the caller from
	// setting the policy again.
	ErrLockout = errors.New("policy would lock the caller out")
)

// Principal is an authenticated identity.
type Principal struct {
	ID         string            `json:"id"`
	Name       string            `json:"name,omitempty"`
	Groups     []string          `json:"groups,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

type (
	principalKey struct{}
	sourceIPKey  struct{}
)

// WithPrincipal returns a context carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal carried by ctx, or nil.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// WithSourceIP returns a context carrying the client's IP address, which
// the registry passes to its Authorizer as Input.SourceIP.
func WithSourceIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, sourceIPKey{}, ip)
}

// SourceIPFrom returns the client IP carried by ctx, or "".
func SourceIPFrom(ctx context.Context) string {
	ip, _ := ctx.Value(sourceIPKey{}).(string)
	return ip
}

// Input is one authorization request. Version lets policies written against
// this shape detect a future change.
type Input struct {
	Version    int        `json:"version"`
	Principal  *Principal `json:"principal,omitempty"`
	Action     string     `json:"action"`
	Repository string     `json:"repository,omitempty"`
	// Reference is the tag or digest the request names, if any.
	Reference string    `json:"reference,omitempty"`
	SourceIP  string    `json:"sourceIp,omitempty"`
	Time      time.Time `json:"time"`
}

// InputVersion is the current Input.Version.
const InputVersion = 1

// Decision is an Authorizer's answer.
type Decision struct {
	Allow   bool     `json:"allow"`
	Reasons []string `json:"reasons,omitempty"`
}

// Authorizer decides whether a request may proceed.
type Authorizer interface {
	Authorize(ctx context.Context, in Input) (Decision, error)
}

// AuthorizerFunc adapts a function to Authorizer.
type AuthorizerFunc func(ctx context.Context, in Input) (Decision, error)

// Authorize calls f.
func (f AuthorizerFunc) Authorize(ctx context.Context, in Input) (Decision, error) { return f(ctx, in) }

// AllowAll allows every request. It is the registry's default, for a
// registry without authentication.
var AllowAll Authorizer = AuthorizerFunc(func(context.Context, Input) (Decision, error) {
	return Decision{Allow: true}, nil
})

// DenyAll denies every request.
var DenyAll Authorizer = AuthorizerFunc(func(context.Context, Input) (Decision, error) {
	return Decision{Allow: false, Reasons: []string{"deny all"}}, nil
})

// RepositoryPolicyManager is an extension of Authorizer for authorizers that
// keep ECR repository policies. The registry exposes it as
// SetRepositoryPolicy, GetRepositoryPolicy and DeleteRepositoryPolicy.
type RepositoryPolicyManager interface {
	SetRepositoryPolicy(ctx context.Context, repo, text string, force bool) error
	GetRepositoryPolicy(ctx context.Context, repo string) (string, error)
	DeleteRepositoryPolicy(ctx context.Context, repo string) error
}

// RegistryPolicyManager is an extension of Authorizer for authorizers that
// keep an ECR registry policy.
type RegistryPolicyManager interface {
	PutRegistryPolicy(ctx context.Context, text string) error
	GetRegistryPolicy(ctx context.Context) (string, error)
	DeleteRegistryPolicy(ctx context.Context) error
}

// Store persists the policy texts of an Authorizer, by key. Keys are
// printable ASCII chosen by the Authorizer (policy/rego uses
// "v1/repository/<name>", "v1/registry", ...). Implementations must be safe
// for concurrent use and durable when Put and Delete return.
type Store interface {
	// Get returns the text stored under key, or an error matching
	// ErrPolicyNotFound.
	Get(ctx context.Context, key string) (string, error)
	// Put stores text under key, replacing any previous text.
	Put(ctx context.Context, key, text string) error
	// Delete removes key. Deleting an absent key is not an error.
	Delete(ctx context.Context, key string) error
	// List calls fn for every key with the given prefix, in key order,
	// stopping at the first error fn returns.
	List(ctx context.Context, prefix string, fn func(key, text string) error) error
}

// StoreUser is an extension of Authorizer for authorizers that keep their
// policies (repository and registry policies, and whatever else they hold)
// in a Store. The registry hands such an Authorizer a Store over its
// storage when the storage keeps records (storage.RecordStore), so that
// policies set through the registry survive a restart.
type StoreUser interface {
	// UseStore loads the policies held in s, which take effect, and makes
	// the Authorizer write every later change to s before the change takes
	// effect (a failed write leaves the old policy in force). A stored
	// policy that is no longer valid fails UseStore with an error matching
	// ErrInvalidPolicy that names its key, and changes nothing.
	UseStore(ctx context.Context, s Store) error
}
