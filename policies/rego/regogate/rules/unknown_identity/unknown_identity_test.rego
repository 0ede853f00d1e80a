package regogate.rules.unknown_identity_test

import data.regogate.rules.unknown_identity
import data.regogate.testing

test_id_comes_from_metadata if unknown_identity.id == "unknown_identity"

test_unknown_group_is_denied if {
	reason := `identity "mallory" is not in any group this policy knows (its groups: contractors); every statement is denied`
	testing.denied_with(testing.stranger("select_1"), reason)
	d := testing.decide(testing.stranger("select_1"))
	d.rules == ["unknown_identity"]
}

test_identity_without_groups_is_denied if {
	inp := object.union(testing.stranger("select_1"), {"identity": {"groups": []}})
	testing.denied_with(inp, `identity "mallory" is not in any group this policy knows (its groups: none); every statement is denied`)
}

test_known_identities_are_not_denied_by_this_rule if {
	count(unknown_identity.deny) == 0 with input as testing.analyst("select_1")
	count(unknown_identity.deny) == 0 with input as testing.agent("select_1")
	count(unknown_identity.deny) == 0 with input as testing.dba("select_1")
}

test_unknown_identity_cannot_be_allowed_by_another_rule if {
	d := testing.decide(testing.stranger("select_1")) with data.regogate.rules.extra as {"allow": true}
	not d.allow
}
