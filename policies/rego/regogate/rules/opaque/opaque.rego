# METADATA
# title: Opaque statements are denied, or need approval for privileged groups
# description: >-
#   A statement regogate cannot see into (flags.opaque: DO blocks, COPY with a server file
#   or program, dynamic-SQL functions such as dblink or query_to_xml, set_config with a
#   computed name, EXECUTE of an unknown prepared statement, unparsable text, fast-path
#   FunctionCall messages) is denied for everyone except the privileged groups (config
#   groups.privileged: dba), for whom it requires approval. A FETCH or MOVE of a cursor
#   the gateway did not see opened (flags.unknown_cursor: a refcursor a function opened)
#   is opaque only to masking: pii_mask denies it to identities whose reads are masked,
#   and this rule leaves it alone.
# custom:
#   id: opaque
package regogate.rules.opaque

import data.regogate.lib

id := lib.annotated_id(rego.metadata.chain())

# flags.opaque is tested on the input itself so that OPA's rule index skips both rules
# for the (usual) transparent statement without evaluating them.
deny contains sprintf("%s is not allowed: %s", [what, why]) if {
	input.statement.flags.opaque == true
	not unknown_cursor
	not lib.privileged
}

approval contains lib.approval(sprintf("%s needs approval: %s", [what, why])) if {
	input.statement.flags.opaque == true
	not unknown_cursor
	lib.privileged
}

unknown_cursor if input.statement.flags.unknown_cursor == true

functions := object.get(input, ["statement", "functions"], [])

what := "a DO block" if {
	lib.verb == "DO"
} else := "COPY with a file or program on the database server" if {
	lib.verb == "COPY"
} else := "an unparsable statement" if {
	lib.verb == "UNKNOWN"
} else := sprintf("a fast-path function call (%s)", [lib.listing(functions)]) if {
	lib.verb == "FUNCTION CALL"
} else := sprintf("%s of SQL that cannot be analysed", [lib.verb])

why := "its procedural code cannot be analysed" if {
	lib.verb == "DO"
} else := "it reaches outside the database" if {
	lib.verb == "COPY"
} else := "it could not be parsed, so what it does is unknown" if {
	lib.verb == "UNKNOWN"
} else := "FunctionCall messages cannot be analysed" if {
	lib.verb == "FUNCTION CALL"
} else := sprintf(
	"dynamic SQL, a computed setting name or an unknown prepared statement hides what runs (functions: %s)",
	[lib.listing(functions)],
)
