# METADATA
# title: Dangerous functions are denied, or need approval for privileged groups
# description: >-
#   Calls of the functions in config functions.dangerous_names and dangerous_prefixes,
#   matched by the function's own name in any schema, fall in a category of config
#   functions.dangerous. Categories for everyone (server files, remote
#   connections, server control, writes hidden in a query, notifications, advisory locks,
#   statistics resets) are denied outside the privileged groups (config groups.privileged:
#   dba); for privileged groups a category with "privileged": "approval" requires
#   approval, "allow" lets the call run. Categories for agents (large objects,
#   set_config, dynamic SQL) are denied for agents only. Agents are never offered
#   approval, even when also in a privileged group. Role changes through set_config are
#   refused by no_role_change.
# custom:
#   id: dangerous_functions
package regogate.rules.dangerous_functions

import data.regogate.config
import data.regogate.lib

id := lib.annotated_id(rego.metadata.chain())

# [function, category key] for every dangerous function the statement calls.
calls contains [f, key] if some f, key in lib.dangerous_calls

# Refused outright rather than sent for approval.
refused if not lib.privileged

refused if "agents" in lib.roles

# A category is for everyone unless its "who" is "agents": a missing or misspelt "who"
# refuses more, not less. Most statements call no function at all: then nothing below is
# computed.
deny contains sprintf("calling %s is not allowed: it %s", [f, category.what]) if {
	input.statement.functions[_]
	refused
	some f, key in lib.dangerous_calls
	category := config.functions.dangerous[key]
	not category.who == "agents"
}

deny contains sprintf("calling %s is not allowed for agents: it %s", [f, category.what]) if {
	input.statement.functions[_]
	"agents" in lib.roles
	some f, key in lib.dangerous_calls
	category := config.functions.dangerous[key]
	category.who == "agents"
}

approval contains lib.approval(sprintf("calling %s needs approval: it %s", [f, category.what])) if {
	input.statement.functions[_]
	not refused
	some f, key in lib.dangerous_calls
	category := config.functions.dangerous[key]
	not category.who == "agents"
	category.privileged != "allow"
}
