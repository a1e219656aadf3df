package postgres

import "github.com/understudy-dev/understudy/internal/dbstate"

// Marker is dbstate.Marker: the marker lives with the plain values the
// planner reads, and keeps its name here for the code that writes it.
type Marker = dbstate.Marker

// ParseMarker reads the marker of tool from a database comment (see
// dbstate.ParseMarker).
func ParseMarker(tool, comment string) (Marker, bool) { return dbstate.ParseMarker(tool, comment) }
