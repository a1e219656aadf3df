package main

import (
	"os"
	"runtime/debug"
)

// defaultGCPercent is the heap growth that triggers a collection. The
// manager waits on the API server, not the CPU (about a tenth of a core in
// a release of 1,000 sites, docs/design/scale.md), so it collects at 50%
// growth rather than Go's 100%: about a third less memory for some CPU.
const defaultGCPercent = 50

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
