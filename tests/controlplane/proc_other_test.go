//go:build !linux

package controlplane

import "syscall"

// procAttr puts a started process in its own process group, so that stopping the group stops its
// children too.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
