// Package policy defines how a Berth registry asks whether a request may
// proceed: an Authorizer receives an Input (principal, ECR action name,
// repository, reference, source IP, time) and returns a Decision.
//
// The registry calls its Authorizer for every Go API call and every HTTP
// operation, naming the action as ECR's IAM does (ecr:BatchGetImage,
// ecr:PutImage, ...). AllowAll is the default; a Rego-based implementation
// lives in a leaf package so that this package depends on the standard
// library only.
package policy
