package regogate_test

import data.regogate

test_deny_by_default if {
	d := regogate.decision with input as {"identity": {"sub": "x"}, "statement": {"verb": "SELECT"}}
	not d.allow
	d.deny == [`no policy allows identity "x" to run SELECT`]
	d.ttl == 30
	d.approval.required == false
}

test_empty_input_still_decides if {
	d := regogate.decision with input as {}
	not d.allow
	count(d.deny) == 1
}

test_allow_rule_allows if {
	d := regogate.decision with data.regogate.rules as {"always": {"allow": true, "deny": set()}}
	d.allow
	d.rules == ["always"]
}

test_deny_wins if {
	rules := {"a": {"allow": true, "deny": set()}, "b": {"allow": false, "deny": {"nope"}}}
	d := regogate.decision with data.regogate.rules as rules
	not d.allow
	d.deny == ["nope"]
}
