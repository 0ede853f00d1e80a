# METADATA
# title: Names the gateway cannot resolve are denied to masked identities
# description: >-
#   When the gateway cannot know what a name refers to, it cannot know whether classified
#   data is behind it, so every identity whose reads are masked (outside config
#   groups.unmasked: analysts and agents) is denied: an unqualified name resolved while
#   the session's search_path was unknown (flags.search_path_uncertain), a relation the
#   catalog does not know (kind unknown) that is read or written, and a function the
#   catalog does not know (function_info known false, or no function_info at all). The
#   reason says what is uncertain and what to do: schema-qualify the name, or reconnect.
# custom:
#   id: uncertain_names
package regogate.rules.uncertain_names

import data.regogate.lib

id := lib.annotated_id(rego.metadata.chain())

deny contains concat("", [
	"the session's search_path is not known to the gateway (it was changed in a way the gateway could not follow), ",
	"so it cannot tell which relations and functions the unqualified names in this statement refer to; ",
	"schema-qualify every name (public.customers, pg_catalog.lower), or reconnect to start with the default search_path",
]) if {
	input.statement.flags.search_path_uncertain == true
	lib.masked
}

deny contains sprintf("the catalog does not know the relation %s (even after looking again), so it cannot tell whether it holds classified data; check the name and schema-qualify it, or reconnect if it was just created", [lib.table_key(t)]) if {
	some t in input.statement.tables
	t.kind == "unknown"
	some access in t.access
	access in {"read", "write"}
	lib.masked
}

# Most statements call no function: then nothing is looked at.
deny contains sprintf("the catalog does not know the function %s, so it cannot tell what it reads or does; check the name and schema-qualify it, or reconnect if it was just created", [f]) if {
	input.statement.functions[_]
	lib.masked
	some f in input.statement.functions
	f != "unknown"
	not input.statement.function_info[f].known == true
}

deny contains "a FunctionCall message names a function the gateway does not know; call the function by name in a query instead" if {
	"unknown" in input.statement.functions
	lib.masked
}
