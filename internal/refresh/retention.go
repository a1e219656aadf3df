package refresh

import (
	"context"
	"regexp"
	"sort"

	"github.com/jackc/pgx/v5"

	"github.com/understudy-dev/understudy/internal/postgres"
)

// keptCopies lists the previous copies of target the runner may drop,
// newest first: a name <target>_prev_<14 digits> AND a comment with the
// runner's marker for that target. Anything else is never touched.
func keptCopies(dbs []postgres.Database, target string) []string {
	re := regexp.MustCompile("^" + regexp.QuoteMeta(target) + `_prev_[0-9]{14}$`)
	var names []string
	for _, d := range dbs {
		if !re.MatchString(d.Name) {
			continue
		}
		if m, ok := postgres.ParseMarker(Tool, d.Comment); ok && m.For == target {
			names = append(names, d.Name)
		}
	}
	// The timestamp suffix sorts as text in time order.
	sort.Sort(sort.Reverse(sort.StringSlice(names)))
	return names
}

// retain drops kept copies beyond Options.KeepPrevious. The refresh has
// already succeeded: failures become warnings.
func (r *run) retain(ctx context.Context, admin *pgx.Conn) {
	dbs, err := postgres.ListDatabases(ctx, admin)
	if err != nil {
		r.warn("cannot list the previous copies", err)
		return
	}
	copies := keptCopies(dbs, r.o.TargetDB)
	if len(copies) <= r.o.KeepPrevious {
		return
	}
	for _, name := range copies[r.o.KeepPrevious:] {
		r.log.Info("dropping an old copy", "database", name, "keepPrevious", r.o.KeepPrevious)
		if err := postgres.DropDatabase(ctx, admin, name); err != nil {
			r.warn("cannot drop an old copy", err)
			continue
		}
		r.res.Dropped = append(r.res.Dropped, name)
	}
}
