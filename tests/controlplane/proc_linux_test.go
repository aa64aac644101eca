package controlplane

import "syscall"

// procAttr puts a started process in its own process group, so that stopping the group stops its
// children too, and has the kernel kill it if the test binary dies first.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
