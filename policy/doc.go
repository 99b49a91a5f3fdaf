// Package policy defines how a Berth registry asks whether a request may
// proceed: an Authorizer receives an Input (principal, ECR action name,
// repository, reference, source IP, time) and returns a Decision.
//
// The registry calls its Authorizer for every Go API call and every HTTP
// operation, naming the action as ECR's IAM does (ecr:BatchGetImage,
// ecr:PutImage, ...). AllowAll is the default; a Rego-based implementation
// lives in a leaf package so that this package depends on the standard
// library only.
//
// Authorizers that keep policies (RepositoryPolicyManager,
// RegistryPolicyManager) may also implement StoreUser: the registry then
// hands them a Store over its storage, so that policies set through its
// API survive a restart.
package policy
