package refresh

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal kills a child when the runner dies, even by
// SIGKILL, so no pg_restore keeps writing into a side database nobody owns.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
