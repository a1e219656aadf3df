package refresh

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/understudy-dev/understudy/internal/masking"
)

// shopSQL is a production database with personal data: customers with
// NOT NULL and UNIQUE email, name and phone, an audit trigger that copies
// old emails into audit_log on every update, and a materialized view of
// the emails.
const shopSQL = `
CREATE TABLE customers (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text NOT NULL UNIQUE, full_name text NOT NULL,
  phone text UNIQUE, notes text, created date NOT NULL DEFAULT '2026-01-01');
INSERT INTO customers (email, full_name, phone, notes)
  SELECT 'person' || i || '@gmail.example', 'Real Person ' || i, CASE WHEN i % 5 = 0 THEN NULL ELSE '+4915' || (100000000 + i) END,
         CASE WHEN i % 3 = 0 THEN NULL ELSE 'likes ' || i END
  FROM generate_series(1, 300) i;
CREATE TABLE audit_log (id serial PRIMARY KEY, customer_id int REFERENCES customers, old_email text);
CREATE FUNCTION log_change() RETURNS trigger LANGUAGE plpgsql AS
  'BEGIN INSERT INTO audit_log (customer_id, old_email) VALUES (OLD.id, OLD.email); RETURN NEW; END';
CREATE TRIGGER customers_audit AFTER UPDATE ON customers FOR EACH ROW EXECUTE FUNCTION log_change();
UPDATE customers SET notes = notes WHERE id <= 10;
CREATE TABLE orders (id serial PRIMARY KEY, customer_id int NOT NULL REFERENCES customers, amount numeric(10,2), shipping_note text);
INSERT INTO orders (customer_id, amount, shipping_note) SELECT 1 + i % 300, i, 'leave at door of person' || i FROM generate_series(1, 900) i;
CREATE MATERIALIZED VIEW customer_emails AS SELECT id, email FROM customers;
CREATE TABLE signups (id int, at date NOT NULL, email text NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE signups_2025 PARTITION OF signups FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE signups_2026 PARTITION OF signups FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO signups SELECT i, DATE '2025-07-01' + i, 'signup' || i || '@gmail.example' FROM generate_series(1, 400) i;
`

// shopV2SQL is the next release: a new column with personal data and a
// new table.
const shopV2SQL = shopSQL + `
ALTER TABLE customers ADD COLUMN tax_id text;
UPDATE customers SET tax_id = 'DE' || id;
CREATE TABLE payment_cards (customer_id int REFERENCES customers, pan text);
INSERT INTO payment_cards VALUES (1, '4111111111111111');
`

var (
	shopOnce sync.Once
	shopDir  string
	shopErr  error
)

// shopDumps dumps shop (shop-1.dump) and its next release (shop-2.dump)
// into one directory.
func shopDumps(t *testing.T) string {
	t.Helper()
	shopOnce.Do(func() {
		shopDir, shopErr = os.MkdirTemp("", "refresh-shop-")
		for i, sql := range []string{shopSQL, shopV2SQL} {
			db := []string{"shop_v1", "shop_v2"}[i]
			if shopErr == nil {
				shopErr = createDB(db, sql)
			}
			if shopErr == nil {
				shopErr = pgDump(db, filepath.Join(shopDir, []string{"shop-1.dump", "shop-2.dump"}[i]), "-Fc")
			}
		}
	})
	if shopErr != nil {
		t.Fatalf("cannot build the shop fixture: %v", shopErr)
	}
	return shopDir
}

// shopPolicy classifies every column of shop-1.
func shopPolicy() masking.Policy {
	return masking.Policy{Tables: []masking.Table{
		{Name: "public.customers", Keep: []string{"id", "created"}, Mask: []masking.Mask{
			{Column: "email", Builtin: masking.BuiltinEmail}, {Column: "full_name", Builtin: masking.BuiltinName},
			{Column: "phone", Builtin: masking.BuiltinPhone},
			{Column: "notes", SQL: "CASE WHEN notes IS NULL THEN NULL ELSE 'note ' || id END"}}},
		{Name: "public.audit_log", Truncate: true},
		{Name: "public.orders", Keep: []string{"id", "customer_id", "amount"}, Mask: []masking.Mask{{Column: "shipping_note", SQL: "'redacted'"}}},
		// Partitioned: its partitions need no entry of their own.
		{Name: "public.signups", Keep: []string{"id", "at"}, Mask: []masking.Mask{{Column: "email", Builtin: masking.BuiltinEmail}}},
	}}
}

