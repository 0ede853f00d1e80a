# METADATA
# title: Dangerous functions are denied, or need approval for privileged groups
# description: >-
#   Calls of the functions listed in data.regogate.config.functions.dangerous (server
#   files, remote connections, server control, writes hidden in a query), matched by the
#   function's own name in any schema, are denied for everyone outside the privileged
#   groups (config groups.privileged: dba). For privileged groups a category with
#   "privileged": "approval" requires approval, "allow" lets the call run. Role changes
#   through set_config are refused by no_role_change.
# custom:
#   id: dangerous_functions
package regogate.rules.dangerous_functions

import data.regogate.config
import data.regogate.lib

id := lib.annotated_id(rego.metadata.chain())

# [function, category] for every dangerous function the statement calls.
calls contains [f, category] if {
	some f in input.statement.functions
	name := lib.function_name(f)
	some category in config.functions.dangerous
	matches(name, category)
}

matches(name, category) if name in category.names

matches(name, category) if {
	some prefix in category.prefixes
	startswith(name, prefix)
}

# Most statements call no function at all: then calls is not even computed.
deny contains sprintf("calling %s is not allowed: it %s", [f, category.what]) if {
	input.statement.functions[_]
	some [f, category] in calls
	not lib.privileged
}

approval contains lib.approval(sprintf("calling %s needs approval: it %s", [f, category.what])) if {
	input.statement.functions[_]
	some [f, category] in calls
	category.privileged != "allow"
	lib.privileged
}
