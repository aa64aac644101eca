# Release artifacts (tools/release, a module of its own: cyclonedx-gomod, go-containerregistry and krew
# stay out of hpguard's go.mod). A release is built from a commit (HEAD must be committed): archives for
# linux, darwin and windows on amd64 and arm64 (-trimpath, CGO_ENABLED=0, version and commit stamped,
# VCS data in the build info), a CycloneDX SBOM per binary, a container image tarball per Linux
# architecture (static binary, user 65532, no base image), checksums.txt, the Homebrew formula and the
# krew manifest, all with the commit's time (SOURCE_DATE_EPOCH overrides it) so that the same commit
# gives the same bytes.
#
# release-test builds linux/amd64 and windows/amd64 twice from two clones of HEAD at different paths,
# compares every byte, reads the Windows binary's PE header and build info, runs the Linux binary from
# its archive, reads the image and the SBOM, and installs the krew manifest with the real krew (kubectl
# hpguard version). About 70 s with a warm build cache; the first Windows build of a machine compiles
# every dependency for Windows (about 4 minutes on 2 cores). HPGUARD_RELEASE_COLD=1 makes the second
# build use an empty build cache, so that no compiled package is shared between the two (13 minutes
# on 2 cores for linux/amd64 and windows/amd64: not part of make test).

.PHONY: release-snapshot
release-snapshot: ## Build every release artifact of HEAD into dist/: archives, checksums, SBOMs, image tarballs, Homebrew formula, krew manifest
	cd tools/release && $(GO) run . -source ../.. -dist ../../dist

.PHONY: release-test
release-test: ## Build the release of HEAD twice (linux/amd64, windows/amd64), compare the bytes and read what was built (tools/release)
	cd tools/release && $(GO) vet . && $(GO) test -count=1 -v -timeout 40m .

TEST_TARGETS += release-test
