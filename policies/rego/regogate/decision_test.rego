package regogate_test

import data.regogate
import data.regogate.testing

test_deny_by_default if {
	d := regogate.decision with input as {"identity": {"sub": "x"}, "statement": {"verb": "SELECT"}}
		with data.regogate.rules as {}
	not d.allow
	d.deny == [`no policy allows identity "x" to run SELECT`]
	d.ttl == 60
	d.approval == {"required": false, "approvers": [], "reason": null}
	d.mask == {}
	d.rules == []
	d.upstream_role == null
}

test_every_field_has_a_default if {
	d := regogate.decision with input as {}
	{k | some k, _ in d} == {"allow", "deny", "mask", "approval", "ttl", "rules", "upstream_role", "session_settings"}
}

test_empty_input_still_decides if {
	d := regogate.decision with input as {}
	not d.allow
	count(d.deny) > 0
}

test_empty_input_without_rules_gets_the_fallback_reason if {
	d := regogate.decision with input as {} with data.regogate.rules as {}
	d.deny == [`no policy allows identity "unknown" to run this statement`]
}

test_allow_rule_allows if {
	d := regogate.decision with data.regogate.rules as {"always": {"allow": true, "deny": set()}}
	d.allow
	d.deny == []
	d.rules == ["always"]
}

test_allow_must_be_true_not_truthy if {
	d := regogate.decision with data.regogate.rules as {"odd": {"allow": "yes"}}
	not d.allow
}

test_deny_wins if {
	rules := {"a": {"allow": true, "deny": set()}, "b": {"allow": false, "deny": {"nope"}}}
	d := regogate.decision with data.regogate.rules as rules
	not d.allow
	d.deny == ["nope"]
	d.rules == ["a", "b"]
}

test_deny_reasons_are_sorted_and_deduplicated if {
	rules := {"a": {"deny": {"zeta", "alpha"}}, "b": {"deny": ["alpha"]}}
	d := regogate.decision with data.regogate.rules as rules
	d.deny == ["alpha", "zeta"]
}

test_non_string_reason_is_shown_as_text if {
	d := regogate.decision with data.regogate.rules as {"a": {"deny": {42}}}
	d.deny == ["42"]
}

test_rule_ids_come_from_the_package_id if {
	rules := {"a": {"allow": true, "id": "custom-a"}, "b": {"allow": true, "id": 7}}
	d := regogate.decision with data.regogate.rules as rules
	d.rules == ["b", "custom-a"]
}

test_masks_are_merged if {
	rules := {
		"allow": {"allow": true},
		"m1": {"mask": {"t.a": {"method": "partial", "keep": 4}}},
		"m2": {"mask": {"t.b": {"method": "email"}}},
	}
	d := regogate.decision with data.regogate.rules as rules
	d.allow
	d.mask == {"t.a": {"method": "partial", "keep": 4}, "t.b": {"method": "email"}}
	d.rules == ["allow", "m1", "m2"]
}

test_conflicting_masks_become_null if {
	rules := {
		"allow": {"allow": true},
		"m1": {"mask": {"t.a": {"method": "partial", "keep": 4}}},
		"m2": {"mask": {"t.a": {"method": "hash"}}},
	}
	d := regogate.decision with data.regogate.rules as rules
	d.mask == {"t.a": {"method": "null"}}
}

test_unknown_mask_method_denies if {
	rules := {"allow": {"allow": true}, "m": {"mask": {"t.a": {"method": "scramble"}, "t.b": "redact"}}}
	d := regogate.decision with data.regogate.rules as rules
	not d.allow
	count(d.deny) == 2
	startswith(d.deny[0], "policy error: the mask of t.a is not an object with a known method")
}

test_approvals_are_merged if {
	rules := {
		"allow": {"allow": true},
		"a1": {"approval": {{"approvers": ["group:dba"], "reason": "b reason"}}},
		"a2": {"approval": [{"approvers": ["group:dba", "user:ciso"], "reason": "a reason"}, {"reason": 1}]},
	}
	d := regogate.decision with data.regogate.rules as rules
	d.allow
	d.approval == {"required": true, "approvers": ["group:dba", "user:ciso"], "reason": "a reason; b reason", "min_approvals": 1}
	d.rules == ["a1", "a2", "allow"]
}

test_the_most_approvers_asked_for_are_needed if {
	rules := {
		"allow": {"allow": true},
		"a1": {"approval": {{"approvers": ["group:approvers"], "reason": "x", "min_approvals": 2}}},
		"a2": {"approval": {{"approvers": ["group:approvers"], "reason": "y"}}},
	}
	d := regogate.decision with data.regogate.rules as rules
	d.approval.min_approvals == 2
}

test_ttl_is_the_smallest_contributed if {
	rules := {"allow": {"allow": true, "ttl": 5}, "b": {"ttl": 30}, "c": {"ttl": -1}, "d": {"ttl": "x"}}
	d := regogate.decision with data.regogate.rules as rules
	d.ttl == 5
}

test_ttl_is_capped_by_the_default if {
	d := regogate.decision with data.regogate.rules as {"allow": {"allow": true, "ttl": 600}}
	d.ttl == 60
}

# The default library end to end, one statement per identity.
test_library_read_for_analyst_is_masked if {
	d := testing.decide(testing.analyst("select_customers"))
	d.allow
	d.mask["public.customers.ssn"] == {"method": "partial", "keep": 4}
	d.rules == ["pii_mask", "read_only"]
	d.ttl == 60
}

test_library_decision_is_cacheable if {
	d := testing.decide(testing.bench_dba("bench_update_accounts"))
	d.ttl > 0
}

test_no_input_at_all_is_denied if {
	d := regogate.decision with data.regogate.rules as {}
	not d.allow
	d.deny == [`no policy allows identity "unknown" to run this statement`]
}

test_a_single_deny_value_still_denies if {
	rules := {"allow": {"allow": true}, "a": {"deny": "not like this"}, "b": {"deny": true}, "c": {"deny": false}}
	d := regogate.decision with data.regogate.rules as rules
	not d.allow
	d.deny == ["not like this", "rule b denies this statement (deny = true)"]
}

test_a_malformed_approval_still_requires_approval if {
	d := regogate.decision with data.regogate.rules as {"allow": {"allow": true}, "a": {"approval": {"dba please"}}}
	d.approval == {"required": true, "approvers": [], "reason": "dba please", "min_approvals": 1}
}

test_session_settings_are_merged if {
	rules := {
		"a": {"allow": true, "session_settings": {"statement_timeout": "1s"}},
		"b": {"session_settings": {"lock_timeout": "2s", "statement_timeout": "1s"}},
		"c": {"session_settings": {}},
	}
	d := regogate.decision with input as {} with data.regogate.rules as rules
	d.allow
	d.session_settings == {"statement_timeout": "1s", "lock_timeout": "2s"}
	d.rules == ["a", "b"]
}

test_session_settings_that_disagree_deny if {
	rules := {
		"a": {"allow": true, "session_settings": {"statement_timeout": "1s", "lock_timeout": "2s"}},
		"b": {"session_settings": {"statement_timeout": "9s"}},
		"c": {"session_settings": "30s"},
	}
	d := regogate.decision with input as {} with data.regogate.rules as rules
	not d.allow
	d.session_settings == {"lock_timeout": "2s"}
	"policy error: rules give the session setting statement_timeout different values (1s, 9s)" in d.deny
	"policy error: the session_settings of c are not an object of setting -> value" in d.deny
}