// maskOpts are the options of a refresh of target from the shop dump
// matching pattern with the policy p.
func maskOpts(t *testing.T, target, pattern string, p masking.Policy) Options {
	t.Helper()
	o := opts(t, target, pattern)
	o.BackupDir = shopDumps(t)
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	o.MaskingFile = filepath.Join(t.TempDir(), "masking.json")
	if err := os.WriteFile(o.MaskingFile, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return o
}

func TestAMaskingPolicyHidesPersonalDataAndKeepsConstraints(t *testing.T) {
	t.Parallel()
	o := maskOpts(t, "masked", "shop-1.dump", shopPolicy())
	o.Owner = "dev_owner" // masks as the owner of the restored objects
	// The sanitize SQL keeps working beside the policy, and runs first.
	o.SanitizeDir = t.TempDir()
	_ = os.WriteFile(filepath.Join(o.SanitizeDir, "01.sql"), []byte("DELETE FROM orders WHERE amount > 600;"), 0o644)
	res := mustRun(t, o)
	if res.Masking == nil || res.Masking.Columns != 16 || res.Masking.UnclassifiedCount != 0 {
		t.Fatalf("masking report = %+v, want 16 columns all classified", res.Masking)
	}
	dev, prod := connect(t, "masked"), connect(t, "shop_v1")

	for _, col := range []struct{ name, pattern string }{
		{"email", `^user_[0-9]+@example\.invalid$`}, {"full_name", `^User [0-9]+$`}, {"phone", `^\+990[0-9]{11}$`},
	} {
		real, masked := column(t, prod, "customers", col.name), column(t, dev, "customers", col.name)
		if len(masked) != 300 {
			t.Fatalf("%s: %d rows in dev, want 300", col.name, len(masked))
		}
		distinct, nulls := map[string]bool{}, 0
		for i, v := range masked {
			if v == nil {
				nulls++
				if real[i] != nil {
					t.Errorf("%s of customer %d became NULL", col.name, i+1)
				}
				continue
			}
			if !regexp.MustCompile(col.pattern).MatchString(*v) || slices.ContainsFunc(real, func(r *string) bool { return r != nil && *r == *v }) {
				t.Errorf("%s of customer %d is %q: not masked", col.name, i+1, *v)
			}
			distinct[*v] = true
		}
		if len(distinct)+nulls != 300 || (col.name == "phone" && nulls != 60) {
			t.Errorf("%s: %d distinct values and %d NULLs of 300: UNIQUE or NULLs lost", col.name, len(distinct), nulls)
		}
	}
	var notes, leftNotes, redacted, orders, audit int
	var trigger string
	query(t, dev, "SELECT count(*) FILTER (WHERE notes = 'note ' || id), count(*) FILTER (WHERE notes LIKE 'likes%') FROM customers", &notes, &leftNotes)
	query(t, dev, "SELECT count(*) FILTER (WHERE shipping_note = 'redacted'), count(*) FROM orders", &redacted, &orders)
	query(t, dev, "SELECT count(*) FROM audit_log", &audit)
	query(t, dev, "SELECT tgenabled::text FROM pg_trigger WHERE tgname = 'customers_audit'", &trigger)
	if notes != 200 || leftNotes != 0 || redacted != 600 || orders != 600 {
		t.Errorf("expression masks or sanitize SQL not applied: %d notes masked (want 200), %d left, %d of %d orders redacted (want 600)", notes, leftNotes, redacted, orders)
	}
	if audit != 0 || trigger != "O" {
		t.Errorf("audit_log holds %d rows (the trigger must not copy old emails) and the trigger is %q (want enabled again: O)", audit, trigger)
	}
	var signups, signupEmails, signupPartitions int
	query(t, dev, "SELECT count(*), count(DISTINCT email) FILTER (WHERE email ~ '^user_[0-9]+@example\\.invalid$'), count(DISTINCT tableoid) FROM signups",
		&signups, &signupEmails, &signupPartitions)
	if signups != 400 || signupEmails != 400 || signupPartitions != 2 {
		t.Errorf("signups: %d rows, %d distinct masked emails over %d partitions; want 400, 400, 2", signups, signupEmails, signupPartitions)
	}
	var viewLeaks int
	query(t, dev, "SELECT count(*) FROM customer_emails WHERE email NOT LIKE '%@example.invalid'", &viewLeaks)
	if viewLeaks != 0 {
		t.Errorf("the materialized view still shows %d real emails", viewLeaks)
	}
	if c, p := constraints(t, dev), constraints(t, prod); !slices.Equal(c, p) {
		t.Errorf("constraints differ:\n dev: %v\nprod: %v", c, p)
	}
	_, err := dev.Exec(context.Background(), "INSERT INTO customers (email, full_name) SELECT email, 'x' FROM customers LIMIT 1")
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23505" {
		t.Errorf("a duplicate email was not refused: %v", err)
	}
}

