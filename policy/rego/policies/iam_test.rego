package berth.iam_test

import data.berth.iam

alice := {
	"principal": {"id": "u-1", "name": "alice", "groups": ["dev"]},
	"principalArns": ["arn:aws:iam::000000000000:user/alice", "arn:aws:iam::000000000000:group/dev"],
	"account": "000000000000",
	"action": "ecr:BatchGetImage",
	"resource": "arn:aws:ecr:local:000000000000:repository/team/app",
	"context": {
		"aws:username": "alice",
		"aws:sourceip": "10.1.2.3",
		"aws:currenttime": "2025-06-01T12:00:00Z",
		"aws:epochtime": 1748779200,
		"aws:principaltag/team": "platform",
	},
}

anonymous := object.union(
	object.remove(alice, ["principal", "context"]),
	{"principalArns": [], "context": {"aws:currenttime": "2025-06-01T12:00:00Z"}},
)

# --- patterns -------------------------------------------------------------------

test_in_set_kinds if {
	iam.in_set({"any": true}, "anything")
	iam.in_set({"exact": {"ecr:putimage": true}}, "ecr:putimage")
	not iam.in_set({"exact": {"ecr:putimage": true}}, "ecr:putimagex")
	iam.in_set({"prefix": ["ecr:batch"]}, "ecr:batchgetimage")
	not iam.in_set({"prefix": ["ecr:batch"]}, "ecr:putimage")
	iam.in_set({"glob": ["ecr:get*layer"]}, "ecr:getdownloadurlforlayer")
	iam.in_set({"glob": ["ecr:?utimage"]}, "ecr:putimage")
	not iam.in_set({"glob": ["ecr:?utimage"]}, "ecr:pputimage")
	not iam.in_set({}, "ecr:putimage")
	iam.in_set({"exact": {"a": true}, "prefix": ["x", "ecr:"]}, "ecr:putimage")
}

test_glob_escapes_are_literal if {
	iam.in_set({"glob": [`a\[b\]*`]}, "a[b]c")
	not iam.in_set({"glob": [`a\[b\]*`]}, "abc")
}

test_arn_wildcards_stay_in_segment if {
	iam.in_set({"arnglob": ["arn:aws:iam::*:user/*"]}, "arn:aws:iam::000000000000:user/alice")
	not iam.in_set({"arnglob": ["arn:aws:iam::*:user/*"]}, "arn:aws:iam::000000000000:role/x:user/y")
	not iam.in_set({"arnglob": ["arn:aws:iam::*"]}, "arn:aws:iam::000000000000:user/alice")
}

user_namespace := {"tmpl": [{"k": "glob", "parts": ["arn:aws:ecr:*:*:repository/", {"var": "aws:username"}, "/*"]}]}

test_templates if {
	iam.in_set(user_namespace, "arn:aws:ecr:local:000000000000:repository/alice/app") with input as alice
	not iam.in_set(user_namespace, "arn:aws:ecr:local:000000000000:repository/bob/app") with input as alice
	iam.in_set({"tmpl": [{"k": "equal", "parts": ["team-", {"var": "aws:principaltag/team"}]}]}, "team-platform") with input as alice
	iam.in_set({"tmpl": [{"k": "iequal", "parts": ["TEAM-", {"var": "aws:principaltag/team"}]}]}, "team-platform") with input as alice
	iam.in_set({"tmpl": [{"k": "arnglob", "parts": ["arn:aws:iam::*:user/", {"var": "aws:username"}]}]}, "arn:aws:iam::0:user/alice") with input as alice
}

test_template_with_missing_variable_matches_nothing if {
	not iam.in_set({"tmpl": [{"k": "glob", "parts": ["x/", {"var": "aws:username"}]}]}, "x/") with input as anonymous
	not iam.in_set({"tmpl": [{"k": "glob", "parts": ["*", {"var": "aws:username"}]}]}, "x") with input as anonymous
}

test_template_values_are_quoted if {
	inp := json.patch(alice, [{"op": "replace", "path": "/context/aws:username", "value": "*"}])
	not iam.in_set({"tmpl": [{"k": "glob", "parts": ["repo/", {"var": "aws:username"}]}]}, "repo/anything") with input as inp
	iam.in_set({"tmpl": [{"k": "glob", "parts": ["repo/", {"var": "aws:username"}]}]}, "repo/*") with input as inp
}

