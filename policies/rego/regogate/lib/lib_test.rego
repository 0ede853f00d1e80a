package regogate.lib_test

import data.regogate.lib
import data.regogate.testing

test_groups_and_membership if {
	inp := testing.agent("select_1")
	lib.groups == {"mcp-agents"} with input as inp
	lib.reader with input as inp
	lib.agent with input as inp
	not lib.writer with input as inp
	not lib.privileged with input as inp
	lib.known_identity with input as inp
}

test_known_groups_come_from_config if {
	lib.known_groups == {"analysts", "mcp-agents", "dba"}
}

test_missing_identity_is_unknown if {
	lib.sub == "unknown" with input as {}
	lib.groups == set() with input as {}
	not lib.known_identity with input as {}
}

test_verbs_include_the_top_verb if {
	lib.verbs == {"SELECT", "DELETE"} with input as {"statement": {"verb": "SELECT", "verbs": ["DELETE"]}}
	lib.verbs == {"UNKNOWN"} with input as {}
}

test_qident_quotes_only_when_needed if {
	lib.qident("customers") == "customers"
	lib.qident("a.b") == `"a.b"`
	lib.qident(`a"b`) == `"a""b"`
}

test_table_keys_match_column_keys if {
	inp := {"statement": {"tables": [
		{"schema": "public", "name": "customers", "access": ["read", "write"], "kind": "table"},
		{"schema": "odd.schema", "name": "t", "access": ["ddl"], "kind": "table"},
	]}}
	lib.read_tables == {"public.customers"} with input as inp
	lib.written_tables == {"public.customers"} with input as inp
	lib.ddl_tables == {`"odd.schema".t`} with input as inp
	lib.ddl with input as inp
	lib.column_of("public.customers.ssn", "public.customers")
	not lib.column_of("public.customers_x.ssn", "public.customers")
}

test_flags if {
	lib.ddl with input as testing.dba("create_table")
	lib.opaque with input as testing.dba("do_block")
	lib.multi_statement with input as testing.dba("multi_select_then_drop")
	not lib.opaque with input as testing.dba("select_1")
}

test_function_name_drops_the_schema if {
	lib.function_name("pg_catalog.pg_read_file") == "pg_read_file"
	lib.function_name("unknown") == "unknown"
}

test_function_name_unquotes if {
	lib.function_name(`"odd.schema".pg_notify`) == "pg_notify"
	lib.function_name(`public."x.pg_notify"`) == "x.pg_notify"
	lib.function_name(`"a.b"."c.d"`) == "c.d"
	lib.function_name(`public."say ""hi"""`) == `say "hi"`
	lib.function_name(`public."a""b"`) == `a"b`
	lib.function_name("public.PG_NOTIFY") == "PG_NOTIFY"
}

test_function_info_defaults_to_unknown if {
	inp := testing.agent("lower_memo")
	lib.function_info("pg_catalog.lower").builtin with input as inp
	lib.function_info("public.nothing") == lib.unknown_function with input as inp
	lib.function_info("pg_catalog.lower") == lib.unknown_function with input as json.remove(inp, ["/statement/function_info"])
}

test_masked_means_outside_the_unmasked_groups if {
	lib.masked with input as testing.agent("select_1")
	lib.masked with input as testing.analyst("select_1")
	lib.masked with input as testing.stranger("select_1")
	not lib.masked with input as testing.dba("select_1")
}

test_listing if {
	lib.listing({"b", "a"}) == "a, b"
	lib.listing(set()) == "none"
}

test_approval_uses_configured_approvers if {
	lib.approval("why") == {"approvers": ["group:approvers"], "reason": "why"}
}

test_roles_are_the_configured_groups_the_identity_is_in if {
	lib.roles == {"readers", "agents"} with input as testing.agent("select_1")
	lib.roles == {"writers", "privileged", "unmasked", "pii_filter"} with input as testing.dba("select_1")
	lib.roles == set() with input as testing.stranger("select_1")
	lib.roles == set() with input as {}
	lib.member_of(["x", "mcp-agents"]) with input as testing.agent("select_1")
	not lib.member_of(["dba"]) with input as testing.agent("select_1")
	lib.config == data.regogate.config
	lib.writer with input as testing.dba("select_1")
	lib.privileged with input as testing.dba("select_1")
}

test_columns_default_to_none if {
	lib.columns("written") == [] with input as {}
	lib.columns("read") == ["public.customers.created_at", "public.customers.id"] with input as testing.agent("select_customer_ids")
	lib.read_columns == [] with input as {}
	lib.written_columns == [] with input as {}
	lib.filtered_columns == [] with input as {}
	lib.filtered_columns == ["public.customers.id"] with input as testing.agent("select_customer_ids")
}

test_writes_or_alters_a_table if {
	lib.writes_or_alters_a_table with input as testing.dba("update_account")
	lib.writes_or_alters_a_table with input as testing.dba("drop_table")
	not lib.writes_or_alters_a_table with input as testing.dba("select_customers")
	lib.tables_with("write") == {"public.accounts"} with input as testing.dba("update_account")
}

test_annotated_id_is_the_first_custom_id_along_the_chain if {
	rule := {"path": ["regogate", "rules", "x", "id"]}
	pkg := {"path": ["regogate", "rules", "x"], "annotations": {"custom": {"id": "from-package"}}}
	lib.annotated_id([rule, pkg]) == "from-package"
	lib.annotated_id([{"path": ["p"], "annotations": {"custom": {"id": "own"}}}, pkg]) == "own"
	lib.annotated_id([rule, {"path": ["regogate", "rules"]}, pkg]) == "from-package"
	not lib.annotated_id([rule, {"path": ["regogate", "rules"]}])
}
