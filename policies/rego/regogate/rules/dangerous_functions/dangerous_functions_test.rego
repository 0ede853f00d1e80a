package regogate.rules.dangerous_functions_test

import data.regogate.rules.dangerous_functions
import data.regogate.testing

test_id_comes_from_metadata if dangerous_functions.id == "dangerous_functions"

files := "reads, lists or writes files on the database server"

remote := "connects to another database server"

control := "signals other sessions or controls the server"

hidden := "changes data from inside a query (large objects, sequences)"

# fixture -> [function as the input names it, category description]
calls := {
	"pg_read_file": ["pg_catalog.pg_read_file", files],
	"pg_read_binary_file": ["pg_catalog.pg_read_binary_file", files],
	"pg_ls_dir": ["pg_catalog.pg_ls_dir", files],
	"pg_stat_file": ["pg_catalog.pg_stat_file", files],
	"lo_import": ["pg_catalog.lo_import", files],
	"lo_export": ["pg_catalog.lo_export", files],
	"function_call_lo_import": ["pg_catalog.lo_import", files],
	"dblink": ["public.dblink", remote],
	"dblink_exec": ["public.dblink_exec", remote],
	"pg_terminate_backend": ["pg_catalog.pg_terminate_backend", control],
	"pg_cancel_backend": ["pg_catalog.pg_cancel_backend", control],
	"pg_reload_conf": ["pg_catalog.pg_reload_conf", control],
	"pg_rotate_logfile": ["pg_catalog.pg_rotate_logfile", control],
	"lo_from_bytea": ["pg_catalog.lo_from_bytea", hidden],
	"setval": ["pg_catalog.setval", hidden],
	"nextval": ["pg_catalog.nextval", hidden],
}

test_each_category_is_denied_for_agents_and_analysts if {
	every name, call in calls {
		[f, what] := call
		reason := sprintf("calling %s is not allowed: it %s", [f, what])
		testing.denied_with(testing.agent(name), reason)
		testing.denied_with(testing.analyst(name), reason)
	}
}

test_dba_needs_approval_except_for_hidden_writes if {
	every name, call in calls {
		[f, what] := call
		dba_outcome(name, f, what)
	}
}

dba_outcome(name, _, what) if {
	what == hidden
	testing.plain_allow(testing.dba(name))
}

dba_outcome(name, f, what) if {
	what != hidden
	d := testing.decide(testing.dba(name))
	d.allow
	contains(d.approval.reason, sprintf("calling %s needs approval: it %s", [f, what]))
}

test_set_config_of_the_role_is_refused if {
	testing.denied_with(testing.agent("set_config_role"), `changing the session's role is not allowed (set_config): the upstream role of "agent" cannot be changed`)
	testing.denied_with(testing.agent("set_config_session_authorization"), `changing the session's session_authorization is not allowed (set_config): the upstream role of "agent" cannot be changed`)
	testing.plain_allow(testing.agent("set_config_search_path"))
}

test_matching_ignores_the_schema if {
	inp := json.patch(testing.agent("select_1"), [{"op": "replace", "path": "/statement/functions", "value": ["evil.pg_read_file", "x.dblink_connect_u"]}])
	count(dangerous_functions.deny) == 2 with input as inp
}

test_ordinary_functions_are_fine if {
	count(dangerous_functions.calls) == 0 with input as testing.agent("select_row_to_json")
	count(dangerous_functions.calls) == 0 with input as testing.agent("function_call_lo_open")
}
