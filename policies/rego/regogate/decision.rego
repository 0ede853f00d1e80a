# METADATA
# title: regogate decision entrypoint
# description: >-
#   The one decision regogate asks for (data.regogate.decision). Every field has a
#   default; anything not explicitly allowed is denied. Rule packages under
#   data.regogate.rules contribute allow, deny, mask, approval, ttl and (for CONNECT)
#   session_settings and are merged here, so rules are added without editing this file (see docs/policy-contract.md).
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
	"session_settings": {},
}

mask_methods := {"redact", "null", "partial", "email", "hash"}

# The id of a rule package: its `id` (the custom.id of its METADATA), else its name.
rule_id(name) := id if {
	id := data.regogate.rules[name].id
	is_string(id)
} else := name

# -- what the rule packages contribute ----------------------------------------------------
#
# This runs for every statement the gateway has not cached, so it is written for speed:
# one pass over the packages per field, empty contributions (a package whose deny rules
# all fail, a mask with no column: the usual case) dropped right away, and the merging
# below done in one rule body, where each step has nothing to iterate when nothing was
# contributed.

allowed_by := {name | some name; data.regogate.rules[name].allow == true}

deny_by := {name: value |
	some name
	value := data.regogate.rules[name].deny
	value != set()
}

mask_by := {name: value |
	some name
	value := data.regogate.rules[name].mask
	value != {}
}

# Only CONNECT decisions carry settings (rule packages contribute them for that verb).
settings_by := {name: value |
	some name
	value := data.regogate.rules[name].session_settings
	value != {}
}

# [rule name, requirement]
approvals := {[name, requirement_of(value)] |
	some name
	some value in data.regogate.rules[name].approval
}

ttl := min({t |
	some name
	t := data.regogate.rules[name].ttl
	is_number(t)
	t >= 0
} | {default_decision.ttl})

# The reasons of one package. A reason that is not a string is shown as JSON; a deny that
# is a single value rather than a collection still denies (deny := "why"), unless it is false.
deny_texts(name, value) := {reason_text(r) | some r in value} if {
	is_set(value)
} else := {reason_text(r) | some r in value} if {
	is_array(value)
} else := set() if {
	value == false
} else := {reason_text(r) | some r in value} | {single_reason(name, value)}

single_reason(name, value) := value if {
	is_string(value)
} else := sprintf("rule %s denies this statement (deny = %v)", [name, value])

reason_text(reason) := reason if {
	is_string(reason)
} else := sprintf("%v", [reason])

# A malformed approval requirement still requires approval rather than being dropped.
requirement_of(value) := value if {
	is_object(value)
} else := {"reason": sprintf("%v", [value])}

# -- merging ------------------------------------------------------------------------------

# One spec per column. Usually no package masks, or a single one whose mask is taken as
# it is; rules that disagree about a column's mask get the strictest one, null.
merged_masks(by) := {} if {
	count(by) == 0
} else := m if {
	count(by) == 1
	some m in by
	is_object(m)
} else := {column: single_spec(specs) |
	some column in {c | some m in by; some c, _ in m}
	specs := {s | some m in by; s := m[column]}
}

single_spec(specs) := s if {
	count(specs) == 1
	some s in specs
} else := {"method": "null"}

merged_approval(requirements) := {
	"required": true,
	"approvers": sort({a | some [_, req] in requirements; some a in object.get(req, "approvers", [])}),
	"reason": concat("; ", sort({r | some [_, req] in requirements; r := req.reason; is_string(r)})),
	# the strictest: as many distinct approvers as the most demanding rule asks
	"min_approvals": max({n | some [_, req] in requirements; n := req.min_approvals; is_number(n)} | {1}),
} if {
	count(requirements) > 0
} else := default_decision.approval

reasons_of(deny_reasons) := sort(deny_reasons) if {
	count(deny_reasons) > 0
} else := [sprintf("no policy allows identity %q to run %s", [who, what])] if {
	count(allowed_by) == 0
} else := []

# Names for the fallback reason; defaults also when there is no input at all.
default who := "unknown"

who := input.identity.sub

default what := "this statement"

what := input.statement.verb

# The usual statement: no package denies, masks or asks for approval. Then the decision
# is made of the allows alone, without the merging of the general case below.
decision := {
	"allow": count(reasons) == 0,
	"deny": reasons,
	"mask": {},
	"approval": default_decision.approval,
	"ttl": ttl,
	"rules": sort({rule_id(name) | some name in allowed_by}),
	"upstream_role": default_decision.upstream_role,
	"session_settings": default_decision.session_settings,
} if {
	count(deny_by) == 0
	count(mask_by) == 0
	count(approvals) == 0
	count(settings_by) == 0
	reasons := reasons_of(set())
} else := {
	"allow": count(reasons) == 0,
	"deny": reasons,
	"mask": mask,
	"approval": merged_approval(approvals),
	"ttl": ttl,
	"rules": sort({rule_id(name) | some name in contributors}),
	"upstream_role": default_decision.upstream_role,
	"session_settings": merged_settings(settings_by),
} if {
	# rule name -> its reasons
	denials := {name: texts |
		some name, value in deny_by
		texts := deny_texts(name, value)
		count(texts) > 0
	}

	mask := merged_masks(mask_by)

	errors := mask_errors(mask) | settings_errors(settings_by)
	reasons := reasons_of({text | some texts in denials; some text in texts} | errors)

	# The packages that allowed, denied, masked or asked for approval.
	masked_by := {name | some name, m in mask_by; some _ in m}
	approved_by := {name | some [name, _] in approvals}
	contributors := (((allowed_by | object.keys(denials)) | masked_by) | approved_by) | object.keys(settings_by)
}

# A mask the gateway cannot apply denies the statement here, with a message that says
# why, rather than failing closed later as a malformed decision. Nothing to look at when
# nothing is masked (the usual case).
mask_errors(mask) := set() if {
	count(mask) == 0
} else := {sprintf("policy error: the mask of %s is not an object with a known method (%s)", [column, concat(", ", sort(mask_methods))]) |
	some column, spec in mask
	not valid_mask(spec)
}

valid_mask(spec) if mask_methods[spec.method]

# setting -> value. A setting two packages give different values is left out and denies
# the session (settings_errors), rather than taking one of them.
merged_settings(by) := {} if {
	count(by) == 0
} else := {setting: value |
	some m in by
	some setting, value in m
	count(setting_values(by, setting)) == 1
}

setting_values(by, setting) := {v | some m in by; v := m[setting]}

settings_errors(by) := set() if {
	count(by) == 0
} else := {sprintf("policy error: the session_settings of %s are not an object of setting -> value", [name]) |
	some name, m in by
	not is_object(m)
} | {sprintf("policy error: rules give the session setting %s different values (%s)", [setting, concat(", ", sort([sprintf("%v", [v]) | some v in values]))]) |
	some m in by
	is_object(m)
	some setting, _ in m
	values := setting_values(by, setting)
	count(values) > 1
}
