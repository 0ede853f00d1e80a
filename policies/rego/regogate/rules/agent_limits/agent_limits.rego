# METADATA
# title: Agents cannot hold the database
# description: >-
#   An agent session (config groups.agents: mcp-agents) starts with the timeouts of config
#   limits.agent_session_settings (statement_timeout 30s, idle_in_transaction_session_timeout
#   60s, lock_timeout 5s): the CONNECT decision's session_settings, which the gateway SETs
#   before the client's first statement. Agents may not change them: SET, SET LOCAL,
#   RESET, set_config or ALTER ... SET of one of them is denied, and so are RESET ALL and
#   DISCARD ALL (settings "all"), which would return them to the role's defaults. A call of
#   pg_sleep, pg_sleep_for or pg_sleep_until that sleeps longer than config
#   limits.agent_max_sleep_seconds (5), or for a time the gateway cannot read
#   (statement.sleep_seconds null), is denied.
# custom:
#   id: agent_limits
package regogate.rules.agent_limits

import data.regogate.config
import data.regogate.lib

id := lib.annotated_id(rego.metadata.chain())

# verb is tested on the input itself so that OPA's rule index skips this rule for every
# statement but CONNECT.
session_settings := config.limits.agent_session_settings if {
	input.statement.verb == "CONNECT"
	"agents" in lib.roles
}

deny contains sprintf("agents may not change %s (%s): the gateway holds it at %s in agent sessions", [name, lib.verb, value]) if {
	"agents" in lib.roles
	some name in input.statement.settings
	value := config.limits.agent_session_settings[name]
}

deny contains sprintf("agents may not run %s: it would reset %s, which the gateway holds in agent sessions", [lib.verb, held]) if {
	"all" in input.statement.settings
	"agents" in lib.roles
	held := lib.listing(object.keys(config.limits.agent_session_settings))
}

deny contains sprintf("agents may not sleep for more than %v s (this statement sleeps %v s)", [config.limits.agent_max_sleep_seconds, seconds]) if {
	seconds := input.statement.sleep_seconds
	is_number(seconds)
	seconds > config.limits.agent_max_sleep_seconds
	"agents" in lib.roles
}

deny contains sprintf("agents may sleep only for a constant time of at most %v s (pg_sleep(5), pg_sleep_for('2 seconds')); the gateway cannot tell how long this statement sleeps", [config.limits.agent_max_sleep_seconds]) if {
	input.statement.sleep_seconds == null
	"agents" in lib.roles
}
