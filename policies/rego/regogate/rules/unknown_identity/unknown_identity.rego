# METADATA
# title: Unknown identities are denied
# description: >-
#   An identity that is in none of the groups named in data.regogate.config.groups may
#   run nothing. This is a deny, not just the absence of an allow, so a permissive rule
#   added later cannot let an unknown identity through by accident.
# custom:
#   id: unknown_identity
package regogate.rules.unknown_identity

import data.regogate.lib

id := lib.annotated_id(rego.metadata.chain())

deny contains msg if {
	count(lib.roles) == 0
	msg := sprintf(
		"identity %q is not in any group this policy knows (its groups: %s); every statement is denied",
		[lib.sub, lib.listing(lib.groups)],
	)
}
