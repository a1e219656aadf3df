package plugin

import (
	"fmt"
	"io"
	"time"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// writeAnalysis shows the metric checks' runs (status.analysis): each
// run's verdict, each check's counts, and its latest measurements with
// their time, value and verdict.
func writeAnalysis(w io.Writer, runs []v1.AnalysisStatus, now time.Time) {
	for _, a := range runs {
		fmt.Fprintf(w, "├── analysis %s of %s on %s: %s  (started %s)\n", a.Kind, a.Revision, or(string(a.Color), "-"), a.Phase, ago(&a.StartedAt, now))
		if a.Message != "" {
			fmt.Fprintf(w, "│   %s\n", a.Message)
		}
		for _, c := range a.Checks {
			fmt.Fprintf(w, "│   check %s  %s  %d successful, %d failed, %d inconclusive\n", c.Name, c.Phase, c.Successful, c.Failed, c.Inconclusive)
			for _, m := range c.Measurements {
				line := fmt.Sprintf("│     %s  %s  %s", ago(&m.Time, now), or(m.Value, "-"), m.Verdict)
				if m.Message != "" {
					line += "  " + m.Message
				}
				fmt.Fprintln(w, line)
			}
		}
	}
}
