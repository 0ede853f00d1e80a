# METADATA
# title: Sessions start for known identities, without changing the role
# description: >-
#   The session-start decision (statement.verb CONNECT) is allowed for every identity in
#   a configured group. A startup setting (connection.startup_settings) that is a
#   protected setting (config statements.protected_settings: role, session_authorization)
#   would change the upstream role before any statement is checked: it is denied for
#   everyone (the gateway's own startup allowlist refuses it too; this holds if that list
#   grows). Unknown identities are denied by unknown_identity.
# custom:
#   id: session_start
package regogate.rules.session_start

import data.regogate.config
import data.regogate.lib

id := lib.annotated_id(rego.metadata.chain())

# verb is tested on the input itself so that OPA's rule index skips this package for
# every statement but CONNECT.
allow if {
	input.statement.verb == "CONNECT"
	count(lib.roles) > 0
}

# The gateway sends the names in lower case; lower() keeps a hand-made input honest
# (PostgreSQL's setting names are case-insensitive: -c ROLE=x sets role).
deny contains sprintf("the startup setting %s is not allowed: it would change the session's %s before any statement is checked", [name, setting]) if {
	input.statement.verb == "CONNECT"
	some name in input.connection.startup_settings
	setting := lower(name)
	setting in config.statements.protected_settings
}
