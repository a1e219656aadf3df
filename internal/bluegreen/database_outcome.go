package bluegreen

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// DatabaseRecheck is how soon a site whose databases were just acted on is
// looked at again: the server sends no event when a step took effect. It
// is short because a cutover runs several steps one after another inside
// its write freeze (2 s each used to add about 10 s to the freeze), and
// only a site whose steps just ran is rechecked, never an idle one.
const DatabaseRecheck = 500 * time.Millisecond

// DatabaseOutcome is what one DatabaseStep did that status.database
// records; the zero value records nothing. Whoever runs the steps (the
// controller, the planner tests' simulator) hands each outcome to
// RecordDatabaseOutcome, the one place step results reach status.
type DatabaseOutcome struct {
	// MovedAsideTo is the name a MoveAside gave the database it moved; ""
	// when there was none to move.
	MovedAsideTo string
	// WritesSinceSwitch is how many rows the abandoned side wrote since the
	// switch, when a ReportWrites measured them.
	WritesSinceSwitch *int64
	// FrozenFor is how long the abandoned side refused writes until the
	// switch, when a MeasureFreeze measured it.
	FrozenFor *time.Duration
	// SwitchBaseline is the next database's counters after a CatchUp: the
	// rows it applied from the live one are not writes since the switch.
	SwitchBaseline *v1.DatabaseCounters
}

// RecordDatabaseOutcome folds what step did into d: a database moved aside
// is followed under its new name, the writes not carried back are counted,
// and the write freeze a switch ended is measured.
func RecordDatabaseOutcome(d *v1.DatabaseStatus, step DatabaseStep, o DatabaseOutcome) {
	if o.MovedAsideTo != "" {
		for _, name := range []*string{&d.PreviousName, &d.Blue, &d.Green} {
			if *name == step.Name {
				*name = o.MovedAsideTo
			}
		}
	}
	if o.WritesSinceSwitch != nil {
		d.WritesSinceSwitch = *o.WritesSinceSwitch
	}
	if o.SwitchBaseline != nil {
		d.SwitchBaseline = o.SwitchBaseline
	}
	if o.FrozenFor != nil {
		d.LastFreezeDuration = &metav1.Duration{Duration: o.FrozenFor.Round(time.Millisecond)}
	}
}
