# METADATA
# title: Custom deny rules
# description: |
#   Any reason in data.berth.custom.deny denies the request. The Authorizer
#   compiles this module in when a custom module defines that set.
package berth.authz

deny contains sprintf("denied by custom rule: %v", [r]) if {
	some r in data.berth.custom.deny
}
