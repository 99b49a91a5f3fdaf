# METADATA
# title: IAM policy-language primitives
# description: |
#   Principal, resource and condition matching for the compiled policy
#   statements that the Authorizer passes in input.statements (see
#   statementValue in compile.go for their shape). The Authorizer has
#   already selected the statements whose Action or NotAction covers the
#   request's action. berth.authz combines the results into a decision.
#
#   The rules are written to keep function calls few: OPA evaluates this on
#   every registry request.
package berth.iam

# --- principals ------------------------------------------------------------------

# anyone holds when "*" names the caller: every authenticated principal, and
# anonymous callers when the embedding application enabled them.
anyone if input.principal

anyone if data.berth.config.allow_anonymous == true

# named(ps) reports whether the principal list ps names the caller by "*" or
# by one of its ARNs (user, group, role).
named(ps) if {
	ps.any == true
	anyone
}

named(ps) if {
	some arn in input.principalArns
	ps.arns[arn]
}

# named_account(ps) reports whether ps names the caller's account
# (arn:aws:iam::<account>:root).
named_account(ps) if {
	input.principal
	ps.accounts[input.account]
}

# principal_allows(s): an Allow statement grants the caller. Identity
# policy statements need no principal. In resource-based policies, naming
# the account only delegates to identity policies, as in IAM: it grants
# nothing by itself.
principal_allows(s) if s.identity == true

principal_allows(s) if {
	s.principal.any == true
	anyone
}

principal_allows(s) if {
	some arn in input.principalArns
	s.principal.arns[arn]
}

principal_allows(s) if {
	np := s.not_principal
	anyone
	not named(np)
	not named_account(np)
}

# principal_denies(s): a Deny statement applies to the caller. Naming the
# account denies everyone in it.
principal_denies(s) if s.identity == true

principal_denies(s) if {
	s.principal.any == true
	anyone
}

principal_denies(s) if {
	some arn in input.principalArns
	s.principal.arns[arn]
}

principal_denies(s) if named_account(s.principal)

principal_denies(s) if {
	np := s.not_principal
	not named(np)
	not named_account(np)
}

# --- statements ------------------------------------------------------------------

# applies(s) reports whether statement s covers the request's resource and
# its conditions hold. Its action was checked when it was selected; its
# principal is checked separately.
applies(s) if s.simple == true

applies(s) if {
	s.simple == false
	resource_ok(s)
	conditions_hold(s)
}

# conditions_hold(s) reports whether every condition of s holds.
conditions_hold(s) if {
	every c in s.conditions {
		cond_ok(c.op, c)
	}
}

resource_ok(s) if s.resource.any == true

resource_ok(s) if in_set(s.resource, input.resource)

resource_ok(s) if {
	nr := s.not_resource
	not in_set(nr, input.resource)
}

# --- patterns --------------------------------------------------------------------

# in_set(ps, s) reports whether s matches the compiled pattern set ps:
# {"any": true, "exact": {s: true}, "prefix": [...], "glob": [...],
# "arnglob": [...], "tmpl": [...]}, members omitted when empty.
in_set(ps, _) if ps.any == true

in_set(ps, s) if ps.exact[s]

in_set(ps, s) if {
	some p in ps.prefix
	startswith(s, p)
}

in_set(ps, s) if {
	some p in ps.glob
	glob.match(p, null, s)
}

in_set(ps, s) if {
	some p in ps.arnglob
	glob.match(p, [":"], s)
}

in_set(ps, s) if {
	some t in ps.tmpl
	tmpl_match(t, s)
}

# tmpl_match(t, s) matches s against a pattern with policy variables.
tmpl_match(t, s) if {
	t.k == "glob"
	glob.match(expand(t.parts, true), null, s)
}

tmpl_match(t, s) if {
	t.k == "arnglob"
	glob.match(expand(t.parts, true), [":"], s)
}

tmpl_match(t, s) if {
	t.k == "equal"
	s == expand(t.parts, false)
}

tmpl_match(t, s) if {
	t.k == "iequal"
	s == lower(expand(t.parts, false))
}

