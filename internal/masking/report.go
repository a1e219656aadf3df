package masking

import (
	"fmt"
	"strings"
)

// Bounds of the lists a Report carries: it travels in the runner's
// termination message (4 KiB) and in status.
const (
	MaxListed      = 20
	maxListedBytes = 600
)

// Report is what the comparison of a policy with a copy found. Its lists
// are bounded (MaxListed names, 600 bytes); the counts are not.
type Report struct {
	Columns           int      `json:"columns,omitempty"`
	Unclassified      []string `json:"unclassified,omitempty"`
	UnclassifiedCount int      `json:"unclassifiedCount,omitempty"`
	Unknown           []string `json:"unknown,omitempty"`
	UnknownCount      int      `json:"unknownCount,omitempty"`
}

// PolicyError is a policy that does not fit the copy: columns it does not
// classify, names the copy does not have, masks that cannot apply. Each
// list is complete; Error() names a bounded part of each.
type PolicyError struct {
	Unclassified []string
	Unknown      []string
	Invalid      []string
}

func (e *PolicyError) Error() string {
	var parts []string
	if n := len(e.Unclassified); n > 0 {
		parts = append(parts, fmt.Sprintf("spec.masking does not classify %d %s of the restored tables: %s: add each to its table's keep or mask list in spec.masking, or truncate its table",
			n, plural(n, "column", "columns"), listing(e.Unclassified)))
	}
	if n := len(e.Unknown); n > 0 {
		parts = append(parts, fmt.Sprintf("spec.masking names %d %s the restored copy does not have: %s: remove %s or correct the name (schema.table, column names as stored)",
			n, plural(n, "table or column", "tables or columns"), listing(e.Unknown), plural(n, "it", "them")))
	}
	if n := len(e.Invalid); n > 0 {
		parts = append(parts, fmt.Sprintf("%d %s cannot apply: %s", n, plural(n, "mask", "masks"), listing(e.Invalid)))
	}
	return strings.Join(parts, "; ")
}

// report is the bounded summary of e for a copy with columns columns.
func (e *PolicyError) report(columns int) Report {
	return Report{
		Columns:      columns,
		Unclassified: Bounded(e.Unclassified), UnclassifiedCount: len(e.Unclassified),
		Unknown: Bounded(e.Unknown), UnknownCount: len(e.Unknown),
	}
}

// Bounded is the longest prefix of names within MaxListed names and 600
// bytes.
func Bounded(names []string) []string {
	size := 0
	for i, n := range names {
		size += len(n) + 2
		if i == MaxListed || size > maxListedBytes {
			return names[:i:i]
		}
	}
	return names
}

// listing names the bounded part of names, and how many more there are.
func listing(names []string) string {
	shown := Bounded(names)
	s := strings.Join(shown, ", ")
	if rest := len(names) - len(shown); rest > 0 {
		s += fmt.Sprintf(" and %d more", rest)
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
