package masking

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

var (
	users  = Relation{"public", "users"}
	audit  = Relation{"public", "audit_log"}
	events = Relation{"app", "Events"}
)

// catalog is a copy with users (id, email NOT NULL UNIQUE, name, phone,
// note), audit_log (id, who) and app."Events" (id, payload).
func catalog() Catalog {
	return Catalog{
		Columns: []Column{
			{Table: users, Name: "id", NotNull: true}, {Table: users, Name: "email", NotNull: true},
			{Table: users, Name: "name"}, {Table: users, Name: "phone"}, {Table: users, Name: "note"},
			{Table: audit, Name: "id"}, {Table: audit, Name: "who"},
			{Table: events, Name: "id"}, {Table: events, Name: "payload"},
		},
		Triggers: []Trigger{{Root: users, On: users, Name: "audit_users", Enabled: "O"}, {Root: events, On: events, Name: "x", Enabled: "O"}},
		MatViews: []Relation{{"public", "user_stats"}},
	}
}

func policy() Policy {
	return Policy{Tables: []Table{
		{Name: "public.users", Keep: []string{"id"}, Mask: []Mask{
			{Column: "email", Builtin: BuiltinEmail}, {Column: "name", Builtin: BuiltinName},
			{Column: "phone", Builtin: BuiltinPhone}, {Column: "note", SQL: "'note ' || id"}}},
		{Name: "public.audit_log", Truncate: true},
		{Name: "app.Events", Keep: []string{"id", "payload"}},
	}}
}

func TestAWholePolicyPlansTriggersTruncateOneUpdatePerTableAndMatViews(t *testing.T) {
	stmts, rep, err := Decide(policy(), catalog())
	if err != nil {
		t.Fatal(err)
	}
	var whats []string
	for _, s := range stmts {
		whats = append(whats, s.What)
	}
	want := []string{
		"disable trigger audit_users of public.users",
		`truncate "public"."audit_log"`,
		"mask public.users",
		"enable trigger audit_users of public.users",
		"refresh materialized view public.user_stats",
	}
	if fmt.Sprint(whats) != fmt.Sprint(want) {
		t.Fatalf("plan:\n%s\nwant:\n%s", strings.Join(whats, "\n"), strings.Join(want, "\n"))
	}
	up := stmts[2].SQL
	for _, part := range []string{
		`UPDATE "public"."users" SET "email" = CASE WHEN "public"."users"."email" IS NULL THEN NULL ELSE 'user_' || understudy_rows.understudy_n || '@example.invalid' END`,
		`"name" = CASE WHEN "public"."users"."name" IS NULL THEN NULL ELSE 'User ' || understudy_rows.understudy_n END`,
		`"phone" = CASE WHEN "public"."users"."phone" IS NULL THEN NULL ELSE '+990' || lpad(understudy_rows.understudy_n::text, 11, '0') END`,
		`"note" = ('note ' || id` + "\n)",
		`row_number() OVER () AS understudy_n FROM "public"."users") AS understudy_rows`,
	} {
		if !strings.Contains(up, part) {
			t.Errorf("UPDATE lacks %s:\n%s", part, up)
		}
	}
	if stmts[3].SQL != `ALTER TABLE "public"."users" ENABLE TRIGGER "audit_users"` {
		t.Errorf("enable: %s", stmts[3].SQL)
	}
	if rep.Columns != 9 || rep.UnclassifiedCount != 0 || rep.UnknownCount != 0 {
		t.Errorf("report = %+v", rep)
	}
}

func TestOnlyExpressionsAndNullNeedNoRowNumbers(t *testing.T) {
	p := Policy{Tables: []Table{
		{Name: "public.users", Keep: []string{"id", "email", "name"}, Mask: []Mask{{Column: "phone", Builtin: BuiltinNull}, {Column: "note", SQL: "NULL"}}},
		{Name: "public.audit_log", Truncate: true}, {Name: "app.Events", Truncate: true},
	}}
	stmts, _, err := Decide(p, Catalog{Columns: catalog().Columns})
	if err != nil {
		t.Fatal(err)
	}
	if got := stmts[1].SQL; got != `UPDATE "public"."users" SET "phone" = NULL, "note" = (NULL`+"\n)" {
		t.Errorf("UPDATE = %s", got)
	}
	if got := stmts[0].SQL; got != `TRUNCATE TABLE "public"."audit_log", "app"."Events"` {
		t.Errorf("TRUNCATE = %s", got)
	}
}

func TestAReplicaTriggerIsEnabledAgainAsReplica(t *testing.T) {
	c := catalog()
	c.Triggers = []Trigger{{Root: users, On: Relation{"public", "users_2026"}, Name: "t", Enabled: "R"}}
	stmts, _, err := Decide(policy(), c)
	if err != nil {
		t.Fatal(err)
	}
	if got := stmts[3].SQL; got != `ALTER TABLE "public"."users_2026" ENABLE REPLICA TRIGGER "t"` {
		t.Errorf("enable = %s", got)
	}
}

