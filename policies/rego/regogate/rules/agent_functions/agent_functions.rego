# METADATA
# title: Agents call built-in read-only functions, and an allowlist
# description: >-
#   Identities in an agent group (config groups.agents: mcp-agents) may call the
#   functions that are part of PostgreSQL (statement.function_info builtin) and are
#   immutable or stable and not SECURITY DEFINER, plus those in config
#   functions.agent_allowed (schema-qualified names). Any other function is denied with
#   a reason naming it: user-defined and extension functions, functions the gateway does
#   not know, and volatile built-ins, which count as writes (agents never write).
#   Functions refused by name (dangerous_functions), as classified (classified_catalog)
#   or as unknown (uncertain_names) get their reason there, not a second one here.
# custom:
#   id: agent_functions
package regogate.rules.agent_functions

import data.regogate.config
import data.regogate.lib

id := lib.annotated_id(rego.metadata.chain())

# Most statements call no function: then nothing below is computed.
deny contains sprintf("agents may not call %s: %s", [f, why]) if {
	input.statement.functions[_]
	"agents" in lib.roles
	some f in input.statement.functions
	not config.functions.agent_allowed[f]
	info := lib.function_info(f)
	not callable(info)
	not refused_elsewhere(f, info)
	why := refusal(info)
}

callable(info) if {
	info.known == true
	info.builtin == true
	read_only(info)
	info.security_definer == false
}

# Two clauses rather than `info.volatility in {...}`: no set to build, and `not
# read_only(info)` holds when volatility is missing (`not info.volatility in {...}` would not).
read_only(info) if info.volatility == "immutable"

read_only(info) if info.volatility == "stable"

refused_elsewhere(f, _) if lib.dangerous_calls[f]

refused_elsewhere(f, _) if {
	lib.masked
	config.catalog.functions[lib.function_names[f]]
}

refused_elsewhere(_, info) if {
	lib.masked
	not info.known == true
}

refusal(info) := "the gateway does not know this function, so what it does cannot be checked; schema-qualify it, or reconnect if it was just created" if {
	not info.known == true
} else := "it is not part of PostgreSQL (a user-defined or extension function); agents may call built-in functions and those in config functions.agent_allowed" if {
	not info.builtin == true
} else := "it is volatile, so it may change data or the session, and agents never write; if it only reads, add it to config functions.agent_allowed" if {
	not read_only(info)
} else := "it runs with its owner's rights (SECURITY DEFINER)"
