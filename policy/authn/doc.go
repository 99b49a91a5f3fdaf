// Package authn turns credentials into a policy.Principal: static access
// keys, ECR-style authorization tokens (GetAuthorizationToken) and the
// scoped bearer tokens of the Docker/OCI token flow. It depends on the
// standard library and package policy only.
//
// Authentication (who is calling) is this package's job; authorization
// (may they do this) stays with the registry's policy.Authorizer, which
// sees the principal on every request. Nothing here grants permissions.
//
// # Static credentials
//
// Credentials maps access key IDs to principals. Secrets are stored as
// HMAC-SHA256(salt, secret) with a random 16-byte salt per credential and
// compared with crypto/subtle; an unknown access key ID is checked against
// a dummy entry, so it takes the same path and time as a wrong secret and
// returns the same error. A fast salted hash is adequate only because
// secrets are high-entropy random keys: use GenerateCredential (160 bits of
// key ID, 240 bits of secret), never a password a human chose. Secrets
// shorter than MinSecretLength are rejected.
//
// LoadCredentials reads a JSON file:
//
//	{
//	  "credentials": [
//	    {
//	      "accessKeyId": "BRTHX4Q3V7K2M9P5T6LA",
//	      "secretHash":  "hmac-sha256:<32 hex digits of salt>:<64 hex digits of HMAC>",
//	      "principal":   {"id": "u-1", "name": "ci", "groups": ["ci"], "attributes": {"team": "web"}}
//	    },
//	    {
//	      "accessKeyId": "BRTH7PZ2C4N6R8S3W5YB",
//	      "secret":      "plaintext secret, hashed on load (prefer secretHash)",
//	      "principal":   {"id": "u-2", "name": "alice"}
//	    }
//	  ]
//	}
//
// Each entry has exactly one of secret and secretHash (HashSecret computes
// the latter); unknown fields are rejected. The principal becomes the
// policy.Principal of requests made with the key.
//
// # Authorization tokens
//
// TokenService issues and verifies self-contained tokens: a version, a
// token type, a signing key ID and JSON claims (principal ID, name, groups
// and attributes; issued-at; expiry; for bearer tokens, scopes), followed
// by HMAC-SHA256 of all that with the signing key, base64url-encoded
// without padding. Verification needs no database: it checks the size
// (MaxTokenSize), the key ID, the MAC (in constant time), the type and the
// expiry, in that order, and decodes the claims only once the MAC is good.
//
// Issue is ECR's GetAuthorizationToken: AuthorizationData.AuthorizationToken
// is base64("AWS:" + password), valid 12 hours by default, and the
// password is what docker login takes:
//
//	docker login --username AWS --password <password> <registry>
//
// Verify checks such a password. IssueScoped and VerifyScoped do the same
// for bearer tokens limited to scopes (repository:<name>:pull,push). The
// two types are signed with the type inside the MAC, so a token of one type
// never verifies as the other.
//
// # Key rotation and revocation
//
// Tokens are signed with the current key and verify with any of the
// TokenOptions.VerificationKeys most recent keys. RotateKey makes a new
// current key; with the default of two verification keys, tokens signed
// with the previous key stay valid until they expire or until the next
// rotation (graceful rotation: rotate at least one token lifetime apart).
// With VerificationKeys set to 1, every rotation revokes all outstanding
// tokens at once. RevokeAll rotates and drops every older key whatever the
// setting. Keys live in memory: a restart revokes every token unless the
// keys come from TokenOptions.Keys (or SetKeys), which is also how
// replicas behind one load balancer share them.
//
// There is no per-token revocation: revoking one principal's tokens means
// rotating, or removing the principal's permissions in the Authorizer,
// which is consulted on every request anyway.
//
// # Exposing GetAuthorizationToken
//
// An application that serves ECR's control-plane API answers
// GetAuthorizationToken by authenticating the caller (for example with
// Credentials) and returning Issue's result. The caller should first be
// authorized for policy.ActionGetAuthorizationToken, as in ECR. See
// ExampleTokenService_Issue.
package authn
