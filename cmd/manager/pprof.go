package main

import (
	"fmt"
	"net"
)

// loopbackOnly accepts an empty address (the profiler off) or a host:port
// whose host is a loopback IP or localhost: the profiler exposes the
// process's memory and goroutines, so it is never served to the network.
func loopbackOnly(addr string) error {
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%q is not a loopback address (use 127.0.0.1:port)", addr)
}
