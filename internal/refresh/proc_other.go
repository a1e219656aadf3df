//go:build !linux

package refresh

import "os/exec"

func setParentDeathSignal(*exec.Cmd) {}

func runAs(*exec.Cmd, *osUser) {}
