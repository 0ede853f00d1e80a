package regogate.rules.dangerous_functions_test

import data.regogate.config
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
	testing.denied_with(testing.analyst("set_config_role"), `changing the session's role is not allowed (set_config): the upstream role of "analyst" cannot be changed`)
	testing.plain_allow(testing.analyst("set_config_search_path"))
}

test_matching_ignores_the_schema if {
	inp := json.patch(testing.agent("select_1"), [{"op": "replace", "path": "/statement/functions", "value": ["evil.pg_read_file", "x.dblink_connect_u", `"odd.schema".pg_reload_conf`]}])
	dangerous_functions.deny == {
		"calling evil.pg_read_file is not allowed: it reads, lists or writes files on the database server",
		"calling x.dblink_connect_u is not allowed: it connects to another database server",
		`calling "odd.schema".pg_reload_conf is not allowed: it signals other sessions or controls the server`,
	} with input as inp
}

test_a_quoted_name_is_its_own_name if {
	# public."x.pg_notify" is a function named x.pg_notify, not pg_notify.
	count(dangerous_functions.calls) == 0 with input as testing.agent("pg_notify_dotted_name")

	# "x.y".pg_notify is pg_notify, wherever it lives.
	dangerous_functions.calls == {[`"x.y".pg_notify`, "notification"]} with input as testing.agent("pg_notify_dotted_schema")
}

test_ordinary_functions_are_fine if {
	count(dangerous_functions.calls) == 0 with input as testing.agent("select_row_to_json")
	count(dangerous_functions.calls) == 0 with input as testing.agent("psql_d_customers_3")
}

notify := "sends a notification to other sessions (NOTIFY, which readers may not run either)"

locks := "takes or releases an advisory lock, which can block other sessions (readers take no locks)"

stats_reset := "resets the server's activity statistics"

large_objects := "reads or writes large objects, data that no column mask covers"

dynamic_sql := "runs SQL handed to it as text, which cannot be analysed"

# fixture -> [function as the input names it, category description]: refused for every
# identity outside the privileged groups, and allowed for them.
refused_by_name := {
	"pg_notify": ["pg_catalog.pg_notify", notify],
	"pg_notify_qualified": ["pg_catalog.pg_notify", notify],
	"pg_notify_upper": ["pg_catalog.pg_notify", notify],
	"pg_notify_dotted_schema": [`"x.y".pg_notify`, notify],
	"pg_advisory_lock": ["pg_catalog.pg_advisory_lock", locks],
	"pg_try_advisory_xact_lock": ["pg_catalog.pg_try_advisory_xact_lock", locks],
	"pg_stat_reset": ["pg_catalog.pg_stat_reset", stats_reset],
	"pg_stat_statements_reset": ["public.pg_stat_statements_reset", stats_reset],
}

test_notifications_locks_and_statistics_resets_are_refused_outside_privileged_groups if {
	every name, call in refused_by_name {
		[f, what] := call
		reason := sprintf("calling %s is not allowed: it %s", [f, what])
		testing.denied_with(testing.agent(name), reason)
		testing.denied_with(testing.analyst(name), reason)
		count(dangerous_functions.deny) == 0 with input as testing.dba(name)
		count(dangerous_functions.approval) == 0 with input as testing.dba(name)
	}
}

# fixture -> [function, category description]: refused for agents only.
refused_for_agents := {
	"lo_open": ["pg_catalog.lo_open", large_objects],
	"loread": ["pg_catalog.loread", large_objects],
	"function_call_lo_open": ["pg_catalog.lo_open", large_objects],
	"set_config_work_mem": ["pg_catalog.set_config", "changes a run-time setting from inside a query (agents change settings with SET only)"],
	"cursor_to_xml": ["pg_catalog.cursor_to_xml", dynamic_sql],
	"database_to_xml": ["pg_catalog.database_to_xml", dynamic_sql],
	"query_to_xml": ["pg_catalog.query_to_xml", dynamic_sql],
}

test_agent_categories_are_refused_for_agents_only if {
	every name, call in refused_for_agents {
		[f, what] := call
		testing.denied_with(testing.agent(name), sprintf("calling %s is not allowed for agents: it %s", [f, what]))
		count(dangerous_functions.deny) == 0 with input as testing.analyst(name)
		count(dangerous_functions.approval) == 0 with input as testing.dba(name)
	}
}

test_one_reason_per_function_for_agents if {
	# lo_import is a server file (for everyone) before it is a large object (for agents).
	dangerous_functions.deny == {"calling pg_catalog.lo_import is not allowed: it reads, lists or writes files on the database server"} with input as testing.agent("lo_import")
}

test_an_agent_in_a_privileged_group_is_refused_not_asked if {
	inp := json.patch(testing.agent("pg_read_file"), [{"op": "replace", "path": "/identity/groups", "value": ["mcp-agents", "dba"]}])
	dangerous_functions.deny == {"calling pg_catalog.pg_read_file is not allowed: it reads, lists or writes files on the database server"} with input as inp
	count(dangerous_functions.approval) == 0 with input as inp
	lo := json.patch(testing.agent("lo_open"), [{"op": "replace", "path": "/identity/groups", "value": ["mcp-agents", "dba"]}])
	dangerous_functions.deny == {"calling pg_catalog.lo_open is not allowed for agents: it reads or writes large objects, data that no column mask covers"} with input as lo
}

test_a_category_without_who_is_for_everyone if {
	dangerous_functions.deny == {"calling pg_catalog.lower is not allowed: it does odd things"} with input as testing.analyst("lower_memo")
		with data.regogate.config.functions.dangerous as {"odd": {"what": "does odd things"}}
		with data.regogate.config.functions.dangerous_names as {"lower": "odd"}
}

test_an_exact_name_comes_before_a_prefix if {
	# lo_import is a server file (for everyone) before it is a large object (for agents).
	dangerous_functions.calls == {["pg_catalog.lo_import", "server_files"]} with input as testing.agent("lo_import")
	dangerous_functions.calls == {["pg_catalog.lo_open", "large_objects"]} with input as testing.agent("lo_open")
}

test_overlapping_prefixes_pick_one_category if {
	prefixes := {"pg_": "server_control", "pg_ls_": "server_files"}
	dangerous_functions.calls == {["pg_catalog.pg_ls_dir", "server_control"]} with input as testing.agent("pg_ls_dir")
		with data.regogate.config.functions.dangerous_names as {}
		with data.regogate.config.functions.dangerous_prefixes as prefixes
}

# A name or prefix in a category that does not exist would never be refused.
test_the_configuration_is_consistent if {
	every _, key in object.union(config.functions.dangerous_names, config.functions.dangerous_prefixes) {
		config.functions.dangerous[key].what
	}
	every _, category in config.functions.dangerous {
		well_formed(category)
	}
}

well_formed(category) if {
	category.who == "agents"
	not category.privileged
}

well_formed(category) if {
	category.who == "everyone"
	category.privileged in {"approval", "allow"}
}
