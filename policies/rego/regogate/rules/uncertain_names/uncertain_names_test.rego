package regogate.rules.uncertain_names_test

import data.regogate.rules.uncertain_names
import data.regogate.testing

test_id_comes_from_metadata if uncertain_names.id == "uncertain_names"

search_path := concat("", [
	"the session's search_path is not known to the gateway (it was changed in a way the gateway could not follow), ",
	"so it cannot tell which relations and functions the unqualified names in this statement refer to; ",
	"schema-qualify every name (public.customers, pg_catalog.lower), or reconnect to start with the default search_path",
])

uncertain(inp) := json.patch(inp, [{"op": "replace", "path": "/statement/flags/search_path_uncertain", "value": true}])

test_an_uncertain_search_path_is_refused_to_masked_identities if {
	testing.denied_with(uncertain(testing.agent("select_customer_ids")), search_path)
	testing.denied_with(uncertain(testing.analyst("select_transactions")), search_path)
	testing.plain_allow(uncertain(testing.dba("select_transactions")))
}

test_a_certain_search_path_is_fine if {
	testing.plain_allow(testing.analyst("select_transactions"))
	count(uncertain_names.deny) == 0 with input as testing.agent("psql_d")
}

relation(key) := sprintf("the catalog does not know the relation %s (even after looking again), so it cannot tell whether it holds classified data; check the name and schema-qualify it, or reconnect if it was just created", [key])

test_unknown_relations_read_or_written_are_refused if {
	testing.denied_with(testing.analyst("select_unknown_table"), relation("public.unknown_table"))
	testing.denied_with(testing.agent("select_unknown_table"), relation("public.unknown_table"))
	testing.denied_with(testing.agent("quoted_upper_pg_stats"), relation("public.PG_STATS"))
	uncertain_names.deny == {relation("public.nowhere")} with input as testing.analyst("insert_unknown_table")
	count(uncertain_names.deny) == 0 with input as testing.dba("insert_unknown_table")
}

test_unknown_relations_that_are_only_created_are_not_uncertain if {
	inp := json.patch(testing.analyst("create_table"), [{"op": "replace", "path": "/statement/tables/0/kind", "value": "unknown"}])
	count(uncertain_names.deny) == 0 with input as inp
}

function(f) := sprintf("the catalog does not know the function %s, so it cannot tell what it reads or does; check the name and schema-qualify it, or reconnect if it was just created", [f])

test_unknown_functions_are_refused if {
	every name, f in {
		"unknown_function": "public.no_such_function",
		"pg_temp_lower": "pg_temp.lower",
		"pg_notify_quoted_upper": "public.PG_NOTIFY",
		"pg_notify_dotted_name": `public."x.pg_notify"`,
	} {
		testing.denied_with(testing.agent(name), function(f))
		testing.denied_with(testing.analyst(name), function(f))
		count(uncertain_names.deny) == 0 with input as testing.dba(name)
	}
}

test_a_function_without_function_info_is_unknown if {
	inp := json.remove(testing.analyst("lower_memo"), ["/statement/function_info"])
	uncertain_names.deny == {function("pg_catalog.lower")} with input as inp
}

test_a_function_call_message_for_an_unknown_function if {
	testing.denied_with(testing.analyst("function_call_unknown"), "a FunctionCall message names a function the gateway does not know; call the function by name in a query instead")
}

test_known_functions_are_fine if {
	every name in ["lower_memo", "user_immutable_function", "shadow_now", "psql_d_customers_3"] {
		count(uncertain_names.deny) == 0 with input as testing.analyst(name)
	}
}

test_an_unknown_relation_in_a_subquery_is_refused if {
	testing.denied_with(testing.analyst("unknown_table_in_subquery"), relation("public.nowhere"))
}
