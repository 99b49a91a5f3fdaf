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
// the old policies or the new, never a mix, and a rejected change, or one
// the Store fails to write, leaves the old policy in force. All methods
// are safe for concurrent use.
//
// # Persistence
//
// Without Options.Store, an Authorizer keeps its policies in memory until
// a registry adopts it: registry.New calls UseStore (policy.StoreUser)
// with a Store over its storage's records when the storage keeps records
// (storage.RecordStore, as storage/memory and storage/badgerstore do). The
// policies are then records "policy/<key>" (key as in Store: for example
// policy/v1/repository/team/app and policy/v1/registry), loaded in
// registry.New and written before every change takes effect, so that
// SetRepositoryPolicy, PutRegistryPolicy, SetIdentityPolicy and SetModules
// survive a restart. Policies given in Options are applied on top of the
// stored ones at every start and written back, as with Options.Store:
// removing one from Options does not delete it from storage (call the
// Delete method). Deleting a repository through the registry deletes its
// policy, as in ECR.
//
// A stored policy that no longer compiles (written by another version, or
// edited by hand) is not dropped, since a dropped Deny could open a
// repository: registry.New fails with an error matching ErrInvalidPolicy
// that names the record. Replace or delete the record
// (storage.RecordStore.PutRecord or DeleteRecord) to start again.
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
// (policies/authz.rego and iam.rego, with custom_deny.rego and
// custom_allow.rego compiled in when custom modules define those sets,
// and unit tests beside them),
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
//	  "statements":    {"allow": [...], "deny": [...]}, // candidate statements; internal, may change
//	  "has":           {"allow_none": true, ...}       // kinds of candidates present; internal, may change
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
// request-specific part is built per call) and evaluates the decision
// query, compiled when the modules are, with OPA's evaluator (topdown)
// directly, without tracing, metrics or print: the rego package's per-call
// set-up (evaluation context, a result set converted to Go values, a
// goroutine watching a cancellable context) cost about 20 allocations and
// a fifth of the time of an evaluation.
// A context cancelled before the evaluation fails it; a running evaluation
// is not interrupted (built-in functions such as http.send see the
// context). Statement selection by action and principal keeps the
// evaluation cost independent of the number of repository policies, and
// the input's "has" flags let OPA's rule index skip the rules for kinds
// of candidate statements that are absent; the rules that combine custom
// modules' deny and allow sets are compiled in only for the sets that
// custom modules define. IpAddress and NotIpAddress conditions
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
// ./policy/rego/), an uncached decision costs 206 allocations (11.2 KB)
// and took 27 µs at the median and 170 µs at p99 serially (33 µs and
// 250-270 µs with 2 and 32 callers) while the machine's load average was
// about 1.7; in runs alternated with those, the previous version (the rego
// package's Eval, no "has" flags or condition kinds, custom rules always
// compiled in) took 294 allocations (15.7 KB), 36-38 µs and 212-227 µs
// (44-48 µs and 317-379 µs). The p99 is dominated by garbage collection
// and the machine's other tenants, and the evaluation by OPA's
// interpreter, which allocates for every rule body it enters: its floor
// for a trivial query through the rego package (BenchmarkOPAFloor) is
// 7-10 µs and 66 allocations there. With the cache, about 0.7 µs at the median and
// 3-5 µs at p99 once the misses are under 1% of the calls.
//
// # Differences from ECR
//
//   - One account. Principals are Berth's (policy.Principal), mapped to IAM
//     user ARNs in Options.RegistryID and their Groups to group and role
//     ARNs. There is no IAM service: identity policies are attached here
//     (SetIdentityPolicy). Cross-account access does not exist; service
//     principals never match; Federated and CanonicalUser principals are
//     rejected. A Principal element may name group and role ARNs, which IAM
//     does not allow.
//   - Condition keys are those listed above. Others that ECR documents,
//     such as aws:SourceArn, aws:SourceAccount, aws:PrincipalOrgID,
//     aws:RequestTag and aws:TagKeys, are always absent, so positive
//     operators on them are false. BinaryEquals and policy-variable
//     defaults are rejected.
//   - The registry policy has ECR's V2 semantics only: it is evaluated on
//     every request, in union with identity and repository policies.
//   - ecr:GetAuthorizationToken is a registry-wide action (resource "*").
//     As in ECR, a repository policy cannot grant it; unlike ECR, where
//     only IAM policies can, a registry policy statement with Resource "*"
//     can. The token endpoint of httpapi.WithTokenEndpoint and the
//     ECR-style endpoint of examples/server require it, so a principal
//     denied it gets 403 and no token.
//   - SetRepositoryPolicy's lock-out check (without force) evaluates the
//     new policy at the current time, without a source IP.
//   - Custom Rego modules (package berth.custom) and the decision cache are
//     Berth's own; the cache never changes a decision.
//   - Policies are kept in the registry's storage (see Persistence) and
//     deleted with their repository, as in ECR. Policies given in Options
//     are applied again at every start, which has no ECR counterpart.
package rego
