// Package rego is a policy.Authorizer that evaluates Amazon ECR–compatible
// IAM policy documents, and custom Rego modules, with Open Policy Agent.
//
// The package is named rego like OPA's own github.com/open-policy-agent/opa/v1/rego;
// a program that imports both must rename one. Embedders rarely need OPA's:
// custom modules are passed as source text.
//
// # Lifecycle
//
// New validates and compiles every policy document and module (from
// Options and from Options.Store) and prepares the decision query once; it
// starts no goroutines. Authorize evaluates one request. The management
// methods (SetRepositoryPolicy, PutRegistryPolicy, SetIdentityPolicy,
// SetModules, their Get and Delete counterparts) validate and compile a
// change before it takes effect, persist it to the Store, then swap in a
// new immutable snapshot of all policies (and, for SetModules, a newly
// prepared query) with one atomic pointer store: an evaluation sees either
// the old policies or the new, never a mix, and a rejected change leaves
// the old policy in force. All methods are safe for concurrent use.
//
// # Policies
//
// Three kinds of IAM JSON policy document are evaluated, as in ECR:
//
//   - Identity policies, attached with SetIdentityPolicy (or
//     Options.IdentityPolicies) to a principal's user ARN, to a group or
//     role ARN, or to "*" (every authenticated principal). Their statements
//     have no Principal and need a Resource.
//   - Repository policies (SetRepositoryPolicy), consulted for requests on
//     their repository. Their statements need a Principal; Resource is
//     optional and defaults to the repository.
//   - The registry policy (PutRegistryPolicy), consulted for every request.
//     Its statements need a Principal and a Resource.
//
// The grammar is IAM's: Version ("2012-10-17" or "2008-10-17"), Id, and
// Statement (an object or an array) with Sid, Effect (Allow or Deny),
// Principal or NotPrincipal ("*", {"AWS": ARN, account ID or "*", or a
// list}, {"Service": ...}), Action or NotAction (strings or lists with the
// wildcards * and ?, compared case-insensitively), Resource or NotResource
// (ARNs with wildcards, or "*"), and Condition. A document may be at most
// MaxPolicyLength (10,240) characters, ECR's limit. ParsePolicyDocument
// validates and normalises a document; errors are *InvalidPolicyError
// values matching ErrInvalidPolicy that give the JSON path of the problem
// ("$.Statement[1].Condition.IpAddress.aws:SourceIp[0]").
//
// Condition operators: StringEquals, StringNotEquals,
// StringEqualsIgnoreCase, StringNotEqualsIgnoreCase, StringLike,
// StringNotLike, ArnEquals, ArnLike, ArnNotEquals, ArnNotLike (wildcards
// stay within one colon-separated segment; a lone "*" matches anything),
// Numeric{Equals,NotEquals,LessThan,LessThanEquals,GreaterThan,GreaterThanEquals},
// Date{Equals,NotEquals,LessThan,LessThanEquals,GreaterThan,GreaterThanEquals}
// (ISO 8601 or epoch seconds), Bool, IpAddress and NotIpAddress (CIDRs or
// addresses, IPv4 and IPv6), Null; each but Null with the IfExists suffix,
// and with the ForAnyValue: and ForAllValues: qualifiers (the request
// context has single-valued keys only, so a qualifier changes nothing but
// the result for an absent key, which ForAllValues makes true). Several values
// for one key are ORed (for negated operators: none may match); several
// keys and operators are ANDed. A key absent from the request makes
// positive operators false and negated operators, IfExists and
// ForAllValues true, as in IAM. BinaryEquals, policy-variable defaults
// (${key, 'default'}) and the Federated and CanonicalUser principal types
// are rejected as unsupported.
//
// Condition keys (names are case-insensitive):
//
//	aws:CurrentTime, aws:EpochTime   Input.Time (the current time if zero)
//	aws:SourceIp                     Input.SourceIP, if it is an address (or address:port)
//	aws:PrincipalArn                 the principal's user ARN (below)
//	aws:username                     Principal.Name, or Principal.ID if Name is empty
//	aws:userid                       Principal.ID
//	aws:PrincipalAccount             Options.RegistryID
//	aws:PrincipalType                "User"
//	aws:PrincipalTag/<k>             Principal.Attributes[k] (keys differing only in case collide)
//	ecr:ResourceTag/<k>, aws:ResourceTag/<k>   from Options.ResourceTags
//
// The principal keys are absent for anonymous requests. In 2012-10-17
// documents, Resource and condition values may use these keys as policy
// variables (arn:aws:ecr:*:*:repository/${aws:username}/*), plus ${*},
// ${?} and ${$} for literal characters.
//
// # ARNs
//
// A principal (policy.Principal) is the IAM user
// arn:aws:iam::<RegistryID>:user/<Name> (or <ID> when Name is empty). Each
// of its Groups g is the group arn:aws:iam::<RegistryID>:group/<g>, except
// that a group named "role/<r>" is the role arn:aws:iam::<RegistryID>:role/<r>.
// Identity policies attached to any of these ARNs apply to the principal,
// and, as a Berth extension, a Principal element may name group and role
// ARNs as well as user ARNs. Naming the account (the 12-digit ID or
// arn:aws:iam::<id>:root) in an Allow statement of a repository or
// registry policy delegates to identity policies, as in IAM, and grants
// nothing by itself; in a Deny statement it applies to every principal.
// Service principals never match: Berth has none. PrincipalARN, GroupARN and
// RepositoryARN compute these ARNs.
//
// A repository is arn:aws:ecr:<Region>:<RegistryID>:repository/<name>.
// Registry-wide operations (Input.Repository == "") have the resource
// "*", which only a Resource of "*" matches, as for IAM actions without
// resource-level permissions.
//
// "*" as a principal matches every authenticated principal. It matches
// anonymous requests (Input.Principal == nil) only if
// Options.AllowAnonymous is set; whether the registry lets anonymous
// requests through at all is decided by the embedding application.
//
// # Decision
//
// The decision follows IAM's evaluation logic for a single account: an
// explicit Deny in any identity policy, the repository policy, the registry
// policy, or a custom deny rule wins; otherwise the request is allowed if
// any identity policy, the repository policy, the registry policy, or a
// custom allow rule allows it (identity and resource-based policies are a
// union); otherwise it is denied. Decision.Reasons, sorted, name every
// statement that decided ("denied by repository policy \"team/app\":
// statement \"DenyPush\"", "allowed by identity policy \"push\" of
// arn:aws:iam::000000000000:group/ci: Statement[0]"), or say "no statement
// allows <action> on <resource>".
//
// The decision is computed by the Rego policies embedded in the package
// (policies/authz.rego, iam.rego and custom.rego, with unit tests beside
// them),
// by the query DecisionQuery, data.berth.authz.decision. The Go side
// prepares their input: it parses and compiles the documents, and for each
// request selects the candidate statements, those of the documents
// attached to the principal's ARNs, to the repository and to the registry
// whose Action or NotAction covers the action and that do not name other
// principals by ARN (each compiled statement records the ECR actions it
// covers and the ARNs it names). The Rego policies then check principals
// ("*", anonymous, accounts, NotPrincipal), resources and conditions, and
// combine the results.
//
// # Custom modules
//
// Options.Modules and SetModules supply Rego modules (Rego v1 syntax) for
// rules that IAM JSON cannot express. Rules go in package berth.custom
// (CustomPackage) as partial sets of reasons:
//
//	package berth.custom
//
//	# Only CI may push release tags.
//	deny contains "only CI may push v* tags" if {
//		input.action == "ecr:PutImage"
//		startswith(input.reference, "v")
//		not "ci" in input.principal.groups
//	}
//
//	# Pulls of prod/* only from 10.0.0.0/8.
//	deny contains "prod pulls only from 10.0.0.0/8" if {
//		input.action in {"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}
//		startswith(input.repository, "prod/")
//		not net.cidr_contains("10.0.0.0/8", input.sourceIp)
//	}
//
//	# The ops group may do anything.
//	allow contains "ops" if "ops" in input.principal.groups
//
// They combine with the documents by the rule above: any deny (custom or
// document) wins; an allow needs at least one allow, custom or document.
// A custom allow may allow anonymous requests, whatever AllowAnonymous
// says: custom modules are the embedding application's own, trusted code.
// Helper rules may live in package berth.custom or its subpackages, or
// outside data.berth; the other berth.* packages are reserved (berth.authz,
// berth.iam and berth.config hold the embedded policies and settings). A
// module that does not parse or compile is rejected with its file, line
// and column.
//
// # Input
//
// Custom modules, like the embedded policies, see this input: policy.Input
// in its JSON form, with every field present, plus derived fields.
//
//	{
//	  "version":       1,                      // policy.InputVersion
//	  "principal": {                           // absent for anonymous requests
//	    "id": "u-42", "name": "alice",
//	    "groups": ["ci"], "attributes": {"team": "web"}
//	  },
//	  "action":        "ecr:PutImage",
//	  "repository":    "team/app",             // "" for registry-wide operations
//	  "reference":     "v1.2.3",               // tag or digest, or ""
//	  "sourceIp":      "10.1.2.3",             // or ""
//	  "time":          "2025-06-01T12:00:00Z", // RFC 3339, UTC
//	  "resource":      "arn:aws:ecr:local:000000000000:repository/team/app",  // or "*"
//	  "account":       "000000000000",         // Options.RegistryID
//	  "principalArn":  "arn:aws:iam::000000000000:user/alice",  // absent for anonymous
//	  "principalArns": ["arn:aws:iam::000000000000:user/alice", "arn:aws:iam::000000000000:group/ci"],
//	  "context":       {"aws:sourceip": "10.1.2.3", "aws:username": "alice", ...},  // condition keys, lower-cased
//	  "statements":    {"allow": [...], "deny": [...]}  // candidate statements; internal, may change
//	}
//
// Guard references to the principal with input.principal: in OPA, a
// negated expression over an undefined reference, such as
// `not "ci" in input.principal.groups` for an anonymous request, is
// undefined rather than true.
//
// # Performance
//
// Authorize builds the input directly as an OPA AST value (the compiled
// statements are AST values built when a policy is set; only the
// request-specific part is built per call) and evaluates the query
// prepared in New, without tracing, metrics or print. Statement selection
// by action and principal keeps the evaluation cost independent of the
// number of repository policies. IpAddress and NotIpAddress conditions
// call berth.ip_in, a built-in function written in Go and registered with
// OPA for the embedded policies: it returns exactly what
// count(net.cidr_contains_matches(cidrs, v)) > 0 would (false for OPA's
// errors), deciding the usual case (v an address) without OPA's per-call
// parsing and result sets, and leaving the rest to OPA's built-in; the
// condition logic stays in Rego.
//
// Decisions are cached per policy set: Options.DecisionCacheSize
// (default DefaultDecisionCacheSize; negative disables the cache) bounds
// the number of entries. A cached decision is returned only when
// evaluating again must give the same decision:
//
//   - The key holds everything in the input but the time: whether there is
//     a principal, its ID, Name, Groups (in order) and Attributes, Version,
//     Action, Repository, Reference and SourceIP exactly as given, and the
//     repository's resource tags (ResourceTags is called before the
//     lookup). Every other input field (principalArn(s), resource, account,
//     the context keys other than aws:CurrentTime and aws:EpochTime, and
//     the candidate statements) is computed from these, the Authorizer's
//     fixed settings and the policy set.
//   - The cache belongs to the snapshot (policy set, modules and prepared
//     query) it was filled with: every change, and SetModules, swaps in a
//     new snapshot with a new, empty cache in the same atomic store, so a
//     decision made under old policies is never returned under new ones.
//   - Decisions that may depend on the time are not cached. A statement
//     may if it has a Date operator or names aws:CurrentTime or
//     aws:EpochTime as a condition key or anywhere in a resource or
//     condition value (as a policy variable); a request whose candidate
//     statements include one is evaluated and not cached (the candidates
//     are a function of the key and the policy set). Custom modules may if
//     they refer to input.time, input.context, the input as a whole or a
//     computed input field, or call a nondeterministic built-in function
//     (time.now_ns, http.send, rand.intn, ...) or one that reads the clock
//     (io.jwt.decode_verify, crypto.x509.parse_and_verify_certificates);
//     this is checked on the compiled modules, and if any may, the
//     snapshot has no cache at all.
//   - Errors (a conflict in a custom module, a ResourceTags error) are
//     never cached, and a cancelled context fails the call even on a hit.
//     Callers get a copy of the cached Reasons.
//
// Each of 16 shards keeps two generations of at most DecisionCacheSize/16
// entries (a hit in the older moves the entry to the newer) and drops the
// older when the newer fills: the cache holds the recently used decisions,
// at most 2×DecisionCacheSize of them.
//
// BenchmarkAuthorize measures one manifest pull, uncached, under 20
// repository policies, identity policies, a registry policy and a custom
// module. BenchmarkAuthorize1000 measures 8,192 distinct requests spread
// over 1,000 repository policies of four shapes (see bench_test.go) and
// reports per-call p50 and p99 latencies, serially, with GOMAXPROCS and
// with 16×GOMAXPROCS callers, with the cache disabled ("uncached") and
// enabled ("cached": each distinct request misses once). On a shared
// 2-core AMD EPYC (go test -run '^$' -bench Authorize1000 -benchtime 4s
// ./policy/rego/), uncached decisions take about 40-50 µs at the median
// and 180-270 µs at p99, where garbage collection and the machine's other
// tenants dominate (OPA's floor for a trivial query, BenchmarkOPAFloor, is
// 7 µs there); with the cache, about 0.8 µs at the median and 3.5-4 µs at
// p99 once the misses are under 1% of the calls.
package rego
