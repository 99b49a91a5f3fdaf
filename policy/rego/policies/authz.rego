# METADATA
# title: Berth authorization decision
# description: |
#   Combines identity policies, the repository policy, the registry policy
#   and custom rules (package berth.custom) into one decision, with IAM's
#   logic for a single account: an explicit Deny anywhere wins; otherwise
#   the request is allowed if any identity policy, the repository policy,
#   the registry policy or a custom allow rule allows it; otherwise it is
#   denied by default.
#
#   input.statements holds the candidate statements of those documents:
#   the Authorizer looks up the documents attached to the caller's ARNs
#   (and "*"), to the repository and to the registry, and selects the
#   statements whose Action or NotAction covers the request's action.
package berth.authz

import data.berth.iam

# decision is the document the Authorizer queries. Reasons are sets; the
# Authorizer returns them sorted, and supplies the reason for a default
# deny ("no statement allows <action> on <resource>"), which has none here.
decision := {"allow": false, "reasons": deny} if {
	count(deny) > 0
} else := {"allow": true, "reasons": allow} if {
	count(allow) > 0
} else := {"allow": false, "reasons": set()}

# input.has names the kinds of candidate statements present
# ("allow_none", "deny_full", ...), so that OPA's rule index skips the rules
# for absent kinds without evaluating them.
#
# A statement's "fast" field short-cuts the common cases, statements that
# cover any resource: "none" when the Authorizer's selection already
# guarantees that the statement applies (an identity statement, or one that
# names one of the caller's ARNs, with no condition to check), "cond" when
# only its conditions are left to check, "anyone" when only its principal
# "*" is, "anyone_cond" for both. Every other statement is checked in full.

allow contains s.reason if {
	input.has.allow_none == true
	some s in input.statements.allow
	s.fast == "none"
}

allow contains s.reason if {
	input.has.allow_anyone == true
	some s in input.statements.allow
	s.fast == "anyone"
	iam.anyone
}

allow contains s.reason if {
	input.has.allow_cond == true
	some s in input.statements.allow
	s.fast == "cond"
	iam.conditions_hold(s)
}

allow contains s.reason if {
	input.has.allow_anyone_cond == true
	some s in input.statements.allow
	s.fast == "anyone_cond"
	iam.anyone
	iam.conditions_hold(s)
}

allow contains s.reason if {
	input.has.allow_full == true
	some s in input.statements.allow
	s.fast == ""
	iam.principal_allows(s)
	iam.applies(s)
}

deny contains s.reason if {
	input.has.deny_none == true
	some s in input.statements.deny
	s.fast == "none"
}

deny contains s.reason if {
	input.has.deny_anyone == true
	some s in input.statements.deny
	s.fast == "anyone"
	iam.anyone
}

deny contains s.reason if {
	input.has.deny_cond == true
	some s in input.statements.deny
	s.fast == "cond"
	iam.conditions_hold(s)
}

deny contains s.reason if {
	input.has.deny_anyone_cond == true
	some s in input.statements.deny
	s.fast == "anyone_cond"
	iam.anyone
	iam.conditions_hold(s)
}

deny contains s.reason if {
	input.has.deny_full == true
	some s in input.statements.deny
	s.fast == ""
	iam.principal_denies(s)
	iam.applies(s)
}

# Custom rules (package berth.custom, partial sets "deny" and "allow" of
# reasons) are combined by custom_deny.rego and custom_allow.rego, which the
# Authorizer compiles in only when custom modules define those sets: any
# custom deny wins; a custom allow counts like a statement that allows.
