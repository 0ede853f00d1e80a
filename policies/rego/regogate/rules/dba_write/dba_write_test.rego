package regogate.rules.dba_write_test

import data.regogate.rules.dba_write
import data.regogate.testing

test_id_comes_from_metadata if dba_write.id == "dba_write"

test_dba_may_read_and_write_without_approval if {
	every name in [
		"select_customers", "insert_transaction", "update_transaction", "delete_transaction",
		"copy_from_stdin", "vacuum", "call_procedure", "select_for_update",
		"explain_analyze_delete",
	] {
		testing.plain_allow(testing.dba(name))
	}
}

test_dba_sees_pii_unmasked if {
	d := testing.decide(testing.dba("select_customers"))
	d.mask == {}
}

test_bench_tpcb_and_select_only_need_no_approval_and_no_mask if {
	every name in [
		"bench_select_only", "bench_update_accounts", "bench_update_tellers",
		"bench_update_branches", "bench_insert_history", "bench_begin", "bench_end",
		"bench_count_branches",
	] {
		testing.plain_allow(testing.bench_dba(name))
		d := testing.decide(testing.bench_dba(name))
		d.rules == ["dba_write"]
	}
}

approval_for(name) := testing.decide(testing.dba(name)).approval

test_writes_to_accounts_need_dba_approval if {
	d := testing.decide(testing.dba("update_account"))
	d.allow
	d.approval == {"required": true, "approvers": ["group:approvers"], "reason": "writes to public.accounts need approval", "min_approvals": 1}
	d.rules == ["dba_write"]
}

test_merge_into_accounts_needs_approval if {
	approval_for("merge_accounts").reason == "writes to public.accounts need approval"
}

test_ddl_needs_dba_approval if {
	every name in ["create_table", "alter_table", "grant", "create_table_as", "select_into"] {
		d := testing.decide(testing.dba(name))
		d.allow
		d.approval.required
		d.approval.approvers == ["group:approvers"]
		contains(d.approval.reason, "DDL (")
	}
}

test_truncate_needs_approval if {
	approval_for("truncate_transactions").reason == "TRUNCATE TABLE needs approval"
}

test_approval_is_required_even_when_denied if {
	d := testing.decide(testing.dba("drop_table"))
	not d.allow
	d.approval.required
}

test_non_writers_get_nothing_from_this_rule if {
	not dba_write.allow with input as testing.analyst("insert_transaction")
	count(dba_write.approval) == 0 with input as testing.agent("update_account")
}
