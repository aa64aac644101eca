package main

import (
	"io"

	"github.com/spf13/cobra"
)

func newRootCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "hpguard",
		Short: "Policy toolkit for Windows HostProcess pods",
		Long: "hpguard checks Kubernetes manifests for Windows HostProcess pods that would be rejected or run\n" +
			"unsafely, with the same policies it ships for OPA, conftest and Gatekeeper.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newCheckCmd(),
		newAuditCmd(),
		newGenerateCmd(),
		newInitCmd(),
		newNewCmd(),
		newReportCmd(),
		newRulesCmd(),
		newVersionCmd(),
		newDocsCmd(),
		newBundleCmd(),
		newDiffCmd(),
	)
	registerCompletions(root)
	return root
}
