package masking

import (
	"strings"

	"github.com/understudy-dev/understudy/internal/pgquote"
)

// rowNumber is the number of the row being masked, from the numbered rows
// the UPDATE joins (by tableoid and ctid, unique across partitions). The
// names are prefixed so that they do not capture a column an expression
// names.
const (
	rowsAlias = "understudy_rows"
	rowNumber = rowsAlias + ".understudy_n"
)

// builtinValue is the value a built-in gives a non-NULL value: distinct
// per row, so UNIQUE holds, and never a real address or number.
var builtinValue = map[string]string{
	BuiltinEmail: "'user_' || " + rowNumber + " || '@example.invalid'",
	BuiltinName:  "'User ' || " + rowNumber,
	BuiltinPhone: "'+990' || lpad(" + rowNumber + "::text, 11, '0')",
}

// update is the one UPDATE that masks a table's columns. Built-ins keep
// NULLs NULL (a NOT NULL column has none), so NOT NULL holds.
func update(m maskedTable) string {
	table := m.table.quoted()
	sets := make([]string, 0, len(m.columns))
	numbered := false
	for _, c := range m.columns {
		col := pgquote.Ident(c.Column)
		switch {
		case c.SQL != "":
			sets = append(sets, col+" = ("+c.SQL+"\n)")
		case c.Builtin == BuiltinNull:
			sets = append(sets, col+" = NULL")
		default:
			numbered = true
			sets = append(sets, col+" = CASE WHEN "+table+"."+col+" IS NULL THEN NULL ELSE "+builtinValue[c.Builtin]+" END")
		}
	}
	sql := "UPDATE " + table + " SET " + strings.Join(sets, ", ")
	if numbered {
		sql += " FROM (SELECT tableoid AS understudy_toid, ctid AS understudy_tid, row_number() OVER () AS understudy_n FROM " + table + ") AS " + rowsAlias +
			" WHERE " + table + ".tableoid = " + rowsAlias + ".understudy_toid AND " + table + ".ctid = " + rowsAlias + ".understudy_tid"
	}
	return sql
}