func TestPolicyFaultsAreNamed(t *testing.T) {
	for _, tc := range []struct {
		name         string
		change       func(*Policy, *Catalog)
		unclassified []string
		unknown      []string
		invalid      string
	}{
		{"a new column", func(_ *Policy, c *Catalog) {
			c.Columns = append(c.Columns, Column{Table: users, Name: "ssn"})
		}, []string{"public.users.ssn"}, nil, ""},
		{"a new table", func(_ *Policy, c *Catalog) {
			c.Columns = append(c.Columns, Column{Table: Relation{"billing", "cards"}, Name: "pan"}, Column{Table: Relation{"billing", "cards"}, Name: "cvv"})
		}, []string{"billing.cards.pan", "billing.cards.cvv"}, nil, ""},
		{"a column gone", func(p *Policy, _ *Catalog) {
			p.Tables[2].Keep = append(p.Tables[2].Keep, "fax")
		}, nil, []string{"app.Events.fax"}, ""},
		{"a masked column gone", func(p *Policy, _ *Catalog) {
			p.Tables[0].Mask = append(p.Tables[0].Mask, Mask{Column: "Email", Builtin: BuiltinEmail})
		}, nil, []string{"public.users.Email"}, ""},
		{"a table gone", func(p *Policy, _ *Catalog) {
			p.Tables = append(p.Tables, Table{Name: "public.sessions", Truncate: true})
		}, nil, []string{"public.sessions"}, ""},
		{"Null on NOT NULL", func(p *Policy, _ *Catalog) {
			p.Tables[0].Mask[0].Builtin = BuiltinNull
		}, nil, nil, "public.users.email is NOT NULL: the SetNull mask cannot apply"},
		{"a generated column masked", func(p *Policy, c *Catalog) {
			c.Columns[4].Generated = true
		}, nil, nil, "public.users.note is a generated column"},
		{"large objects", func(_ *Policy, c *Catalog) { c.LargeObjects = 3 }, nil, nil, "the copy holds 3 large objects"},
		{"an unknown builtin", func(p *Policy, _ *Catalog) { p.Tables[0].Mask[0].Builtin = "Ssn" }, nil, nil, `no built-in mask "Ssn"`},
		{"kept and masked", func(p *Policy, _ *Catalog) { p.Tables[0].Keep = append(p.Tables[0].Keep, "email") }, nil, nil, "public.users.email is listed under both keep and mask"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, c := policy(), catalog()
			tc.change(&p, &c)
			stmts, rep, err := Decide(p, c)
			var pe *PolicyError
			if !errors.As(err, &pe) || stmts != nil {
				t.Fatalf("Decide = %d statements, %v; want a PolicyError and no plan", len(stmts), err)
			}
			if fmt.Sprint(pe.Unclassified) != fmt.Sprint(tc.unclassified) || fmt.Sprint(pe.Unknown) != fmt.Sprint(tc.unknown) {
				t.Errorf("unclassified %v unknown %v; want %v %v", pe.Unclassified, pe.Unknown, tc.unclassified, tc.unknown)
			}
			if tc.invalid != "" && (len(pe.Invalid) != 1 || !strings.Contains(pe.Invalid[0], tc.invalid)) {
				t.Errorf("invalid = %v, want %q", pe.Invalid, tc.invalid)
			}
			for _, name := range append(tc.unclassified, tc.unknown...) {
				if !strings.Contains(err.Error(), name) {
					t.Errorf("error does not name %s: %v", name, err)
				}
			}
			if rep.UnclassifiedCount != len(tc.unclassified) || rep.UnknownCount != len(tc.unknown) || rep.Columns != len(c.Columns) {
				t.Errorf("report = %+v", rep)
			}
		})
	}
}

func TestManyUnclassifiedColumnsAreBoundedAndCounted(t *testing.T) {
	var c Catalog
	for i := range 500 {
		c.Columns = append(c.Columns, Column{Table: Relation{"public", "wide"}, Name: fmt.Sprintf("column_%03d", i)})
	}
	_, rep, err := Decide(Policy{Tables: []Table{{Name: "public.wide", Keep: []string{"column_000"}}}}, c)
	if err == nil {
		t.Fatal("no error")
	}
	if rep.UnclassifiedCount != 499 || len(rep.Unclassified) != MaxListed || rep.Unclassified[0] != "public.wide.column_001" {
		t.Errorf("report: %d listed of %d, first %q", len(rep.Unclassified), rep.UnclassifiedCount, rep.Unclassified[0])
	}
	msg := err.Error()
	if !strings.Contains(msg, "does not classify 499 columns") || !strings.Contains(msg, "and 479 more") || len(msg) > 1200 {
		t.Errorf("message (%d bytes): %s", len(msg), msg)
	}
}

func TestLongNamesAreBoundedByBytes(t *testing.T) {
	names := make([]string, 20)
	for i := range names {
		names[i] = strings.Repeat("x", 189) + fmt.Sprint(i%10)
	}
	if got := Bounded(names); len(got) != 3 {
		t.Errorf("%d names of 190 bytes kept, want 3 (600 bytes)", len(got))
	}
}
