// Command hpguard checks Kubernetes manifests against Windows HostProcess pod policies and generates
// those policies (Rego, Gatekeeper, OPA bundle) from one declarative spec.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := newRootCmd(os.Stdin, os.Stdout, os.Stderr).ExecuteContext(ctx)
	stop()
	os.Exit(exitCode(err))
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
