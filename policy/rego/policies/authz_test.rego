package berth.authz_test

import data.berth.authz

# request is the input for alice (group ci) pushing to app, with the
# candidate statements to be filled in.
request(allow, deny) := {
	"version": 1,
	"principal": {"id": "u-1", "name": "alice", "groups": ["ci"], "attributes": {}},
	"principalArns": ["arn:aws:iam::000000000000:user/alice", "arn:aws:iam::000000000000:group/ci"],
	"account": "000000000000",
	"action": "ecr:PutImage",
	"repository": "app",
	"resource": "arn:aws:ecr:local:000000000000:repository/app",
	"context": {"aws:username": "alice"},
	"statements": {"allow": allow, "deny": deny},
	"has": has(allow, deny),
}

# has is the "has" object the Authorizer builds: the kinds of statements
# present.
has(allow, deny) := object.union(
	{sprintf("allow_%s", [kind(s)]): true | some s in allow},
	{sprintf("deny_%s", [kind(s)]): true | some s in deny},
)

kind(s) := "full" if s.fast == ""

kind(s) := s.fast if s.fast != ""

anonymous(allow, deny) := object.remove(request(allow, deny), ["principal"])

# stmt is a resource-based statement for everyone ("*"), with nothing but
# the principal to check.
stmt(reason) := {
	"reason": reason,
	"identity": false,
	"principal": {"any": true, "arns": {}, "accounts": {}},
	"resource": {"any": true},
	"conditions": [],
	"simple": true,
	"fast": "anyone",
}

# for is a statement naming one principal, checked in full.
for(reason, principal) := object.union(stmt(reason), {
	"principal": {"any": false, "arns": {principal: true}, "accounts": {}},
	"fast": "",
})

identity_stmt(reason) := object.union(object.remove(stmt(reason), ["principal"]), {"identity": true, "fast": "none"})

test_default_deny if {
	d := authz.decision with input as request([], [])
	d == {"allow": false, "reasons": set()}
}

test_allow if {
	d := authz.decision with input as request([stmt("R")], [])
	d == {"allow": true, "reasons": {"R"}}
}

test_resource_based_statement_checks_the_principal if {
	authz.decision.allow with input as request([for("R", "arn:aws:iam::000000000000:group/ci")], [])
	not authz.decision.allow with input as request([for("R", "arn:aws:iam::000000000000:user/bob")], [])
}

test_identity_statement_needs_no_principal if {
	d := authz.decision with input as request([identity_stmt("I")], [])
	d == {"allow": true, "reasons": {"I"}}
}

test_star_needs_authentication if {
	not authz.decision.allow with input as anonymous([stmt("R")], [])
	authz.decision.allow with input as anonymous([stmt("R")], []) with data.berth.config.allow_anonymous as true
}

test_explicit_deny_wins if {
	d := authz.decision with input as request([stmt("A"), identity_stmt("I")], [stmt("D")])
	d == {"allow": false, "reasons": {"D"}}
}

test_deny_for_someone_else_does_not_apply if {
	d := authz.decision with input as request([stmt("A")], [for("D", "arn:aws:iam::000000000000:user/bob")])
	d == {"allow": true, "reasons": {"A"}}
}

test_conditions_gate_statements if {
	blocked := object.union(stmt("D"), {"simple": false, "fast": "", "conditions": [{
		"op": "ip", "neg": true, "absent": true,
		"key": "aws:sourceip", "vals": ["10.0.0.0/8"],
	}]})

	# No source IP: NotIpAddress holds, so the deny applies.
	not authz.decision.allow with input as request([stmt("A")], [blocked])
	authz.decision.allow with input as object.union(request([stmt("A")], [blocked]), {"context": {"aws:sourceip": "10.0.0.1"}})
}

test_custom_deny_wins if {
	d := authz.decision with input as request([stmt("A")], [])
		with data.berth.custom.deny as {"frozen"}
	d == {"allow": false, "reasons": {"denied by custom rule: frozen"}}
}

test_custom_allow_counts_as_allow if {
	d := authz.decision with input as request([], [])
		with data.berth.custom.allow as {"ci may push"}
	d == {"allow": true, "reasons": {"allowed by custom rule: ci may push"}}
}

test_full_check_of_star_statement if {
	full := object.union(stmt("A"), {"fast": ""})
	authz.decision.allow with input as request([full], [])
	not authz.decision.allow with input as anonymous([full], [])
}

test_all_reasons_are_reported if {
	d := authz.decision with input as request([stmt("R"), identity_stmt("I")], [])
	d.reasons == {"R", "I"}
}

# The "cond" and "anyone_cond" kinds check the conditions (and, for
# "anyone_cond", that "*" names the caller) and nothing else.
test_condition_kinds if {
	notip := [{"op": "ip", "neg": true, "absent": true, "key": "aws:sourceip", "vals": ["10.0.0.0/8"]}]
	cond := object.union(for("C", "arn:aws:iam::000000000000:user/alice"), {"simple": false, "fast": "cond", "conditions": notip})
	anyone := object.union(stmt("D"), {"simple": false, "fast": "anyone_cond", "conditions": notip})
	outside := {"context": {"aws:sourceip": "192.0.2.1"}}
	inside := {"context": {"aws:sourceip": "10.0.0.1"}}

	authz.decision.allow with input as object.union(request([cond], []), outside)
	not authz.decision.allow with input as object.union(request([cond], []), inside)
	not authz.decision.allow with input as object.union(request([stmt("A")], [anyone]), outside)
	authz.decision.allow with input as object.union(request([stmt("A")], [anyone]), inside)

	# The deny for "*" does not apply to anonymous callers (allow_anonymous
	# is false); "cond" relies on the Authorizer's selection by ARN.
	authz.decision.allow with input as object.union(anonymous([cond], [anyone]), outside)
}
