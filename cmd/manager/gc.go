package main

import (
	"os"
	"runtime/debug"
)

// defaultGCPercent is the heap growth that triggers a collection. The
// manager waits on the API server, not the CPU (about a tenth of a core in
// a release of 1,000 sites, docs/design/scale.md), so it collects at 25%
// growth rather than Go's 100%: its heap peaks at 1.25x what is live
// instead of 2x, for the CPU of four times as many collections (each as
// costly as before: marking is proportional to what is live).
const defaultGCPercent = 25

// setGCPercent applies percent unless GOGC is set in the environment,
// which wins as it does for any Go program; it returns what applies.
func setGCPercent(percent int) int {
	if os.Getenv("GOGC") != "" {
		current := debug.SetGCPercent(100) // read it, and put it back
		debug.SetGCPercent(current)
		return current
	}
	debug.SetGCPercent(percent)
	return percent
}
