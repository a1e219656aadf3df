// Package pgquote quotes identifiers and literals for PostgreSQL
// statements. It imports no driver, so the pure planners that write SQL
// (internal/masking) quote as the database code does (internal/postgres)
// without linking it.
package pgquote

import "strings"

// Ident quotes name as an SQL identifier, so any database, role or
// table name is safe inside a statement.
func Ident(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// Literal quotes s as an SQL string literal, for the few statements
// that take no parameters (COMMENT ON, for instance). Like PostgreSQL's
// quote_literal, it uses the E'...' form when s contains a backslash, so the
// result means the same whatever standard_conforming_strings says.
func Literal(s string) string {
	q := "'" + strings.ReplaceAll(s, "'", "''") + "'"
	if strings.Contains(s, `\`) {
		return "E" + strings.ReplaceAll(q, `\`, `\\`)
	}
	return q
}
