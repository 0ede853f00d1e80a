package regogate.rules.read_only_test

import data.regogate.rules.read_only
import data.regogate.testing

test_id_comes_from_metadata if read_only.id == "read_only"

reads := [
	"select_1", "select_transactions", "select_customer_ids", "show_search_path",
	"set_search_path", "begin", "begin_read_only",
	"commit", "rollback", "explain_select", "fetch", "multi_select_select",
	"lower_memo", "now", "random", "psql_d", "psql_dn", "psql_l",
]

test_analyst_and_agent_may_run_harmless_reads if {
	every name in reads {
		testing.plain_allow(testing.analyst(name))
		testing.plain_allow(testing.agent(name))
	}
}

# Agents may not change the timeouts agent_limits holds, nor RESET ALL.
test_analyst_may_set_and_reset_timeouts if {
	every name in ["set_statement_timeout", "reset_all"] {
		testing.plain_allow(testing.analyst(name))
		read_only.allow with input as testing.agent(name)
	}
}

# Agents change settings with SET only (dangerous_functions' settings category).
test_analyst_may_set_config_what_they_may_set if {
	testing.plain_allow(testing.analyst("set_config_search_path"))
	testing.denied_with(testing.agent("set_config_search_path"), "calling pg_catalog.set_config is not allowed for agents: it changes a run-time setting from inside a query (agents change settings with SET only)")
}

test_reads_of_pii_tables_are_allowed_with_masks if {
	every name in ["select_customers", "copy_to_stdout", "declare_cursor", "select_contacts_view"] {
		d := testing.decide(testing.agent(name))
		d.allow
		count(d.mask) > 0
	}
}

test_read_only_does_not_allow_writes if {
	every name in [
		"insert_transaction", "update_transaction", "delete_transaction", "copy_from_stdin",
		"truncate_transactions", "select_into", "create_table_as", "merge_accounts",
		"explain_analyze_delete", "select_for_update", "call_procedure", "notify", "vacuum",
		"do_block", "set_role", "discard_all", "multi_select_then_drop", "upsert_account",
	] {
		not read_only.allow with input as testing.analyst(name)
	}
}

test_analyst_write_is_denied_by_default if {
	testing.denied_with(testing.analyst("insert_transaction"), `no policy allows identity "analyst" to run INSERT`)
}

test_read_needs_explicit_flags if {
	inp := json.remove(testing.analyst("select_1"), ["statement/flags/opaque"])
	not read_only.allow with input as inp
}

test_dba_is_not_a_reader if {
	not read_only.allow with input as testing.dba("select_1")
}
