package regogate.rules.opaque_test

import data.regogate.rules.opaque
import data.regogate.testing

test_id_comes_from_metadata if opaque.id == "opaque"

reasons := {
	"do_block": "a DO block is not allowed: its procedural code cannot be analysed",
	"unparsable": "an unparsable statement is not allowed: it could not be parsed, so what it does is unknown",
	"copy_to_program": "COPY with a file or program on the database server is not allowed: it reaches outside the database",
	"copy_from_file": "COPY with a file or program on the database server is not allowed: it reaches outside the database",
	"function_call_lo_open": "a fast-path function call (pg_catalog.lo_open) is not allowed: FunctionCall messages cannot be analysed",
	"function_call_unknown": "a fast-path function call (unknown) is not allowed: FunctionCall messages cannot be analysed",
	"execute_unknown": "EXECUTE of SQL that cannot be analysed is not allowed: dynamic SQL, a computed setting name or an unknown prepared statement hides what runs (functions: none)",
	"query_to_xml": "SELECT of SQL that cannot be analysed is not allowed: dynamic SQL, a computed setting name or an unknown prepared statement hides what runs (functions: pg_catalog.query_to_xml)",
	"set_config_computed": "SELECT of SQL that cannot be analysed is not allowed: dynamic SQL, a computed setting name or an unknown prepared statement hides what runs (functions: pg_catalog.set_config)",
}

test_opaque_statements_are_denied_for_analysts_and_agents if {
	every name, reason in reasons {
		testing.denied_with(testing.analyst(name), reason)
		testing.denied_with(testing.agent(name), reason)
	}
}

test_opaque_statements_need_approval_for_dba if {
	every name, reason in reasons {
		d := testing.decide(testing.dba(name))
		d.allow
		d.approval.required
		d.approval.approvers == ["group:approvers"]
		contains(d.approval.reason, split(reason, " is not allowed: ")[0])
		"opaque" in d.rules
	}
}

test_dba_function_call_needs_approval if {
	d := testing.decide(testing.dba("function_call_lo_open"))
	d.approval.reason == "a fast-path function call (pg_catalog.lo_open) needs approval: FunctionCall messages cannot be analysed"
}

test_transparent_statements_are_not_touched if {
	count(opaque.deny) == 0 with input as testing.agent("select_1")
	count(opaque.approval) == 0 with input as testing.dba("select_1")
}

test_fetch_of_an_unknown_cursor_is_left_to_pii_mask if {
	inp := object.union(testing.dba("fetch"), {"statement": {"flags": {"opaque": true, "unknown_cursor": true}}})
	count(opaque.deny) == 0 with input as inp
	count(opaque.approval) == 0 with input as inp
	count(opaque.deny) == 0 with input as object.union(inp, {"identity": {"groups": ["analysts"]}})
}
