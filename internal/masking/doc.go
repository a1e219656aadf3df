// Package masking decides how a restored copy is masked before it goes
// live: it compares a column policy (keep, mask or truncate) with the
// copy's catalog, names every column the policy does not classify and
// every name it gets wrong, and plans the SQL that masks the copy. It does
// no I/O; internal/refresh reads the catalog and runs the plan.
package masking
