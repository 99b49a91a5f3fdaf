// Package httpapi serves a registry.Registry over the OCI Distribution API,
// version 1.1, as an http.Handler.
//
// New validates its options and starts nothing; the embedder owns the
// http.Server and mounts the handler at /v2/:
//
//	h, err := httpapi.New(reg, httpapi.WithLogger(log))
//	if err != nil { ... }
//	mux.Handle("/v2/", h)
//
// # Endpoints
//
// Repository names contain slashes, so paths are parsed from the end (the
// last /manifests/, /blobs/, /blobs/uploads/, /referrers/ or /tags/list), not
// with ServeMux patterns.
//
//	GET, HEAD          /v2/                                   API version check: 200 {}
//	GET, HEAD          /v2/<name>/manifests/<reference>       pull (HEAD does not record a pull)
//	PUT                /v2/<name>/manifests/<reference>       push; ?tag= adds tags to a push by digest
//	DELETE             /v2/<name>/manifests/<tag>             untag
//	DELETE             /v2/<name>/manifests/<digest>          delete the manifest and its tags
//	GET, HEAD          /v2/<name>/blobs/<digest>              pull, with Range support
//	DELETE             /v2/<name>/blobs/<digest>              unlink from the repository
//	POST               /v2/<name>/blobs/uploads/              start an upload; ?digest= monolithic;
//	                                                          ?mount=&from= cross-repository mount
//	GET                /v2/<name>/blobs/uploads/<id>          upload status
//	PATCH              /v2/<name>/blobs/uploads/<id>          append a chunk (Content-Range) or stream
//	PUT                /v2/<name>/blobs/uploads/<id>?digest=  complete, with an optional last chunk
//	DELETE             /v2/<name>/blobs/uploads/<id>          cancel
//	GET                /v2/<name>/tags/list?n=&last=          tags, paginated with Link
//	GET                /v2/<name>/referrers/<digest>          referrers index; ?artifactType= filters
//	GET                /v2/_catalog?n=&last=                  repositories, paginated with Link
//
// Digests may be sha256 or sha512 everywhere. A mount without from, or from a
// repository that cannot provide the blob, falls back to an upload session
// (202), as the spec allows.
//
// # Errors
//
// Errors are the spec's JSON body, {"errors":[{"code":...,"message":...}]}.
// The registry's sentinel errors map to a status and code in one table
// (errors.go): every client mistake is a 4xx, and only a server fault is a
// 500 UNKNOWN, which is logged. The choices the spec leaves open are
// documented on that table.
//
// # Authentication
//
// Authentication finds the caller's policy.Principal; the registry's
// policy.Authorizer then decides every operation, before any storage
// access, so a refused request learns nothing about what exists. The
// handler authenticates first, before routing:
//
//   - WithAuthenticator sets an Authenticator: BasicAuthenticator (static
//     credentials from package policy/authn, or the user "AWS" with an
//     ECR-style token from authn.TokenService.Issue, as docker login sends
//     after aws ecr get-login-password), BearerAuthenticator, the
//     application's own (session cookie, TLS client certificate, OIDC:
//     see ExampleAuthenticator), or several with ChainAuthenticators.
//   - Bad credentials are 401 UNAUTHORIZED; so are missing credentials,
//     unless WithAnonymous(true) lets such requests reach the Authorizer
//     without a principal. The version check /v2/ answers 401 with the
//     challenge to unauthenticated clients (that is how docker login
//     discovers authentication) and 200 to authenticated ones.
//   - A principal denied by the Authorizer gets 403 DENIED; a request
//     without one that the Authorizer refuses gets 401.
//   - WithTokenEndpoint serves the Docker token flow: 401 responses carry a
//     Bearer challenge with the scope the request needs, the endpoint
//     exchanges credentials for a scoped bearer token, and a token whose
//     scopes do not cover a request gets 401 with
//     error="insufficient_scope". Without it, 401 responses carry the
//     static challenge of WithAuthChallenge (Basic realm="berth" by
//     default), as ECR's Basic-only registry endpoint does.
//   - Without an Authenticator, the handler passes on the principal a
//     middleware put into the request context (policy.WithPrincipal), or
//     none. A principal already there is never replaced.
//
// The client's address goes into the context too (policy.WithSourceIP),
// for aws:SourceIp conditions: the peer's address, or with
// WithTrustedProxies, the first untrusted address of X-Forwarded-For.
//
// ECR's control-plane GetAuthorizationToken is not served here: an
// application exposes it by authenticating the caller and returning
// authn.TokenService.Issue's AuthorizationData (see the authn package).
//
// Cost: without an Authenticator, authentication is a context value for
// the source IP; with one, Basic credentials cost one HMAC-SHA256 and a
// token one HMAC-SHA256 verification, and nothing is cached.
//
// # Options and limits
//
// WithLogger sets where server faults are logged (the registry's logger by
// default); WithAuthChallenge sets the WWW-Authenticate header of a 401.
// Manifest bodies are read with a hard cap of the registry's
// MaxManifestSize; the registry enforces its own limit, which may be lower.
//
// # Performance
//
// Blobs are streamed, never buffered: uploads go straight to storage, and
// downloads go through http.ServeContent, which lets the kernel send a file
// (sendfile) when the storage opens blobs as *os.File. Manifest reads do not
// touch the query string and set headers without canonicalisation.
//
// References:
//   - https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md
//   - https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#endpoints
//   - https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#error-codes
//   - https://distribution.github.io/distribution/spec/auth/token/ (token flow)
//   - https://distribution.github.io/distribution/spec/auth/scope/ (scopes)
package httpapi
