package dbstate

import (
	"encoding/json"
	"strings"
	"time"
)

// Marker is what understudy writes into the comment of a database it
// created (COMMENT ON DATABASE), so it only ever drops its own databases:
// a name that fits a pattern is not enough, the comment must carry the
// marker too. The comment reads "<Tool>:<json>", for example
// understudy-refresh:{"role":"side","for":"app_dev","source":"nightly.dump","createdAt":"..."}.
type Marker struct {
	// Tool is who created the database ("understudy-refresh", ...); it is
	// the comment's prefix.
	Tool string `json:"-"`
	// Role says what the database is: "side" while being restored, "copy"
	// once swapped in.
	Role string `json:"role,omitempty"`
	// For is the database this one is a copy for.
	For string `json:"for,omitempty"`
	// Source says where the data came from.
	Source string `json:"source,omitempty"`
	// Revision is the schema revision the database was made for (database
	// copies of blue/green releases); empty for other tools.
	Revision string `json:"revision,omitempty"`
	// CreatedAt is when the database was created.
	CreatedAt time.Time `json:"createdAt"`
}

// Comment renders m as a database comment.
func (m Marker) Comment() string {
	b, _ := json.Marshal(m) // a struct of strings and a time cannot fail
	return m.Tool + ":" + string(b)
}

// ParseMarker reads the marker of tool from a database comment. ok is false
// when the comment does not carry tool's marker.
func ParseMarker(tool, comment string) (m Marker, ok bool) {
	rest, found := strings.CutPrefix(comment, tool+":")
	if !found || tool == "" {
		return Marker{}, false
	}
	if err := json.Unmarshal([]byte(rest), &m); err != nil {
		return Marker{}, false
	}
	m.Tool = tool
	return m, true
}
