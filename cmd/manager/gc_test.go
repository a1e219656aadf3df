package main

import (
	"runtime/debug"
	"testing"
)

func TestGCPercentDefaultsAndGOGCWins(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "")
	if got := setGCPercent(defaultGCPercent); got != 25 || debug.SetGCPercent(25) != 25 {
		t.Fatalf("without GOGC the manager collects at %d%%, want 25%%", got)
	}
	t.Setenv("GOGC", "200")
	debug.SetGCPercent(200) // what the runtime read from GOGC at start
	if got := setGCPercent(defaultGCPercent); got != 200 || debug.SetGCPercent(200) != 200 {
		t.Fatalf("with GOGC=200 the manager collects at %d%%, want GOGC's 200%%", got)
	}
}
