# METADATA
# title: Custom allow rules
# description: |
#   A reason in data.berth.custom.allow allows the request, like a statement
#   that allows, unless something denies it. The Authorizer compiles this
#   module in when a custom module defines that set.
package berth.authz

allow contains sprintf("allowed by custom rule: %v", [r]) if {
	some r in data.berth.custom.allow
}
