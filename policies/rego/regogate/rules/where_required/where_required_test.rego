package regogate.rules.where_required_test

import data.regogate.rules.where_required
import data.regogate.testing

test_id_comes_from_metadata if where_required.id == "where_required"

no_where(verb, table) := sprintf("%s without a WHERE clause is not allowed (it would affect every row of %s)", [verb, table])

test_update_and_delete_without_where_are_denied_for_everyone if {
	every inp in [testing.dba("delete_accounts_no_where"), testing.analyst("delete_accounts_no_where"), testing.agent("delete_accounts_no_where")] {
		testing.denied_with(inp, no_where("DELETE", "public.accounts"))
	}
	testing.denied_with(testing.dba("update_accounts_no_where"), no_where("UPDATE", "public.accounts"))
	testing.denied_with(testing.bench_dba("update_accounts_no_where"), no_where("UPDATE", "public.accounts"))
}

test_delete_in_a_cte_without_where_is_denied if {
	testing.denied_with(testing.dba("cte_delete_no_where"), no_where("DELETE", "public.transactions"))
}

test_upsert_without_where_is_denied_with_a_hint if {
	reason := concat("", [no_where("UPDATE", "public.accounts"), "; in INSERT ... ON CONFLICT DO UPDATE add a WHERE to the DO UPDATE"])
	testing.denied_with(testing.dba("upsert_account"), reason)
}

test_where_true_is_denied if {
	reason := "DELETE whose WHERE clause references no column of public.transactions is not allowed (a condition such as WHERE true affects every row)"
	testing.denied_with(testing.dba("delete_transactions_where_true"), reason)
}

test_targeted_writes_pass if {
	every name in ["update_transaction", "delete_transaction", "merge_accounts", "insert_transaction"] {
		count(where_required.deny) == 0 with input as testing.dba(name)
	}
	count(where_required.deny) == 0 with input as testing.bench_dba("bench_update_accounts")
}

test_reads_without_where_pass if {
	count(where_required.deny) == 0 with input as testing.analyst("select_customers")
}
