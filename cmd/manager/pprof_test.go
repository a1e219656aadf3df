package main

import "testing"

func TestProfilerOnlyOnLoopback(t *testing.T) {
	for _, ok := range []string{"", "127.0.0.1:6060", "localhost:0", "[::1]:6060"} {
		if err := loopbackOnly(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{":6060", "0.0.0.0:6060", "10.0.0.5:6060", "example.com:6060", "6060"} {
		if err := loopbackOnly(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