func TestAColumnThePolicyDoesNotClassifyFailsAndDevStaysAsItWas(t *testing.T) {
	t.Parallel()
	mustRun(t, maskOpts(t, "unclassified", "shop-1.dump", shopPolicy()))
	before, dbsBefore := mustChecksums(t, "unclassified"), databases(t, "unclassified")

	res := Run(context.Background(), maskOpts(t, "unclassified", "shop-2.dump", shopPolicy()))
	if res.Result != Failed || res.Step != StepMask {
		t.Fatalf("result = %+v, want Failed in step mask", res)
	}
	for _, want := range []string{"does not classify 3 columns", "public.customers.tax_id", "public.payment_cards.customer_id",
		"public.payment_cards.pan", "add each to its table's keep or mask list in spec.masking, or truncate its table"} {
		if !strings.Contains(res.Error, want) {
			t.Errorf("error does not say %q: %s", want, res.Error)
		}
	}
	if m := res.Masking; m == nil || m.UnclassifiedCount != 3 || len(m.Unclassified) != 3 || m.Columns != 19 {
		t.Errorf("masking report = %+v", m)
	}
	sameSums(t, "dev after a refresh refused for an unclassified column", mustChecksums(t, "unclassified"), before)
	if got := databases(t, "unclassified"); !slices.Equal(got, dbsBefore) {
		t.Fatalf("databases: %v, want %v (no side database left)", got, dbsBefore)
	}
}

func TestAPolicyNamingWhatTheCopyLacksFails(t *testing.T) {
	t.Parallel()
	p := shopPolicy()
	p.Tables[0].Keep = append(p.Tables[0].Keep, "fax")
	p.Tables = append(p.Tables, masking.Table{Name: "public.sessions", Truncate: true})
	failingRefresh(t, "unknownpolicy", maskOpts(t, "", "shop-1.dump", p),
		"spec.masking names 2 tables or columns the restored copy does not have: public.customers.fax, public.sessions")
}

func TestAMaskThatBreaksAConstraintFailsNamingTheTable(t *testing.T) {
	t.Parallel()
	p := shopPolicy()
	p.Tables[0].Mask[0] = masking.Mask{Column: "email", SQL: "'same@example.invalid'"}
	failingRefresh(t, "dupmask", maskOpts(t, "", "shop-1.dump", p), "cannot mask public.customers: duplicate key value violates unique constraint")
}

func TestAMissingPolicyFileFailsBeforeAnythingIsRestored(t *testing.T) {
	t.Parallel()
	o := maskOpts(t, "", "shop-1.dump", shopPolicy())
	o.MaskingFile += ".gone"
	failingRefresh(t, "nopolicy", o, "cannot read the masking policy")
}

func column(t *testing.T, c *pgx.Conn, table, col string) []*string {
	t.Helper()
	rows, _ := c.Query(context.Background(), "SELECT "+col+" FROM "+table+" ORDER BY id")
	vals, err := pgx.CollectRows(rows, pgx.RowTo[*string])
	if err != nil {
		t.Fatal(err)
	}
	return vals
}

func constraints(t *testing.T, c *pgx.Conn) []string {
	t.Helper()
	rows, _ := c.Query(context.Background(), `SELECT conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) || ' ' || convalidated
		FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1`)
	defs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return defs
}

func query(t *testing.T, c *pgx.Conn, sql string, dest ...any) {
	t.Helper()
	if err := c.QueryRow(context.Background(), sql).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
