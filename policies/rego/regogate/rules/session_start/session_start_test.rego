package regogate.rules.session_start_test

import data.regogate.rules.session_start
import data.regogate.testing

test_id_comes_from_metadata if session_start.id == "session_start"

psql := ["application_name", "client_encoding"]

jdbc := ["application_name", "client_encoding", "datestyle", "extra_float_digits", "timezone"]

test_known_identities_start_sessions if {
	testing.plain_allow(testing.connect("agent", ["mcp-agents"], psql))
	testing.plain_allow(testing.connect("analyst", ["analysts"], jdbc))
	testing.plain_allow(testing.connect("dba", ["dba"], []))
	testing.plain_allow(testing.connect("agent", ["mcp-agents"], ["search_path", "statement_timeout"]))
}

test_unknown_identities_do_not if {
	d := testing.decide(testing.connect("mallory", ["contractors"], psql))
	not d.allow
	d.rules == ["unknown_identity"]
}

test_role_changes_at_startup_are_refused if {
	testing.denied_with(
		testing.connect("agent", ["mcp-agents"], ["application_name", "role"]),
		"the startup setting role is not allowed: it would change the session's role before any statement is checked",
	)
	testing.denied_with(
		testing.connect("dba", ["dba"], ["session_authorization"]),
		"the startup setting session_authorization is not allowed: it would change the session's session_authorization before any statement is checked",
	)

	# Not what the gateway sends (it lower-cases), but PostgreSQL would take it as role.
	testing.denied_with(
		testing.connect("dba", ["dba"], ["Role"]),
		"the startup setting Role is not allowed: it would change the session's role before any statement is checked",
	)
}

test_only_the_session_start_is_decided_here if {
	not session_start.allow with input as testing.agent("select_1")
	inp := json.patch(testing.agent("select_1"), [{"op": "add", "path": "/connection/startup_settings", "value": ["role"]}])
	count(session_start.deny) == 0 with input as inp
}
