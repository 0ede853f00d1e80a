package regogate.rules.no_drop_test

import data.regogate.rules.no_drop
import data.regogate.testing

test_id_comes_from_metadata if no_drop.id == "no_drop"

test_drop_table_is_denied_for_everyone if {
	reason := "DROP TABLE is not allowed for anyone (public.customers)"
	testing.denied_with(testing.dba("drop_table"), reason)
	testing.denied_with(testing.analyst("drop_table"), reason)
	testing.denied_with(testing.agent("drop_table"), reason)
	testing.denied_with(testing.bench_dba("drop_table"), reason)
}

test_drop_inside_a_multi_statement_query_is_denied if {
	testing.denied_with(testing.dba("multi_select_then_drop"), "DROP TABLE is not allowed for anyone (public.customers)")
	testing.plain_allow(testing.dba("multi_select_then_drop_first"))
}

test_drop_schema_is_denied if {
	testing.denied_with(testing.dba("drop_schema"), "DROP SCHEMA is not allowed for anyone (audit.*)")
}

test_other_ddl_is_not_this_rules_business if {
	count(no_drop.deny) == 0 with input as testing.dba("create_table")
}