# --- principals ---------------------------------------------------------------------

test_named_by_arn_and_group if {
	iam.named({"any": false, "arns": {"arn:aws:iam::000000000000:user/alice": true}, "accounts": {}}) with input as alice
	iam.named({"any": false, "arns": {"arn:aws:iam::000000000000:group/dev": true}, "accounts": {}}) with input as alice
	not iam.named({"any": false, "arns": {"arn:aws:iam::000000000000:user/bob": true}, "accounts": {}}) with input as alice
}

test_star_names_authenticated_only_unless_anonymous_enabled if {
	star := {"any": true, "arns": {}, "accounts": {}}
	iam.named(star) with input as alice
	not iam.named(star) with input as anonymous
	iam.named(star) with input as anonymous with data.berth.config.allow_anonymous as true
}

test_account_principal_delegates_allow_but_applies_deny if {
	s := {"principal": {"any": false, "arns": {}, "accounts": {"000000000000": true}}}
	not iam.principal_allows(s) with input as alice
	iam.principal_denies(s) with input as alice
}

test_not_principal if {
	s := {"not_principal": {"any": false, "arns": {"arn:aws:iam::000000000000:user/bob": true}, "accounts": {}}}
	iam.principal_allows(s) with input as alice
	iam.principal_denies(s) with input as alice
	t := {"not_principal": {"any": false, "arns": {"arn:aws:iam::000000000000:user/alice": true}, "accounts": {}}}
	not iam.principal_allows(t) with input as alice
	not iam.principal_denies(t) with input as alice
}

# --- statements --------------------------------------------------------------------

statement(extra) := object.union(
	{
		"resource": {"exact": {"arn:aws:ecr:local:000000000000:repository/team/app": true}},
		"conditions": [],
		"simple": false,
	},
	extra,
)

test_applies if {
	iam.applies(statement({})) with input as alice
	not iam.applies(statement({})) with input as object.union(alice, {"resource": "arn:aws:ecr:local:000000000000:repository/other"})
}

test_simple_statement_skips_resource_and_conditions if {
	s := statement({"simple": true, "resource": {}, "conditions": [cond("match", "aws:nokey", [{"any": true}], {})]})
	iam.applies(s) with input as alice
	not iam.applies(object.union(s, {"simple": false})) with input as alice
}

test_identity_statements_need_no_principal if {
	iam.principal_allows({"identity": true}) with input as alice
	iam.principal_denies({"identity": true}) with input as alice
	not iam.principal_allows({"identity": false}) with input as alice
}

test_not_resource if {
	s := object.remove(statement({"not_resource": {"prefix": ["arn:aws:ecr:local:000000000000:repository/prod/"]}}), ["resource"])
	iam.applies(s) with input as alice
	not iam.applies(s) with input as object.union(alice, {"resource": "arn:aws:ecr:local:000000000000:repository/prod/x"})
}

# --- conditions --------------------------------------------------------------------

cond(op, key, vals, extra) := object.union({"op": op, "neg": false, "key": key, "vals": vals, "absent": false}, extra)

test_string_equals if {
	iam.cond_ok("match", cond("match", "aws:username", [{"exact": {"bob": true, "alice": true}}], {})) with input as alice
	not iam.cond_ok("match", cond("match", "aws:username", [{"exact": {"bob": true}}], {})) with input as alice
	not iam.cond_ok("match", cond("match", "aws:username", [{"exact": {"alice": true}}], {"neg": true})) with input as alice
	iam.cond_ok("match", cond("match", "aws:username", [{"exact": {"bob": true}}], {"neg": true})) with input as alice
	iam.cond_ok("imatch", cond("imatch", "aws:username", [{"exact": {"alice": true}}], {})) with input as object.union(alice, {"context": {"aws:username": "ALICE"}})
}

test_string_like if {
	iam.cond_ok("match", cond("match", "aws:username", [{"prefix": ["al"]}], {})) with input as alice
	iam.cond_ok("match", cond("match", "aws:username", [{"glob": ["a?ice"]}], {})) with input as alice
	iam.cond_ok("match", cond("match", "aws:username", [{"prefix": ["bo"]}], {"neg": true})) with input as alice
}

