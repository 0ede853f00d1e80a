# Inputs and a decision helper for the rule tests: the demo identities (static tokens)
# with a statement from statements_test.rego or live_statements_test.rego, shaped as the
# gateway sends them.
package regogate.testing

identity(sub, groups) := {
	"sub": sub,
	"email": null,
	"groups": groups,
	"issuer": "regogate:static",
	"auth": "token",
	"expires_at": null,
	"client": {"addr": "127.0.0.1", "application_name": "psql"},
}

input_for(sub, groups, name, database) := {
	"identity": identity(sub, groups),
	"connection": {"name": database, "database": database},
	"statement": fixtures[name],
}

fixtures := object.union(statements, live_statements)

# The session-start decision (verb CONNECT) with the startup parameters the client sent.
connect(sub, groups, startup_settings) := {
	"identity": identity(sub, groups),
	"connection": {"name": "bank", "database": "bank", "startup_settings": startup_settings},
	"statement": {
		"verb": "CONNECT", "verbs": ["CONNECT"], "tables": [],
		"columns": {"read": [], "written": [], "filtered": []},
		"functions": [], "function_info": {}, "settings": [],
		"flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false},
		"fingerprint": "",
	},
}

analyst(name) := input_for("analyst", ["analysts"], name, "bank")

agent(name) := input_for("agent", ["mcp-agents"], name, "bank")

dba(name) := input_for("dba", ["dba"], name, "bank")

bench_dba(name) := input_for("dba", ["dba"], name, "bench")

stranger(name) := input_for("mallory", ["contractors"], name, "bank")

decide(policy_input) := d if {
	d := data.regogate.decision with input as policy_input
}

# Allowed as is: no deny, no approval, no mask.
plain_allow(policy_input) if {
	d := decide(policy_input)
	d.allow
	d.deny == []
	d.approval.required == false
	d.mask == {}
}

denied_with(policy_input, reason) if {
	d := decide(policy_input)
	not d.allow
	reason in d.deny
}
