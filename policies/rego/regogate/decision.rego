# METADATA
# title: regogate decision entrypoint
# description: >-
#   The one decision regogate asks for (data.regogate.decision). Every field has a
#   default; anything not explicitly allowed is denied. Rules are added as packages
#   under data.regogate.rules without editing this file.
# custom:
#   id: regogate.decision
package regogate

default_decision := {
	"allow": false,
	"deny": [],
	"mask": {},
	"approval": {"required": false, "approvers": [], "reason": null},
	"ttl": 30,
	"rules": [],
	"upstream_role": null,
}

# Reasons from every rule package under data.regogate.rules.
deny_reasons contains reason if {
	some name
	some reason in data.regogate.rules[name].deny
}

allowed_by contains name if {
	some name
	data.regogate.rules[name].allow
}

reasons := sort(deny_reasons) if {
	count(deny_reasons) > 0
} else := [sprintf("no policy allows identity %q to run %s", [object.get(input, ["identity", "sub"], "unknown"), object.get(input, ["statement", "verb"], "this statement")])] if {
	count(allowed_by) == 0
} else := []

decision := object.union(default_decision, {
	"allow": count(reasons) == 0,
	"deny": reasons,
	"rules": sort(allowed_by),
})
