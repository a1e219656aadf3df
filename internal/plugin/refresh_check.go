package plugin

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// WriteRefreshCheck prints what the last refresh found comparing
// spec.masking with its backup's schema, as the runner recorded it in
// status.lastRefresh.masking (at most 20 names of each kind, with counts),
// and for each name whether the current spec now settles it. It returns
// an error (exit 1) while a column is unclassified or a name unknown, when
// there is no policy, or when no refresh has compared it yet.
func WriteRefreshCheck(w io.Writer, dbr *v1.DatabaseRefresh) error {
	policy, last := dbr.Spec.Masking, dbr.Status.LastRefresh
	switch {
	case policy == nil:
		fmt.Fprintf(w, "databaserefresh %s has no masking policy (spec.masking): every column reaches dev as the backup holds it, unless the sanitize SQL changes it\n", dbr.Name)
		return fmt.Errorf("no masking policy: nothing is checked")
	case last == nil || last.Masking == nil:
		fmt.Fprintf(w, "databaserefresh %s: no refresh has compared spec.masking with a backup yet%s\n", dbr.Name, lastRun(last))
		fmt.Fprintf(w, "Run one: kubectl understudy refresh now %s\n", dbr.Name)
		return fmt.Errorf("not checked yet")
	}
	m := last.Masking
	fmt.Fprintf(w, "databaserefresh %s: Job %s compared spec.masking with the backup %s: %d columns, %d unclassified, %d unknown names\n",
		dbr.Name, last.Job, or(last.Source, "(unknown)"), m.Columns, m.UnclassifiedCount, m.UnknownCount)
	if m.UnclassifiedCount == 0 && m.UnknownCount == 0 {
		fmt.Fprintln(w, "Every column of the backup is classified.")
		return nil
	}
	open := 0
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tFOUND\tCURRENT SPEC")
	for _, name := range m.Unclassified {
		now := "still not classified"
		if classifies(policy, name) {
			now = "classified now"
		} else {
			open++
		}
		fmt.Fprintf(tw, "%s\tnot classified\t%s\n", name, now)
	}
	for _, name := range m.Unknown {
		now := "removed now"
		if names(policy, name) {
			now = "still named"
			open++
		}
		fmt.Fprintf(tw, "%s\tnamed by the policy, not in the backup\t%s\n", name, now)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	unlisted := int(m.UnclassifiedCount) + int(m.UnknownCount) - len(m.Unclassified) - len(m.Unknown)
	if unlisted > 0 {
		fmt.Fprintf(w, "... and %d more not listed (the runner records at most 20 of each); the next refresh lists them\n", unlisted)
	}
	fmt.Fprintf(w, "Add each unclassified column to its table's keep or mask list in spec.masking (or truncate the table), remove unknown names, then: kubectl understudy refresh now %s\n", dbr.Name)
	if open+unlisted > 0 {
		return fmt.Errorf("%d of the names the last refresh found are not settled by the current spec", open+unlisted)
	}
	return nil
}

func lastRun(last *v1.RefreshRecord) string {
	switch {
	case last == nil:
		return ""
	case last.Result == v1.RefreshFailed:
		return fmt.Sprintf(" (the last refresh, Job %s, failed in step %s before the comparison: %s)", last.Job, or(last.FailedStep, "-"), last.Message)
	default:
		return fmt.Sprintf(" (the last refresh, Job %s, ran without a policy)", last.Job)
	}
}

// classifies tells whether the policy classifies schema.table.column.
func classifies(p *v1.MaskingPolicy, column string) bool {
	t, col := tableOf(p, column)
	return t != nil && col != "" && (t.Truncate || slices.Contains(t.Keep, col) ||
		slices.ContainsFunc(t.Mask, func(m v1.ColumnMask) bool { return m.Column == col }))
}

// names tells whether the policy still names schema.table or
// schema.table.column.
func names(p *v1.MaskingPolicy, name string) bool {
	t, col := tableOf(p, name)
	return t != nil && (col == "" || classifies(p, name))
}

// tableOf is the policy's entry for the table of schema.table[.column],
// and the column.
func tableOf(p *v1.MaskingPolicy, name string) (*v1.TableMasking, string) {
	schema, rest, _ := strings.Cut(name, ".")
	table, col, _ := strings.Cut(rest, ".")
	for i := range p.Tables {
		if p.Tables[i].Name == schema+"."+table {
			return &p.Tables[i], col
		}
	}
	return nil, col
}
