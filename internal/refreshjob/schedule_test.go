package refreshjob

import (
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

func TestScheduleNextInZone(t *testing.T) {
	tests := []struct {
		name, schedule string
		zone           *string
		now, want      time.Time
	}{{
		name: "Berlin in winter is UTC+1", schedule: "0 3 * * *", zone: ptr.To("Europe/Berlin"),
		now:  time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC),
		want: time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC),
	}, {
		name: "Berlin in summer is UTC+2", schedule: "0 3 * * *", zone: ptr.To("Europe/Berlin"),
		now:  time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC),
		want: time.Date(2026, 7, 1, 1, 0, 0, 0, time.UTC),
	}, {
		name: "the run at now is not next", schedule: "0 3 * * *", zone: ptr.To("Etc/UTC"),
		now:  time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC),
		want: time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC),
	}, {
		name: "a macro", schedule: "@hourly", zone: ptr.To("Asia/Kolkata"),
		now:  time.Date(2026, 11, 27, 3, 10, 0, 0, time.UTC),
		want: time.Date(2026, 11, 27, 3, 30, 0, 0, time.UTC), // UTC+5:30: the hour starts at :30 UTC
	}, {
		name: "New York skips 02:30 on the spring-forward day", schedule: "30 2 * * *", zone: ptr.To("America/New_York"),
		now:  time.Date(2026, 3, 8, 5, 0, 0, 0, time.UTC),  // 00:00 EST on 8 March 2026
		want: time.Date(2026, 3, 9, 6, 30, 0, 0, time.UTC), // 02:30 EDT on 9 March
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseSchedule(tt.schedule, tt.zone)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Next(tt.now); !got.Equal(tt.want) {
				t.Errorf("next run after %s = %s, want %s", tt.now, got.UTC(), tt.want)
			}
		})
	}
}

func TestInvalidSchedulesAreInvalidSpec(t *testing.T) {
	tests := []struct {
		name, schedule string
		zone           *string
		objName        string
		want           string
	}{
		{"unknown zone", "0 3 * * *", ptr.To("Mars/Olympus"), "dbr", `spec.timeZone "Mars/Olympus" is not a known IANA time zone`},
		{"Local is not explicit", "0 3 * * *", ptr.To("Local"), "dbr", `spec.timeZone "Local" is not an IANA time zone`},
		{"out of range", "0 25 * * *", nil, "dbr", `spec.schedule "0 25 * * *" cannot be parsed`},
		{"six fields", "0 0 3 * * *", nil, "dbr", `spec.schedule "0 0 3 * * *" cannot be parsed`},
		{"name too long for a CronJob", "0 3 * * *", nil, strings.Repeat("a", 53), "may be at most 52 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dr := &deployv1alpha1.DatabaseRefresh{
				ObjectMeta: metav1.ObjectMeta{Name: tt.objName},
				Spec:       deployv1alpha1.DatabaseRefreshSpec{Schedule: tt.schedule, TimeZone: tt.zone},
			}
			_, err := Validate(dr)
			var invalid *InvalidSpecError
			if !errors.As(err, &invalid) {
				t.Fatalf("Validate = %v, want an InvalidSpecError", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("message %q does not say %q", err, tt.want)
			}
		})
	}
}
