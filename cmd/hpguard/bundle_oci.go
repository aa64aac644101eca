package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hpguard/hpguard/internal/bundle"
	"github.com/hpguard/hpguard/internal/engine"
	"github.com/hpguard/hpguard/internal/oci"
)

// registryFlags are the flags of every command that talks to a registry.
type registryFlags struct {
	plainHTTP      bool
	registryConfig string
}

func (r *registryFlags) add(f *pflag.FlagSet) {
	f.BoolVar(&r.plainHTTP, "plain-http", false, "talk HTTP to the registry instead of HTTPS (loopback registries always use HTTP)")
	f.StringVar(&r.registryConfig, "registry-config", "", "Docker configuration `FILE` with the registry credentials (default: $DOCKER_CONFIG/config.json or ~/.docker/config.json)")
}

func (r registryFlags) options() oci.Options {
	return oci.Options{PlainHTTP: r.plainHTTP, DockerConfig: r.registryConfig}
}

type bundlePushParams struct {
	registry registryFlags
	key      string
	tags     []string
}

func newBundlePushCmd() *cobra.Command {
	var p bundlePushParams
	cmd := &cobra.Command{
		Use:   "push REF [FILE]",
		Short: "Publish a bundle to an OCI registry, for OPA, conftest and hpguard to pull",
		Long: "push publishes the bundle FILE (default " + bundle.Path + ") to REF (REGISTRY/REPOSITORY[:TAG], tag latest\n" +
			"when none) as one OCI manifest: the bundle tarball as an application/vnd.oci.image.layer.v1.tar+gzip\n" +
			"layer (what OPA's OCI bundle downloader reads; a signed bundle carries its .signatures.json inside),\n" +
			"then one layer per Rego module and one for data.json (what `conftest pull` writes out). It prints the\n" +
			"manifest digest: pin a rollout with REPOSITORY@DIGEST. Credentials come from the Docker configuration\n" +
			"(docker login, oras login). With --verification-key the bundle must verify before it is pushed.\n" +
			"--tag gives the same manifest further tags (a release as 1.3.0, 1.3 and latest) once it is pushed.",
		Example: "  hpguard bundle build -o dist/hpguard.tar.gz --signing-key private.pem\n" +
			"  hpguard bundle push registry.example.com/policy/hpguard:1.3.0 dist/hpguard.tar.gz --verification-key public.pem --tag 1.3 --tag latest",
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			file := bundle.Path
			if len(args) == 2 {
				file = args[1]
			}
			return runBundlePush(cmd.Context(), p, args[0], file, cmd.OutOrStdout())
		},
	}
	p.registry.add(cmd.Flags())
	cmd.Flags().StringVar(&p.key, "verification-key", "", "PEM public key `FILE`: refuse to push a bundle that does not verify with it")
	cmd.Flags().StringArrayVar(&p.tags, "tag", nil, "also tag the pushed manifest `TAG` in the same repository; repeatable")
	return cmd
}

func runBundlePush(ctx context.Context, p bundlePushParams, ref, file string, stdout io.Writer) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return usageError(err)
	}
	if _, err := bundle.LoadFile(file, p.key); err != nil {
		return &exitError{code: 1, err: fmt.Errorf("not pushed: %w", err)}
	}
	ref, _ = oci.TrimScheme(ref)
	pushed, err := oci.Push(ctx, ref, data, p.registry.options(), p.tags...)
	if err != nil {
		return err
	}
	repo := pushed.Reference
	if i := lastTagColon(repo); i >= 0 {
		repo = repo[:i]
	}
	fmt.Fprintf(stdout, "pushed %s (%d layers): %s@%s\n", pushed.Reference, pushed.Layers, repo, pushed.Digest)
	for _, t := range pushed.Tags {
		fmt.Fprintf(stdout, "tagged %s:%s\n", repo, t)
	}
	return nil
}

// lastTagColon is the index of the colon before the tag of a reference, or -1.
func lastTagColon(ref string) int {
	for i := len(ref) - 1; i >= 0; i-- {
		switch ref[i] {
		case ':':
			return i
		case '/':
			return -1
		}
	}
	return -1
}

type bundlePullParams struct {
	registry registryFlags
	key      string
	output   string
}

func newBundlePullCmd() *cobra.Command {
	p := bundlePullParams{output: bundle.Path}
	cmd := &cobra.Command{
		Use:   "pull REF",
		Short: "Fetch a bundle from an OCI registry",
		Long: "pull fetches the bundle published at REF (REGISTRY/REPOSITORY[:TAG|@DIGEST]) and writes it to -o FILE.\n" +
			"Every blob is checked against its digest, and the per-file layers must hold exactly the bundle's files.\n" +
			"With --verification-key the bundle must be signed with the key and untampered, or nothing is written.\n" +
			"`hpguard check --bundle oci://REF` evaluates a bundle from a registry without writing it.",
		Example: "  hpguard bundle pull registry.example.com/policy/hpguard@sha256:... -o hpguard.tar.gz --verification-key public.pem",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBundlePull(cmd.Context(), p, args[0], cmd.OutOrStdout())
		},
	}
	p.registry.add(cmd.Flags())
	cmd.Flags().StringVar(&p.key, "verification-key", "", "PEM public key `FILE`: the bundle must be signed with it and untampered")
	cmd.Flags().StringVarP(&p.output, "output", "o", p.output, "bundle `FILE` to write (- for standard output)")
	return cmd
}

func runBundlePull(ctx context.Context, p bundlePullParams, ref string, stdout io.Writer) error {
	key, err := bundle.ReadKey(p.key)
	if err != nil {
		return usageError(fmt.Errorf("--verification-key: %w", err))
	}
	pulled, err := oci.Pull(ctx, ref, p.registry.options())
	if err != nil {
		return err
	}
	if _, err := bundle.Load(pulled.Data, key); err != nil {
		return &exitError{code: 1, err: fmt.Errorf("%s: %w", ref, err)}
	}
	if err := writeBundle(p.output, pulled.Data, stdout); err != nil || p.output == "-" {
		return err
	}
	verified := "not verified (no --verification-key)"
	if key != nil {
		verified = "verified"
	}
	fmt.Fprintf(stdout, "pulled %s (%s) to %s, %d bytes, %s\n", ref, pulled.Digest, p.output, len(pulled.Data), verified)
	return nil
}

// loadOCIBundle pulls and loads the bundle of an oci:// reference, verified when keyFile is set
// (check --bundle oci://REF, diff).
func loadOCIBundle(ctx context.Context, ref, keyFile string) (*engine.Policy, error) {
	key, err := bundle.ReadKey(keyFile)
	if err != nil {
		return nil, fmt.Errorf("verification key: %w", err)
	}
	pulled, err := oci.Pull(ctx, ref, oci.Options{})
	if err != nil {
		return nil, err
	}
	pol, err := bundle.Load(pulled.Data, key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	return pol, nil
}