# expand(parts, quote) substitutes policy variables: parts are literal
# strings and {"var": key} objects naming a context key. It is undefined when
# a variable has no value. With quote, values are glob-quoted so that they
# never act as wildcards.
expand(parts, quote) := concat("", out) if {
	out := [x | some part in parts; x := part_text(part, quote)]
	count(out) == count(parts)
}

part_text(part, _) := part if is_string(part)

part_text(part, false) := str(input.context[part.var]) if is_object(part)

part_text(part, true) := glob.quote_meta(str(input.context[part.var])) if is_object(part)

str(v) := v if is_string(v)

str(v) := sprintf("%v", [v]) if not is_string(v)

# --- conditions ------------------------------------------------------------------
# A compiled condition is {"op", "neg", "key", "vals", "absent"} (plus
# "present" for Null); cond_ok takes its op as first argument so that OPA's
# rule index picks the bodies for that operator. Context keys are
# single-valued. Several policy values are ORed; a negated operator holds
# when none matches. Values of the wrong type (a non-number for a Numeric
# operator, ...) match nothing.

# A key absent from the request context: "absent" holds the result, which
# IAM defines as false for positive operators and true for negated ones,
# ...IfExists, ForAllValues and Null "true".
cond_ok(_, c) if {
	c.absent == true
	not input.context[c.key]
}

# Null "false" holds for any present key.
cond_ok("null", c) if {
	input.context[c.key]
	c.present == true
}

cond_ok("match", c) if {
	v := input.context[c.key]
	c.neg == false
	in_set(c.vals[0], str(v))
}

cond_ok("match", c) if {
	v := input.context[c.key]
	c.neg == true
	not in_set(c.vals[0], str(v))
}

cond_ok("imatch", c) if {
	v := input.context[c.key]
	c.neg == false
	in_set(c.vals[0], lower(str(v)))
}

cond_ok("imatch", c) if {
	v := input.context[c.key]
	c.neg == true
	not in_set(c.vals[0], lower(str(v)))
}

# berth.ip_in(cidrs, v) is a Go builtin, equivalent to
# count(net.cidr_contains_matches(cidrs, v)) > 0 with false for errors,
# that spares the parsing and result sets of OPA's builtin.
cond_ok("ip", c) if {
	v := input.context[c.key]
	berth.ip_in(c.vals, v) != c.neg
}

cond_ok("bool", c) if {
	v := input.context[c.key]
	lower(str(v)) in c.vals
}

cond_ok("num_eq", c) if {
	v := input.context[c.key]
	num_in(c.vals, v) != c.neg
}

cond_ok("num_lt", c) if {
	n := to_number(input.context[c.key])
	some x in c.vals
	n < x
}

cond_ok("num_le", c) if {
	n := to_number(input.context[c.key])
	some x in c.vals
	n <= x
}

cond_ok("num_gt", c) if {
	n := to_number(input.context[c.key])
	some x in c.vals
	n > x
}

cond_ok("num_ge", c) if {
	n := to_number(input.context[c.key])
	some x in c.vals
	n >= x
}

cond_ok("date_eq", c) if {
	v := input.context[c.key]
	date_in(c.vals, v) != c.neg
}

cond_ok("date_lt", c) if {
	t := date_ns(input.context[c.key])
	some x in c.vals
	t < x
}

cond_ok("date_le", c) if {
	t := date_ns(input.context[c.key])
	some x in c.vals
	t <= x
}

cond_ok("date_gt", c) if {
	t := date_ns(input.context[c.key])
	some x in c.vals
	t > x
}

cond_ok("date_ge", c) if {
	t := date_ns(input.context[c.key])
	some x in c.vals
	t >= x
}

default num_in(_, _) := false

num_in(vals, v) if to_number(v) in vals

default date_in(_, _) := false

date_in(vals, v) if date_ns(v) in vals

# date_ns converts epoch seconds or an RFC 3339 string to nanoseconds.
date_ns(v) := v * 1000000000 if is_number(v)

date_ns(v) := time.parse_rfc3339_ns(v) if is_string(v)
