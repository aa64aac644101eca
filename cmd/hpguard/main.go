// Command hpguard checks Kubernetes manifests against Windows HostProcess pod policies and generates
// those policies (Rego, Gatekeeper, OPA bundle) from one declarative spec.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	root := newRootCmd(os.Stdin, os.Stdout, os.Stderr)
	asKubectlPlugin(root, os.Args[0])
	err := root.ExecuteContext(ctx)
	stop()
	os.Exit(exitCode(err))
}

// asKubectlPlugin makes help and usage say "kubectl hpguard" when the binary runs as a kubectl
// plugin (installed by krew as kubectl-hpguard, or so named on the PATH).
func asKubectlPlugin(root *cobra.Command, arg0 string) {
	name := strings.TrimSuffix(strings.ToLower(filepath.Base(arg0)), ".exe")
	if name == "kubectl-hpguard" {
		if root.Annotations == nil {
			root.Annotations = map[string]string{}
		}
		root.Annotations[cobra.CommandDisplayNameAnnotation] = "kubectl hpguard"
	}
}

// exitError carries an exit code to main; nothing below main calls os.Exit.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// Exit codes.
const (
	exitOK       = 0
	exitFindings = 1
	exitError2   = 2
)

// usageError marks an error as a usage or input error (exit 2).
func usageError(err error) error { return &exitError{code: exitError2, err: err} }

func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(os.Stderr, "hpguard:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(os.Stderr, "hpguard:", err)
	return exitError2
}
