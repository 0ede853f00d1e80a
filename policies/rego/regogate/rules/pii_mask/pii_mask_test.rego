package regogate.rules.pii_mask_test

import data.regogate.rules.pii_mask
import data.regogate.testing

test_id_comes_from_metadata if pii_mask.id == "pii_mask"

classification := data.regogate.config.pii.columns

customer_pii := {
	"public.customers.full_name", "public.customers.email", "public.customers.ssn",
	"public.customers.phone", "public.customers.date_of_birth",
}

test_pii_columns_read_are_masked_for_analyst_and_agent if {
	every inp in [testing.analyst("select_customers"), testing.agent("select_customers")] {
		d := testing.decide(inp)
		d.allow
		{c | some c, _ in d.mask} == customer_pii
		every c, spec in d.mask {
			spec == classification[c]
		}
	}
}

test_masks_come_from_the_classification_data if {
	extra := {"public.customers.created_at": {"method": "hash"}}
	d := testing.decide(testing.analyst("select_customers")) with data.regogate.config.pii.columns as extra
	d.mask["public.customers.created_at"] == {"method": "hash"}
	not d.mask["public.customers.id"]
}

test_account_number_is_masked if {
	d := testing.decide(testing.analyst("select_join_order_by_email"))
	d.allow
	d.mask == {
		"public.accounts.account_number": {"method": "partial", "keep": 4},
		"public.customers.email": {"method": "email"},
	}
}

test_masks_follow_views_whole_rows_and_copy if {
	testing.decide(testing.agent("select_contacts_view")).mask["public.customers.email"] == {"method": "email"}
	testing.decide(testing.agent("select_row_to_json")).mask["public.customers.ssn"] == {"method": "partial", "keep": 4}
	testing.decide(testing.agent("copy_to_stdout")).mask == {"public.customers.ssn": {"method": "partial", "keep": 4}}
	testing.decide(testing.agent("declare_cursor")).mask == {"public.customers.email": {"method": "email"}}
}

test_columns_that_are_not_pii_are_not_masked if {
	testing.plain_allow(testing.agent("select_customer_ids"))
}

test_dba_is_not_masked if {
	count(pii_mask.mask) == 0 with input as testing.dba("select_customers")
}

test_analyst_may_filter_on_pii if {
	d := testing.decide(testing.analyst("select_by_ssn"))
	d.allow

	# masked, though no result column is ssn: errors and notices of it are redacted
	d.mask == {"public.customers.ssn": {"method": "partial", "keep": 4}}
}

test_masked_identities_may_not_call_user_functions if {
	reason := "public.masked_email may read classified data that regogate cannot see in order to mask it: it is not part of PostgreSQL (a user-defined or extension function); identities whose reads are masked may call only built-in functions and those in config functions.masked_allowed"
	testing.denied_with(testing.analyst("user_immutable_function"), reason)
	count(pii_mask.deny) == 0 with input as testing.analyst("user_immutable_function")
		with data.regogate.config.functions.masked_allowed as {"public.masked_email": "reads nothing"}
	count(pii_mask.deny) == 0 with input as testing.dba("user_immutable_function")

	# agents get agent_functions' reason instead
	count(pii_mask.deny) == 0 with input as testing.agent("user_immutable_function")
}

test_agent_may_not_filter_on_pii if {
	testing.denied_with(testing.agent("select_by_ssn"), "filtering, joining or sorting on the PII column public.customers.ssn is not allowed for this identity: it would reveal masked values")
	testing.denied_with(testing.agent("select_join_order_by_email"), "filtering, joining or sorting on the PII column public.customers.email is not allowed for this identity: it would reveal masked values")
}

test_unknown_lineage_next_to_pii_is_denied if {
	reason := "the PII columns of public.customers cannot be masked because the columns behind public.unknown_table.* are unknown; the statement is denied rather than risk showing them"
	testing.denied_with(testing.analyst("select_unknown_join_customers"), reason)
	count(pii_mask.deny) == 0 with input as testing.dba("select_unknown_join_customers")
}

test_unknown_lineage_of_a_pii_table_is_denied if {
	inp := json.patch(testing.analyst("select_1"), [{"op": "replace", "path": "/statement/columns/read", "value": ["public.customers.*"]}])
	testing.denied_with(inp, "the PII columns of public.customers cannot be masked because the columns behind public.customers.* are unknown; the statement is denied rather than risk showing them")
}

# Not pii_mask's to deny; uncertain_names denies reading a relation the catalog does not know.
test_unknown_lineage_without_pii_is_not_a_pii_matter if {
	count(pii_mask.deny) == 0 with input as testing.analyst("select_unknown_table")
	d := testing.decide(testing.analyst("select_unknown_table"))
	d.rules == ["read_only", "uncertain_names"]
}

unknown_cursor(inp) := object.union(inp, {"statement": {"flags": {"opaque": true, "unknown_cursor": true}}})

test_fetch_of_an_unknown_cursor_is_denied_to_masked_identities if {
	reason := "this FETCH reads a cursor regogate did not see opened (a refcursor opened by a function, or one it forgot), so its rows cannot be masked; identities whose reads are masked may fetch only from cursors they DECLAREd through regogate"
	testing.denied_with(unknown_cursor(testing.analyst("fetch")), reason)
	testing.denied_with(unknown_cursor(testing.agent("fetch")), reason)
	count(pii_mask.deny) == 0 with input as unknown_cursor(testing.dba("fetch"))

	# a FETCH of a cursor the gateway saw declared is not a pii_mask matter
	count(pii_mask.deny) == 0 with input as testing.analyst("fetch")
}

test_fetch_of_an_unknown_cursor_is_allowed_unmasked_identities if {
	d := testing.decide(unknown_cursor(testing.dba("fetch")))
	d.allow
	d.mask == {}
	d.approval.required == false
}
