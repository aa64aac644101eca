package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hpguard/hpguard/internal/check"
	"github.com/hpguard/hpguard/internal/cluster"
)

// auditParams are the flags of `audit` that choose the cluster and the objects.
type auditParams struct {
	cluster.Options
}

func newAuditCmd() *cobra.Command {
	p := defaultCheckParams()
	var a auditParams
	cmd := &cobra.Command{
		Use:   "audit [flags]",
		Short: "Check the workloads of a live cluster against the HostProcess policies",
		Long: "audit reads the workloads of a running cluster through a kubeconfig, as kubectl does (Pods,\n" +
			"PodTemplates, ReplicationControllers, ReplicaSets, Deployments, DaemonSets, StatefulSets, Jobs and\n" +
			"CronJobs, listed page by page), and reports them as check reports manifests: same policies, engines,\n" +
			"formats and exit status (0 no failing finding, 1 failing findings, 2 an error, such as a kind the\n" +
			"user may not list). Each object is named by its API path; lines point into `kubectl get -o yaml`.\n" +
			"Pods made by a controller are reported too: a running pod can differ from its controller's\n" +
			"current template (an older revision, ephemeral containers).",
		Example: "  hpguard audit -A\n  hpguard audit --context prod -n kube-system -l app=agent -o sarif > audit.sarif",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := configure(cmd.Flags(), &p); err != nil {
				return usageError(err)
			}
			if a.AllNamespaces && cmd.Flags().Changed("namespace") {
				return usageError(fmt.Errorf("--namespace and --all-namespaces exclude each other"))
			}
			p.cluster = func(ctx context.Context) ([]check.Source, error) {
				objs, t, err := cluster.List(ctx, a.Options)
				if err != nil {
					return nil, err
				}
				if p.verbose {
					ns := t.Namespace
					if ns == "" {
						ns = "all namespaces"
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "hpguard: audit of context %q (%s), %s: %d objects\n", t.Context, t.Host, ns, len(objs))
				}
				out := make([]check.Source, 0, len(objs))
				for _, o := range objs {
					out = append(out, check.Source{Name: o.Name, Data: o.Data, Err: o.Err})
				}
				return out, nil
			}
			return runCheck(cmd.Context(), p, nil, nil, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	p.evalFlags(f)
	f.StringVar(&a.Kubeconfig, "kubeconfig", "", "kubeconfig `FILE` (default: $KUBECONFIG, else ~/.kube/config, as kubectl)")
	f.StringVar(&a.Context, "context", "", "kubeconfig `CONTEXT` (default: the current context)")
	f.StringVarP(&a.Namespace, "namespace", "n", "", "`NAMESPACE` to audit (default: the context's namespace, else default)")
	f.BoolVarP(&a.AllNamespaces, "all-namespaces", "A", false, "audit every namespace")
	f.StringVarP(&a.Selector, "selector", "l", "", "label `SELECTOR`, as kubectl -l (e.g. app=agent,tier!=web)")
	f.Int64Var(&a.ChunkSize, "chunk-size", cluster.DefaultChunkSize, "`N` objects per list request (pages through large lists)")
	return cmd
}
