package masking

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/understudy-dev/understudy/internal/pgquote"
)

// Catalog is what the copy holds that masking must know of.
type Catalog struct {
	// Columns of every table that holds data (ordinary and partitioned
	// tables outside the system schemas and extensions; partitions are
	// covered by their partitioned table), in table and column order.
	Columns []Column
	// Triggers are the enabled user triggers of those tables and of their
	// partitions, partitioned tables' first.
	Triggers []Trigger
	// MatViews are the populated materialized views, in creation order:
	// they are refreshed from the masked tables.
	MatViews []Relation
	// LargeObjects is how many large objects the copy holds.
	LargeObjects int64
}

// Relation is a schema-qualified table or view name, as stored.
type Relation struct{ Schema, Name string }

func (r Relation) String() string { return r.Schema + "." + r.Name }

// quoted is the relation as SQL names it.
func (r Relation) quoted() string {
	return pgquote.Ident(r.Schema) + "." + pgquote.Ident(r.Name)
}

// Column is one column of a table of the copy.
type Column struct {
	Table     Relation
	Name      string
	NotNull   bool
	Generated bool
}

// Trigger is one enabled user trigger of Root or one of its partitions
// (On). Enabled is pg_trigger.tgenabled: O, R or A.
type Trigger struct {
	Root, On Relation
	Name     string
	Enabled  string
}

// Statement is one step of a masking plan: What names it in an error.
type Statement struct {
	What, SQL string
}

// Decide compares the policy with the copy's catalog. It fails, with a
// *PolicyError naming each, when a column of the copy is not classified,
// the policy names a table or column the copy does not have, or a mask
// cannot apply; otherwise it returns the statements that mask the copy,
// to run in one transaction in order: disable the touched tables' user
// triggers (an audit trigger must not copy the real values elsewhere),
// truncate, one UPDATE per masked table, enable the triggers again,
// refresh the materialized views.
func Decide(p Policy, c Catalog) ([]Statement, Report, error) {
	tables, bad := index(p)
	present := map[Relation]bool{}
	var masked []maskedTable
	var current *maskedTable
	for _, col := range c.Columns {
		present[col.Table] = true
		t, classified := tables[col.Table]
		switch {
		case !classified:
			bad.Unclassified = append(bad.Unclassified, col.Table.String()+"."+col.Name)
			continue
		case t.Truncate:
			continue
		}
		t.seen[col.Name] = true
		m, isMasked := t.masks[col.Name]
		switch {
		case !isMasked && !slices.Contains(t.Keep, col.Name):
			bad.Unclassified = append(bad.Unclassified, col.Table.String()+"."+col.Name)
		case !isMasked:
		case col.Generated:
			bad.Invalid = append(bad.Invalid, fmt.Sprintf("%s.%s is a generated column: list it under keep (it is computed from the masked columns)", col.Table, col.Name))
		case m.Builtin == BuiltinNull && col.NotNull:
			bad.Invalid = append(bad.Invalid, fmt.Sprintf("%s.%s is NOT NULL: the SetNull mask cannot apply, choose another", col.Table, col.Name))
		default:
			if current == nil || current.table != col.Table {
				masked = append(masked, maskedTable{table: col.Table})
				current = &masked[len(masked)-1]
			}
			current.columns = append(current.columns, m)
		}
	}
	for _, t := range p.Tables {
		rel := relationOf(t.Name)
		if !present[rel] {
			bad.Unknown = append(bad.Unknown, t.Name)
			continue
		}
		if t.Truncate {
			continue
		}
		for _, name := range columnsOf(t) {
			if !tables[rel].seen[name] {
				bad.Unknown = append(bad.Unknown, t.Name+"."+name)
			}
		}
	}
	if c.LargeObjects > 0 {
		bad.Invalid = append(bad.Invalid, fmt.Sprintf("the copy holds %d large objects, which no column policy classifies: unlink them in the sanitize SQL (SELECT lo_unlink(oid) FROM pg_largeobject_metadata)", c.LargeObjects))
	}
	if len(bad.Unclassified)+len(bad.Unknown)+len(bad.Invalid) > 0 {
		return nil, bad.report(len(c.Columns)), bad
	}
	return statements(p, c, masked), Report{Columns: len(c.Columns)}, nil
}

