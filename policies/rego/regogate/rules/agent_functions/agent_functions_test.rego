package regogate.rules.agent_functions_test

import data.regogate.rules.agent_functions
import data.regogate.testing

test_id_comes_from_metadata if agent_functions.id == "agent_functions"

denied(name, reason) if testing.denied_with(testing.agent(name), reason)

# Every query psql 15 sends for \d, \dt, \d customers, \df, \dn, \l, \dt+, \l+ and \du
# (captured with psql -E, see live_statements_test.rego): stable and immutable built-ins
# and the allowlisted pg_partition_ancestors, pg_table_size and pg_database_size.
test_psql_meta_commands_work_for_agents_and_analysts if {
	psql := {name | some name, _ in testing.live_statements; startswith(name, "psql_")}
	count(psql) == 20
	every name in psql {
		testing.plain_allow(testing.agent(name))
		testing.plain_allow(testing.analyst(name))
	}
}

test_immutable_and_stable_builtins_are_fine if {
	every name in ["lower_memo", "now", "select_row_to_json", "bench_count_branches", "select_1"] {
		count(agent_functions.deny) == 0 with input as testing.agent(name)
	}
}

test_the_allowlist_admits_volatile_builtins if {
	every name in ["random", "pg_table_size", "pg_partition_ancestors", "psql_l_plus"] {
		count(agent_functions.deny) == 0 with input as testing.agent(name)
	}
}

volatile := "it is volatile, so it may change data or the session, and agents never write; if it only reads, add it to config functions.agent_allowed"

not_builtin := "it is not part of PostgreSQL (a user-defined or extension function); agents may call built-in functions and those in config functions.agent_allowed"

# pg_sleep is allowlisted (agent_limits bounds it): without the allowlist it is refused.
test_volatile_builtins_count_as_writes if {
	denied("pg_sleep", sprintf("agents may not call pg_catalog.pg_sleep: %s", [volatile])) with data.regogate.config.functions.agent_allowed as {}
}

test_pg_sleep_is_allowlisted if {
	count(agent_functions.deny) == 0 with input as testing.agent("pg_sleep")
	count(agent_functions.deny) == 0 with input as testing.agent("lateral_pg_sleep")
}

test_allowlisting_a_volatile_builtin_admits_it if {
	count(agent_functions.deny) == 0 with input as testing.agent("pg_sleep")
		with data.regogate.config.functions.agent_allowed as {"pg_catalog.pg_sleep": "for the test"}
	count(agent_functions.deny) == 1 with input as testing.agent("pg_sleep")
		with data.regogate.config.functions.agent_allowed as {}
}

test_user_defined_functions_are_refused_even_when_immutable if {
	denied("user_immutable_function", sprintf("agents may not call public.masked_email: %s", [not_builtin]))
	denied("security_definer_function", sprintf("agents may not call public.customer_count: %s", [not_builtin]))

	# Analysts are refused it too, by pii_mask: a user function may read classified data.
	not testing.decide(testing.analyst("user_immutable_function")).allow
}

test_the_allowlist_names_schema_qualified_functions if {
	allowed := {"public.masked_email": "for the test"}
	count(agent_functions.deny) == 0 with input as testing.agent("user_immutable_function")
		with data.regogate.config.functions.agent_allowed as allowed

	# An unqualified entry allows nothing.
	count(agent_functions.deny) == 1 with input as testing.agent("user_immutable_function")
		with data.regogate.config.functions.agent_allowed as {"masked_email": "for the test"}
}

test_a_builtin_shadowed_in_public_is_refused if {
	# SET search_path = public, pg_catalog; SELECT now() runs public.now().
	denied("shadow_now", sprintf("agents may not call public.now: %s", [not_builtin]))
}

# SELECT lower('A', 1) runs public.lower(text, int), an overload in another schema of the
# search_path, but the gateway resolves by name and reports pg_catalog.lower (a known gap,
# docs/policy-contract.md). Once it lists every schema that has the name, the user-defined
# one is refused.
test_an_overload_in_another_schema_is_refused if {
	info := testing.live_statements.user_immutable_function.function_info["public.masked_email"]
	inp := json.patch(testing.agent("lower_overload"), [
		{"op": "add", "path": "/statement/functions/-", "value": "public.lower"},
		{"op": "add", "path": "/statement/function_info/public.lower", "value": info},
	])
	agent_functions.deny == {sprintf("agents may not call public.lower: %s", [not_builtin])} with input as inp
}

test_a_security_definer_builtin_is_refused if {
	inp := json.patch(testing.agent("now"), [{"op": "replace", "path": "/statement/function_info/pg_catalog.now/security_definer", "value": true}])
	agent_functions.deny == {"agents may not call pg_catalog.now: it runs with its owner's rights (SECURITY DEFINER)"} with input as inp
}

test_one_reason_per_function if {
	# Refused by name (dangerous_functions), as classified (classified_catalog), or as
	# unknown (uncertain_names): no second reason here.
	every name in ["pg_notify", "lo_open", "set_config_work_mem", "pg_stat_get_activity", "lo_get", "pg_temp_lower", "unknown_function", "pg_notify_quoted_upper", "dblink_connect"] {
		count(agent_functions.deny) == 0 with input as testing.agent(name)
		not testing.plain_allow(testing.agent(name))
	}
}

test_unknown_functions_are_refused_here_for_an_unmasked_agent if {
	inp := json.patch(testing.agent("pg_temp_lower"), [{"op": "replace", "path": "/identity/groups", "value": ["mcp-agents", "dba"]}])
	agent_functions.deny == {"agents may not call pg_temp.lower: the gateway does not know this function, so what it does cannot be checked; schema-qualify it, or reconnect if it was just created"} with input as inp
}

test_no_function_info_fails_closed if {
	inp := json.remove(testing.agent("lower_memo"), ["/statement/function_info"])
	not testing.plain_allow(inp)
	unmasked := json.patch(inp, [{"op": "replace", "path": "/identity/groups", "value": ["mcp-agents", "dba"]}])
	count(agent_functions.deny) == 1 with input as unmasked
}

test_malformed_function_info_fails_closed if {
	inp := json.patch(testing.agent("now"), [{"op": "replace", "path": "/statement/function_info/pg_catalog.now", "value": {"known": true}}])
	agent_functions.deny == {sprintf("agents may not call pg_catalog.now: %s", [not_builtin])} with input as inp
	no_volatility := json.patch(testing.agent("now"), [{"op": "remove", "path": "/statement/function_info/pg_catalog.now/volatility"}])
	agent_functions.deny == {sprintf("agents may not call pg_catalog.now: %s", [volatile])} with input as no_volatility
}

test_rule_only_applies_to_agents if {
	count(agent_functions.deny) == 0 with input as testing.analyst("pg_sleep")
	count(agent_functions.deny) == 0 with input as testing.dba("shadow_now")
}

test_wrapping_the_call_changes_nothing if {
	notify := "calling pg_catalog.pg_notify is not allowed: it sends a notification to other sessions (NOTIFY, which readers may not run either)"
	denied("prepare_pg_notify", notify)
	denied("subquery_pg_notify", notify)
	denied("lateral_pg_sleep", sprintf("agents may not call pg_catalog.pg_sleep: %s", [volatile])) with data.regogate.config.functions.agent_allowed as {}
}
