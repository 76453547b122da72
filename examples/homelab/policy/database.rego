# Policy as code on every layer's plan (`policies:` in infra.yaml; conftest's conventions, so
# `conftest test --namespace main plan.json` reads it the same way). The input is the plan as
# `terraform show -json` prints it.
package main

import rego.v1

# The databases of this repository: the postgres service of each data layer, and the managed
# database resources of the usual clouds, for when the homelab grows up.
database_types := {
	"aws_db_instance",
	"aws_rds_cluster",
	"google_sql_database_instance",
	"azurerm_postgresql_flexible_server",
}

database(rc) if rc.type in database_types

database(rc) if startswith(rc.address, "module.postgres.")

# Destroying a database (or replacing it, which destroys it first) loses its data: it fails
# the check, and `/apply` waits for someone allowed by `policies.approvers` to comment
# `/approve_policies`.
deny contains msg if {
	some rc in input.resource_changes
	"delete" in rc.change.actions
	database(rc)
	msg := sprintf("%s would be destroyed: a database's data goes with it", [rc.address])
}

# Resizing a database is allowed, and worth a second look.
warn contains msg if {
	some rc in input.resource_changes
	rc.change.actions == ["update"]
	database(rc)
	before := object.get(rc.change.before, ["input", "settings", "size"], "")
	after := object.get(rc.change.after, ["input", "settings", "size"], "")
	before != after
	msg := sprintf("%s is resized from %s to %s", [rc.address, before, after])
}
