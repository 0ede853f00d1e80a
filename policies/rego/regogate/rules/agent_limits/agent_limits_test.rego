package regogate.rules.agent_limits_test

import data.regogate.rules.agent_limits
import data.regogate.testing

test_id_comes_from_metadata if agent_limits.id == "agent_limits"

limits := {
	"statement_timeout": "30s",
	"idle_in_transaction_session_timeout": "60s",
	"lock_timeout": "5s",
}

agent_connect := testing.connect("agent", ["mcp-agents"], [])

test_agent_sessions_get_the_timeouts if {
	agent_limits.session_settings == limits with input as agent_connect
	d := testing.decide(agent_connect)
	d.allow
	d.session_settings == limits
	"agent_limits" in d.rules
}

test_other_sessions_are_not_limited if {
	every who in [["analyst", ["analysts"]], ["dba", ["dba"]]] {
		d := testing.decide(testing.connect(who[0], who[1], []))
		d.allow
		d.session_settings == {}
	}
	not agent_limits.session_settings with input as testing.agent("select_transactions")
	testing.decide(testing.agent("select_transactions")).session_settings == {}
}

# The statement's settings as the gateway reports them.
changing(settings, verb) := json.patch(testing.agent("set_statement_timeout"), [
	{"op": "replace", "path": "/statement/settings", "value": settings},
	{"op": "replace", "path": "/statement/verb", "value": verb},
	{"op": "replace", "path": "/statement/verbs", "value": [verb]},
])

test_agents_may_not_change_the_timeouts if {
	# SET, SET LOCAL, SET ... TO DEFAULT, RESET, set_config: settings names the parameter.
	every name, value in limits {
		every verb in ["SET", "RESET", "SELECT"] {
			reason := sprintf("agents may not change %s (%s): the gateway holds it at %s in agent sessions", [name, verb, value])
			testing.denied_with(changing([name], verb), reason)
		}
	}
	testing.denied_with(testing.agent("set_statement_timeout"), "agents may not change statement_timeout (SET): the gateway holds it at 30s in agent sessions")
}

test_agents_may_not_reset_all if {
	held := "idle_in_transaction_session_timeout, lock_timeout, statement_timeout"
	testing.denied_with(testing.agent("reset_all"), sprintf("agents may not run RESET: it would reset %s, which the gateway holds in agent sessions", [held]))
	testing.denied_with(testing.agent("discard_all"), sprintf("agents may not run DISCARD ALL: it would reset %s, which the gateway holds in agent sessions", [held]))
}

test_agents_may_change_other_settings if {
	count(agent_limits.deny) == 0 with input as changing(["work_mem"], "SET")
	count(agent_limits.deny) == 0 with input as testing.agent("set_config_search_path")
}

test_others_may_change_the_timeouts if {
	count(agent_limits.deny) == 0 with input as testing.analyst("set_statement_timeout")
	count(agent_limits.deny) == 0 with input as testing.dba("reset_all")
	testing.plain_allow(testing.analyst("set_statement_timeout"))
}

sleeping(seconds) := json.patch(testing.agent("pg_sleep"), [{"op": "replace", "path": "/statement/sleep_seconds", "value": seconds}])

unknown_sleep := "agents may sleep only for a constant time of at most 5 s (pg_sleep(5), pg_sleep_for('2 seconds')); the gateway cannot tell how long this statement sleeps"

test_short_sleeps_are_allowed if {
	every seconds in [0, 0.1, 1, 5] {
		testing.plain_allow(sleeping(seconds))
	}
	testing.plain_allow(testing.agent("lateral_pg_sleep"))
}

test_long_or_unknown_sleeps_are_denied if {
	testing.denied_with(testing.agent("pg_sleep"), "agents may not sleep for more than 5 s (this statement sleeps 10 s)")
	testing.denied_with(sleeping(3600), "agents may not sleep for more than 5 s (this statement sleeps 3600 s)")
	testing.denied_with(sleeping(null), unknown_sleep)
}

test_the_bound_comes_from_data if {
	testing.plain_allow(testing.agent("pg_sleep")) with data.regogate.config.limits.agent_max_sleep_seconds as 10
	count(agent_limits.deny) == 1 with input as sleeping(0.5)
		with data.regogate.config.limits.agent_max_sleep_seconds as 0.25
}

test_others_may_sleep if {
	count(agent_limits.deny) == 0 with input as testing.analyst("pg_sleep")
	count(agent_limits.deny) == 0 with input as json.patch(testing.dba("pg_sleep"), [{"op": "replace", "path": "/statement/sleep_seconds", "value": null}])
}
