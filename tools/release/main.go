// Command release builds hpguard's release artifacts from a commit of the repository, reproducibly:
// the same commit gives the same bytes, on any machine with the same Go version.
//
//	go run . -source ../.. -dist ../../dist            # every platform (make release-snapshot)
//	go run . -targets linux/amd64,windows/amd64 ...    # some
//
// It writes, into -dist:
//
//	hpguard_VERSION_OS_ARCH.tar.gz (.zip for windows)   the binary and README.md
//	hpguard_VERSION_OS_ARCH.sbom.cdx.json               CycloneDX SBOM of the binary (cyclonedx-gomod)
//	hpguard_VERSION_linux_ARCH.image.tar                container image (go-containerregistry), docker/podman load or crane push
//	checksums.txt                                       SHA-256 of every file above
//	hpguard.rb, krew/hpguard.yaml                       Homebrew formula and krew plugin manifest
//	release.json                                        the release data the formula and manifest are made from
//
// Every timestamp is the commit's time (SOURCE_DATE_EPOCH overrides it); owners are 0, files are
// sorted. The binaries are built with -trimpath, CGO_ENABLED=0 and the VCS stamp of the commit.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
)

func main() {
	var cfg Config
	var targets string
	flag.StringVar(&cfg.Source, "source", "../..", "repository `DIR` to build (its HEAD must be committed)")
	flag.StringVar(&cfg.Dist, "dist", "../../dist", "output `DIR` (emptied first)")
	flag.StringVar(&targets, "targets", strings.Join(DefaultTargets, ","), "comma-separated `OS/ARCH` list")
	flag.StringVar(&cfg.Version, "version", "", "release `VERSION` (default: the tag at HEAD without its v, else 0.0.0-SNAPSHOT-<short commit>)")
	flag.StringVar(&cfg.BaseURL, "base-url", "https://github.com/hpguard/hpguard/releases/download", "`URL` the archives are published under (URL/vVERSION/ARCHIVE)")
	flag.StringVar(&cfg.Image, "image", "ghcr.io/hpguard/hpguard", "image `REPOSITORY` the image tarballs are tagged with")
	flag.BoolVar(&cfg.NoSBOM, "no-sbom", false, "skip the SBOMs")
	flag.Parse()
	cfg.Targets = splitTargets(targets)
	r, err := Build(context.Background(), cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
	fmt.Printf("release %s (commit %s, %s): %d files in %s\n", r.Version, r.Commit, r.Time.UTC().Format("2006-01-02T15:04:05Z"), len(r.Files), cfg.Dist)
}

func splitTargets(s string) []string {
	var out []string
	for _, t := range strings.Split(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}
