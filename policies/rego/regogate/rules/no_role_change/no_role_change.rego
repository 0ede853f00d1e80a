# METADATA
# title: Nobody changes the session's role
# description: >-
#   The role regogate connects with upstream must not be escapable: setting the protected
#   settings (config statements.protected_settings: role, session_authorization) by SET,
#   RESET, SET LOCAL, set_config or ALTER ... SET, and DISCARD ALL (which runs SET SESSION
#   AUTHORIZATION DEFAULT), are denied for everyone.
# custom:
#   id: no_role_change
package regogate.rules.no_role_change

import data.regogate.config
import data.regogate.lib

id := lib.annotated_id(rego.metadata.chain())

deny contains sprintf("changing the session's %s is not allowed (%s): the upstream role of %q cannot be changed", [s, how, lib.sub]) if {
	some s in input.statement.settings
	s in config.statements.protected_settings
}

# set_config() inside a query, else the statement's verb (SET, RESET, ALTER ROLE...).
how := "set_config" if {
	not lib.verb in {"SET", "RESET"}
	some f in input.statement.functions
	lib.function_name(f) == "set_config"
} else := lib.verb

deny contains sprintf("%s is not allowed: it resets the session authorization", [v]) if {
	some v in lib.verbs
	v in config.statements.session_reset_verbs
}