test_absent_key if {
	not iam.cond_ok("match", cond("match", "aws:nokey", [{"exact": {"x": true}}], {})) with input as alice
	iam.cond_ok("match", cond("match", "aws:nokey", [{"exact": {"x": true}}], {"absent": true})) with input as alice

	# A present key ignores "absent".
	not iam.cond_ok("match", cond("match", "aws:username", [{"exact": {"bob": true}}], {"absent": true})) with input as alice
}

test_null if {
	iam.cond_ok("null", cond("null", "aws:nokey", [], {"absent": true, "present": false})) with input as alice
	not iam.cond_ok("null", cond("null", "aws:username", [], {"absent": true, "present": false})) with input as alice
	iam.cond_ok("null", cond("null", "aws:username", [], {"absent": false, "present": true})) with input as alice
	not iam.cond_ok("null", cond("null", "aws:nokey", [], {"absent": false, "present": true})) with input as alice
}

test_ip_address if {
	iam.cond_ok("ip", cond("ip", "aws:sourceip", ["10.0.0.0/8"], {})) with input as alice
	not iam.cond_ok("ip", cond("ip", "aws:sourceip", ["192.168.0.0/16"], {})) with input as alice
	iam.cond_ok("ip", cond("ip", "aws:sourceip", ["192.168.0.0/16"], {"neg": true})) with input as alice
	not iam.cond_ok("ip", cond("ip", "aws:sourceip", ["192.168.0.0/16", "10.1.2.3/32"], {"neg": true})) with input as alice
}

test_dates if {
	# 2025-06-01T12:00:00Z
	now := 1748779200000000000
	iam.cond_ok("date_lt", cond("date_lt", "aws:currenttime", [now + 1], {})) with input as alice
	not iam.cond_ok("date_lt", cond("date_lt", "aws:currenttime", [now], {})) with input as alice
	iam.cond_ok("date_ge", cond("date_ge", "aws:currenttime", [now], {})) with input as alice
	iam.cond_ok("date_gt", cond("date_gt", "aws:epochtime", [now - 1], {})) with input as alice
	iam.cond_ok("date_eq", cond("date_eq", "aws:currenttime", [now + 1], {"neg": true})) with input as alice
	iam.cond_ok("date_eq", cond("date_eq", "aws:currenttime", [now], {})) with input as alice
}

test_numbers_and_bools if {
	iam.cond_ok("num_gt", cond("num_gt", "aws:epochtime", [1000], {})) with input as alice
	not iam.cond_ok("num_lt", cond("num_lt", "aws:epochtime", [1000], {})) with input as alice
	iam.cond_ok("num_eq", cond("num_eq", "aws:epochtime", [1, 1748779200], {})) with input as alice
	iam.cond_ok("num_eq", cond("num_eq", "berth:n", [10], {})) with input as object.union(alice, {"context": {"berth:n": "10"}})
	iam.cond_ok("bool", cond("bool", "aws:securetransport", ["true"], {})) with input as object.union(alice, {"context": {"aws:securetransport": "true"}})
	iam.cond_ok("bool", cond("bool", "aws:securetransport", ["false"], {})) with input as object.union(alice, {"context": {"aws:securetransport": "FALSE"}})
}

test_wrong_type_is_no_match if {
	not iam.cond_ok("num_gt", cond("num_gt", "aws:username", [1], {})) with input as alice
	iam.cond_ok("num_eq", cond("num_eq", "aws:username", [1], {"neg": true})) with input as alice
	iam.cond_ok("ip", cond("ip", "aws:username", ["10.0.0.0/8"], {"neg": true})) with input as alice
	not iam.cond_ok("ip", cond("ip", "aws:username", ["10.0.0.0/8"], {})) with input as alice
}

test_conditions_are_anded if {
	s := statement({"conditions": [
		cond("match", "aws:username", [{"exact": {"alice": true}}], {}),
		cond("ip", "aws:sourceip", ["192.168.0.0/16"], {}),
	]})
	not iam.applies(s) with input as alice
	t := statement({"conditions": [
		cond("match", "aws:username", [{"exact": {"alice": true}}], {}),
		cond("ip", "aws:sourceip", ["10.0.0.0/8"], {}),
	]})
	iam.applies(t) with input as alice
}
