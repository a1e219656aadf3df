package controllers_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/plugin"
)

// runPlugin runs `kubectl understudy -n <ns> args...` in-process against the
// suite's API server and returns what a person sees and the exit code.
func (s *site) runPlugin(args ...string) (out, errOut string, code int) {
	s.t.Helper()
	kubeconfig := filepath.Join(s.t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig, 0o600); err != nil {
		s.t.Fatal(err)
	}
	var o, e bytes.Buffer
	cmd := plugin.NewCommand(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &o, ErrOut: &e})
	cmd.SetArgs(append([]string{"--kubeconfig", kubeconfig, "-n", s.ns}, args...))
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		fmt.Fprintln(&e, "error:", err)
		return o.String(), e.String(), 1
	}
	return o.String(), e.String(), 0
}

// A migration that fails on the rehearsal copy is retried by fixing the
// migration and applying: the same revision is released again, and its
// rehearsal goes on to the wait for approval.
func TestFixedMigrationIsANewAttemptThatGoesOn(t *testing.T) {
	srv := postgresServer(t)
	s, _ := schemaSite(t, srv, "rh_retry", manualPromotion)
	s.update(func(sd *v1.SiteDeployment) {
		sd.Spec.Template = podTemplate("shop:2")
		sd.Spec.Database.SchemaRevision = "2"
	})
	r2 := s.revision()
	failed := s.migrationJob().Name
	s.finishJob(failed, false)
	sd := s.waitPhase(v1.PhaseDegraded)
	if c := condition(sd, v1.ConditionDegraded); c == nil || c.Reason != v1.ReasonMigrationFailed || !strings.Contains(c.Message, "fix what failed") {
		t.Fatalf("Degraded condition %+v", c)
	}
	s.waitDatabase("the copy given up", func(d *v1.DatabaseStatus) bool { return d.Candidate == nil })

	s.update(func(sd *v1.SiteDeployment) { sd.Spec.Database.Migration.Template = podTemplate("shop-migrate:2-fixed") })
	if ev := s.eventWith(v1.EventNewAttempt); !strings.Contains(ev.Note, "spec.database.migration changed") {
		t.Fatalf("event: %s", ev.Note)
	}
	var fixed string
	eventually(t, "the fixed migration's Job", func() error {
		for name, j := range s.migrationJobs() {
			if name != failed && j.Spec.Template.Spec.Containers[0].Image == "shop-migrate:2-fixed" {
				fixed = name
				return nil
			}
		}
		return fmt.Errorf("none yet")
	})
	sd = s.waitStage(v1.StageRehearsing, v1.StepMigrating)
	if sd.Status.Phase != v1.PhaseProgressing || sd.Status.AbortedRevision != "" ||
		!strings.HasPrefix(sd.Status.Message, "new attempt of revision "+r2+" (failed before): schema revision 2, rehearsing: ") {
		t.Fatalf("%s (aborted %q): %s", sd.Status.Phase, sd.Status.AbortedRevision, sd.Status.Message)
	}
	sqlExec(t, srv, s.db(v1.Green), migrationSQL)
	s.finishJob(fixed, true)
	s.available(v1.Green, r2, 1)
	s.waitPhase(v1.PhaseAwaitingPromotion)
	if !hasColumn(t, srv, s.db(v1.Green), "priority") {
		t.Fatal("the candidate does not run on the migrated rehearsal copy")
	}
}
