package regogate.rules.agent_restrictions_test

import data.regogate.rules.agent_restrictions
import data.regogate.testing

test_id_comes_from_metadata if agent_restrictions.id == "agent_restrictions"

denied(name, reason) if testing.denied_with(testing.agent(name), reason)

test_agent_may_not_write if {
	denied("insert_transaction", "agents may not modify public.transactions (INSERT)")
	denied("update_transaction", "agents may not modify public.transactions (UPDATE)")
	denied("delete_transaction", "agents may not modify public.transactions (DELETE)")
	denied("merge_accounts", "agents may not modify public.accounts (MERGE)")
	denied("copy_from_stdin", "agents may not modify public.transactions (COPY)")
	denied("truncate_transactions", "agents may not modify public.transactions (TRUNCATE TABLE)")
	denied("upsert_account", "agents may not modify public.accounts (INSERT)")
	denied("vacuum", "agents may not modify public.transactions (VACUUM)")
	denied("explain_analyze_delete", "agents may not modify public.transactions (EXPLAIN)")
	denied("cte_delete_no_where", "agents may not modify public.transactions (SELECT)")
}

test_agent_may_not_write_columns_of_unnamed_tables if {
	inp := json.patch(testing.agent("select_1"), [{"op": "replace", "path": "/statement/columns/written", "value": ["x.y.z"]}])
	testing.denied_with(inp, "agents may not write to x.y.z (SELECT)")
}

test_agent_may_not_run_ddl if {
	denied("create_table", "agents may not change the schema (CREATE TABLE)")
	denied("select_into", "agents may not change the schema (SELECT INTO)")
	denied("create_table_as", "agents may not change the schema (CREATE TABLE AS)")
	denied("alter_table", "agents may not change the schema (ALTER TABLE)")
	denied("grant", "agents may not change the schema (GRANT)")
	denied("drop_table", "agents may not change the schema (DROP TABLE)")
}

test_agent_may_not_lock_rows if {
	denied("select_for_update", "agents may not lock rows (SELECT FOR UPDATE)")
}

test_agent_may_not_escape_a_read_only_transaction if {
	denied("multi_commit_then_create", "agents may not end the transaction inside a multi-statement query (COMMIT)")
	denied("multi_create_after_commit", "agents may not change the schema (CREATE TABLE)")
	testing.plain_allow(testing.agent("commit"))
}

test_agent_may_only_run_reads if {
	denied("call_procedure", "agents may only run read-only statements, not CALL")
	denied("notify", "agents may only run read-only statements, not NOTIFY")
}

test_agent_opaque_role_and_functions_are_refused_by_the_global_rules if {
	denied("do_block", "a DO block is not allowed: its procedural code cannot be analysed")
	denied("set_role", `changing the session's role is not allowed (SET): the upstream role of "agent" cannot be changed`)
	denied("pg_read_file", "calling pg_catalog.pg_read_file is not allowed: it reads, lists or writes files on the database server")
	d := testing.decide(testing.agent("do_block"))
	d.deny == ["a DO block is not allowed: its procedural code cannot be analysed"]
}

test_rule_only_applies_to_agents if {
	count(agent_restrictions.deny) == 0 with input as testing.dba("insert_transaction")
	count(agent_restrictions.deny) == 0 with input as testing.analyst("insert_transaction")
}