// classifiedTable is one table of the policy, indexed.
type classifiedTable struct {
	Table
	masks map[string]Mask
	seen  map[string]bool
}

// maskedTable is a table with the masks that apply to it, in column order.
type maskedTable struct {
	table   Relation
	columns []Mask
}

// index indexes the policy by table. Names the API lets through but the
// runner cannot use (a column under both keep and mask, a table named
// twice) are Invalid.
func index(p Policy) (map[Relation]*classifiedTable, *PolicyError) {
	bad := &PolicyError{}
	tables := map[Relation]*classifiedTable{}
	for _, t := range p.Tables {
		if _, _, ok := splitName(t.Name); !ok {
			bad.Invalid = append(bad.Invalid, fmt.Sprintf("%q is not schema.table", t.Name))
			continue
		}
		rel := relationOf(t.Name)
		if tables[rel] != nil {
			bad.Invalid = append(bad.Invalid, fmt.Sprintf("%s is listed twice", t.Name))
			continue
		}
		ct := &classifiedTable{Table: t, masks: map[string]Mask{}, seen: map[string]bool{}}
		for _, m := range t.Mask {
			if slices.Contains(t.Keep, m.Column) {
				bad.Invalid = append(bad.Invalid, fmt.Sprintf("%s.%s is listed under both keep and mask", t.Name, m.Column))
			}
			if (m.Builtin == "") == (m.SQL == "") {
				bad.Invalid = append(bad.Invalid, fmt.Sprintf("%s.%s: a mask sets exactly one of builtin or sql", t.Name, m.Column))
			} else if m.Builtin != "" && m.Builtin != BuiltinNull && builtinValue[m.Builtin] == "" {
				bad.Invalid = append(bad.Invalid, fmt.Sprintf("%s.%s: no built-in mask %q (Email, Name, Phone or SetNull)", t.Name, m.Column, m.Builtin))
			}
			ct.masks[m.Column] = m
		}
		tables[rel] = ct
	}
	return tables, bad
}

func relationOf(name string) Relation {
	s, t, _ := splitName(name)
	return Relation{Schema: s, Name: t}
}

// columnsOf are the column names a table's policy lists, sorted.
func columnsOf(t Table) []string {
	names := slices.Clone(t.Keep)
	for _, m := range t.Mask {
		names = append(names, m.Column)
	}
	sort.Strings(names)
	return slices.Compact(names)
}

func statements(p Policy, c Catalog, masked []maskedTable) []Statement {
	touched := map[Relation]bool{}
	var truncate []string
	for _, t := range p.Tables {
		if t.Truncate {
			rel := relationOf(t.Name)
			touched[rel] = true
			truncate = append(truncate, rel.quoted())
		}
	}
	for _, m := range masked {
		touched[m.table] = true
	}
	var out, enable []Statement
	for _, tr := range c.Triggers {
		if !touched[tr.Root] {
			continue
		}
		on, name := tr.On.quoted(), pgquote.Ident(tr.Name)
		out = append(out, Statement{What: "disable trigger " + tr.Name + " of " + tr.On.String(),
			SQL: "ALTER TABLE " + on + " DISABLE TRIGGER " + name})
		enable = append(enable, Statement{What: "enable trigger " + tr.Name + " of " + tr.On.String(),
			SQL: "ALTER TABLE " + on + " ENABLE " + map[string]string{"R": "REPLICA ", "A": "ALWAYS "}[tr.Enabled] + "TRIGGER " + name})
	}
	if len(truncate) > 0 {
		out = append(out, Statement{What: "truncate " + strings.Join(truncate, ", "), SQL: "TRUNCATE TABLE " + strings.Join(truncate, ", ")})
	}
	for _, m := range masked {
		out = append(out, Statement{What: "mask " + m.table.String(), SQL: update(m)})
	}
	out = append(out, enable...)
	for _, mv := range c.MatViews {
		out = append(out, Statement{What: "refresh materialized view " + mv.String(), SQL: "REFRESH MATERIALIZED VIEW " + mv.quoted()})
	}
	return out
}
