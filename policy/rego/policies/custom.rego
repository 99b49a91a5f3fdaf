# METADATA
# title: Custom rule placeholders
# description: |
#   Custom modules add rules to this package (see the Go package
#   documentation). These never-matching definitions make deny and allow
#   always defined, so that berth.authz need not consult the data store
#   when there are no custom modules.
package berth.custom

deny contains r if {
	some r in []
}

allow contains r if {
	some r in []
}
