# METADATA
# title: regogate decision entrypoint
# description: >-
#   The one decision regogate asks for (data.regogate.decision). Every field has a
#   default; anything not explicitly allowed is denied. Rule packages under
#   data.regogate.rules contribute allow, deny, mask, approval and ttl and are merged
#   here, so rules are added without editing this file (see docs/policy-contract.md).
# custom:
#   id: regogate.decision
package regogate

default_decision := {
	"allow": false,
	"deny": [],
	"mask": {},
	"approval": {"required": false, "approvers": [], "reason": null},
	"ttl": 60,
	"rules": [],
	"upstream_role": null,
}

mask_methods := {"redact", "null", "partial", "email", "hash"}

# The id of a rule package: its `id` (the custom.id of its METADATA), else its name.
rule_id(name) := id if {
	id := data.regogate.rules[name].id
	is_string(id)
} else := name

# -- what the rule packages contribute ----------------------------------------------------

allowed_by contains name if {
	some name
	data.regogate.rules[name].allow == true
}

# [rule name, reason]; a reason that is not a string is shown as JSON.
denials contains [name, text] if {
	some name
	some reason in data.regogate.rules[name].deny
	text := reason_text(reason)
}

# A deny that is a single value rather than a collection still denies (deny := "why").
denials contains [name, text] if {
	some name
	value := data.regogate.rules[name].deny
	not is_set(value)
	not is_array(value)
	value != false
	text := single_reason(name, value)
}

single_reason(name, value) := value if {
	is_string(value)
} else := sprintf("rule %s denies this statement (deny = %v)", [name, value])

reason_text(reason) := reason if {
	is_string(reason)
} else := sprintf("%v", [reason])

# [rule name, column, mask spec]
masks contains [name, column, spec] if {
	some name
	some column, spec in data.regogate.rules[name].mask
}

# [rule name, {"approvers": [...], "reason": "..."}]
approvals contains [name, requirement_of(value)] if {
	some name
	some value in data.regogate.rules[name].approval
}

# A malformed requirement still requires approval rather than being dropped.
requirement_of(value) := value if {
	is_object(value)
} else := {"reason": sprintf("%v", [value])}

# -- merging ------------------------------------------------------------------------------

masked_columns := {column | some [_, column, _] in masks}

# One spec per column; rules that disagree about a column get the strictest mask, null.
mask := {column: spec |
	some column in masked_columns
	specs := {s | some [_, c, s] in masks; c == column}
	spec := single_spec(specs)
}

single_spec(specs) := s if {
	count(specs) == 1
	some s in specs
} else := {"method": "null"}

# A mask the gateway cannot apply denies the statement here, with a message that says why,
# rather than failing closed later as a malformed decision.
bad_masks contains sprintf("policy error: the mask of %s is not an object with a known method (%s)", [column, concat(", ", sort(mask_methods))]) if {
	some column, spec in mask
	not valid_spec(spec)
}

valid_spec(spec) if spec.method in mask_methods

deny_reasons := {text | some [_, text] in denials} | bad_masks

approval := {
	"required": true,
	"approvers": sort({a | some [_, req] in approvals; some a in object.get(req, "approvers", [])}),
	"reason": concat("; ", sort({r | some [_, req] in approvals; r := req.reason; is_string(r)})),
} if {
	count(approvals) > 0
} else := default_decision.approval

ttl := min({t |
	some name
	t := data.regogate.rules[name].ttl
	is_number(t)
	t >= 0
} | {default_decision.ttl})

contributors := (allowed_by | {name | some [name, _] in denials}) | ({name | some [name, _, _] in masks} | {name | some [name, _] in approvals})

reasons := sort(deny_reasons) if {
	count(deny_reasons) > 0
} else := [sprintf("no policy allows identity %q to run %s", [who, what])] if {
	count(allowed_by) == 0
} else := []

# Names for the fallback reason; defaults also when there is no input at all.
default who := "unknown"

who := input.identity.sub

default what := "this statement"

what := input.statement.verb

decision := object.union(default_decision, {
	"allow": count(reasons) == 0,
	"deny": reasons,
	"mask": mask,
	"approval": approval,
	"ttl": ttl,
	"rules": sort({rule_id(name) | some name in contributors}),
})
