package regogate.rules.pii_equality_filter_test

import data.regogate.rules.pii_equality_filter
import data.regogate.testing

hashed := object.union(object.remove(data.regogate.config.pii.columns, ["public.customers.ssn"]), {"public.customers.ssn": {"method": "hash"}})

enabled := {"groups": ["analysts", "mcp-agents"]}

by_ssn(inp, equality) := object.union(inp, {"statement": {"columns": {
	"filtered": ["public.customers.ssn"],
	"filtered_equality": equality,
}}})

test_id_comes_from_metadata if pii_equality_filter.id == "pii_equality_filter"

test_off_by_default if {
	count(pii_equality_filter.deny) == 0 with input as by_ssn(testing.analyst("select_by_ssn"), [])
		with data.regogate.config.pii.columns as hashed
}

test_equality_on_a_hashed_column_is_allowed if {
	every inp in [testing.analyst("select_by_ssn"), testing.agent("select_by_ssn")] {
		d := testing.decide(by_ssn(inp, ["public.customers.ssn"])) with data.regogate.config.pii.columns as hashed
			with data.regogate.config.pii.equality_filter as enabled
		d.allow
		d.mask["public.customers.ssn"] == {"method": "hash"}
	}
}

test_other_filters_are_denied if {
	reason := "filtering on the PII column public.customers.ssn is allowed for this identity only by equality (= or IN with constants or parameters) on a hash-masked column"

	# LIKE, <, functions over it...: not in filtered_equality
	testing.denied_with(by_ssn(testing.analyst("select_by_ssn"), []), reason) with data.regogate.config.pii.columns as hashed
		with data.regogate.config.pii.equality_filter as enabled

	# equality, but the column's mask is not hash
	testing.denied_with(by_ssn(testing.analyst("select_by_ssn"), ["public.customers.ssn"]), reason) with data.regogate.config.pii.equality_filter as enabled
}

test_unmasked_identities_are_not_concerned if {
	count(pii_equality_filter.deny) == 0 with input as by_ssn(testing.dba("select_by_ssn"), [])
		with data.regogate.config.pii.columns as hashed
		with data.regogate.config.pii.equality_filter as {"groups": ["dba"]}
}
