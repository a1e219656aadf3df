package plugin

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// WriteHistory prints status.history, newest first: revision, images (with
// the short digest they ran, when recorded), when it took traffic, how it ended, the database it served from, its
// role now, and how it passed the promotion gate (Qualified, Skipped).
func WriteHistory(w io.Writer, site *v1.SiteDeployment, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REVISION\tIMAGES\tPROMOTED\tOUTCOME\tDATABASE\tROLE\tGATE")
	for _, h := range site.Status.History {
		role := ""
		switch h.Revision {
		case site.Status.ActiveRevision:
			role = "active"
		case site.Status.PreviewRevision:
			role = "preview"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", h.Revision, imagesOf(h), ago(h.PromotedAt, now), or(string(h.Outcome), "-"),
			or(h.Database, "-"), or(role, "-"), or(string(h.PromotionGate), "-"))
	}
	return tw.Flush()
}

// imagesOf lists a revision's images, each with the first 12 hex digits
// of the digest it ran when one is recorded: two builds behind one tag read
// apart.
func imagesOf(h v1.RevisionRecord) string {
	digests := map[string]string{}
	for _, d := range h.Digests {
		digests[d.Image] = d.Digest
	}
	out := make([]string, 0, len(h.Images))
	for _, img := range h.Images {
		if d := digests[img]; len(d) > len("sha256:")+12 {
			img += "@" + d[:len("sha256:")+12]
		}
		out = append(out, img)
	}
	return strings.Join(out, ",")
}

// WriteRefreshStatus prints how old dev's data is, the last result and the next run.
func WriteRefreshStatus(w io.Writer, dbr *v1.DatabaseRefresh, now time.Time) {
	st := dbr.Status
	fmt.Fprintf(w, "DatabaseRefresh %s/%s: %s\n", dbr.Namespace, dbr.Name, dbr.Spec.Schedule)
	fmt.Fprintf(w, "  data taken:  %s\n", ago(st.DataTakenAt, now))
	last := "none yet"
	if r := st.LastRefresh; r != nil {
		last = fmt.Sprintf("%s by Job %s, finished %s", r.Result, r.Job, ago(r.FinishedAt, now))
		if r.Message != "" {
			last += ": " + r.Message
		}
	}
	fmt.Fprintf(w, "  last result: %s\n", last)
	next := ago(st.NextScheduleTime, now)
	if dbr.Spec.Suspend {
		next = "suspended (refresh now still works)"
	}
	fmt.Fprintf(w, "  next run:    %s\n", next)
	for _, a := range st.Actions {
		fmt.Fprintf(w, "  refresh now: %s: %s\n", a.Value, a.Message)
	}
	for _, c := range st.Conditions {
		if c.Type == v1.ConditionReady || c.Type == v1.ConditionProgressing && c.Status == metav1.ConditionTrue {
			fmt.Fprintf(w, "  %s: %s (%s) %s\n", c.Type, c.Status, c.Reason, c.Message)
		}
	}
}

// ago is a time as "2m ago" or "in 5m"; "-" when unset.
func ago(t *metav1.Time, now time.Time) string {
	if t == nil {
		return "-"
	}
	d := now.Sub(t.Time).Round(time.Second)
	if d < 0 {
		return "in " + (-d).String()
	}
	return d.String() + " ago"
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
