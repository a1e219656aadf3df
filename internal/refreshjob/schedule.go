package refreshjob

import (
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // the manager image has no zoneinfo of its own

	"github.com/robfig/cron/v3"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// InvalidSpecError is a spec that passed the API server's validation but
// cannot be acted on. It needs a person: retrying does not help.
type InvalidSpecError struct{ Message string }

func (e *InvalidSpecError) Error() string { return e.Message }

func invalidf(format string, args ...any) error {
	return &InvalidSpecError{Message: fmt.Sprintf(format, args...)}
}

// Schedule is a parsed cron schedule in its time zone.
type Schedule struct {
	sched cron.Schedule
	loc   *time.Location
}

// ParseSchedule parses a schedule as kube-controller-manager does (standard
// five fields or a macro) in the IANA zone timeZone; nil means the local
// zone, as for a CronJob without a time zone.
func ParseSchedule(schedule string, timeZone *string) (Schedule, error) {
	loc := time.Local
	if timeZone != nil {
		// The API server rejects a CronJob whose zone is "Local" or unknown.
		if strings.EqualFold(*timeZone, "Local") {
			return Schedule{}, invalidf("spec.timeZone %q is not an IANA time zone: name one explicitly, such as Etc/UTC or Europe/Berlin", *timeZone)
		}
		var err error
		if loc, err = time.LoadLocation(*timeZone); err != nil {
			return Schedule{}, invalidf("spec.timeZone %q is not a known IANA time zone (such as Etc/UTC or Europe/Berlin): %v", *timeZone, err)
		}
	}
	sched, err := cron.ParseStandard(schedule)
	if err != nil {
		return Schedule{}, invalidf("spec.schedule %q cannot be parsed: %v", schedule, err)
	}
	return Schedule{sched: sched, loc: loc}, nil
}

// Next is the first run strictly after now.
func (s Schedule) Next(now time.Time) time.Time {
	return s.sched.Next(now.In(s.loc))
}

// Validate checks what the API server could not: the name's length and the
// schedule and zone as the CronJob controller reads them.
func Validate(dr *deployv1alpha1.DatabaseRefresh) (Schedule, error) {
	if len(dr.Name) > MaxNameLength {
		return Schedule{}, invalidf("metadata.name %q is %d characters long; a DatabaseRefresh names its CronJob after itself and may be at most %d characters long", dr.Name, len(dr.Name), MaxNameLength)
	}
	return ParseSchedule(dr.Spec.Schedule, dr.Spec.TimeZone)
}
