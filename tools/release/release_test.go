package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/pe"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/krew/pkg/index"
	"sigs.k8s.io/yaml"
)

// testTargets are the platforms the test releases: the one most users run and the one HostProcess
// administrators run.
var testTargets = []string{"linux/amd64", "windows/amd64"}

// cloneHead clones a repository's HEAD (what CI checks out) into a new directory.
func cloneHead(t *testing.T, repo, dir string) string {
	t.Helper()
	out, err := exec.Command("git", "clone", "--quiet", "--no-hardlinks", repo, dir).CombinedOutput()
	require.NoError(t, err, string(out))
	return dir
}

func readDist(t *testing.T, dist string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	require.NoError(t, filepath.WalkDir(dist, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		r, _ := filepath.Rel(dist, p)
		files[filepath.ToSlash(r)] = data
		return err
	}))
	return files
}

// TestRelease builds the release of HEAD twice, from two clones at different paths, and checks
// that every file is byte-identical; then reads what was built as its users would: the Windows
// binary's PE header and build info, the Linux binary run from its archive, the image's config and
// layer, the SBOM, the checksums, the Homebrew formula, and the krew manifest installed by the real
// krew (kubectl hpguard version).
func TestRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("builds hpguard four times")
	}
	ctx := context.Background()
	tmp := t.TempDir()
	var rels [2]*Release
	var dists [2]string
	// Both clones before either build, the second from the first: the same commit even if the
	// repository moves on meanwhile.
	srcs := [2]string{cloneHead(t, filepath.Join("..", ".."), filepath.Join(tmp, "a", "hpguard")), ""}
	srcs[1] = cloneHead(t, srcs[0], filepath.Join(tmp, "clone-at-another-path", "hpguard"))
	for i, name := range []string{"a", "clone-at-another-path"} {
		src := srcs[i]
		dists[i] = filepath.Join(tmp, name, "dist")
		cfg := Config{Source: src, Dist: dists[i], Targets: testTargets,
			BaseURL: "https://example.invalid/releases", Image: "example.invalid/hpguard"}
		if i == 1 && os.Getenv("HPGUARD_RELEASE_COLD") != "" {
			// The second build compiles everything again in an empty build cache (slow: the whole
			// dependency tree, per platform), so that no compiled package is shared between them.
			cfg.GoEnv = []string{"GOCACHE=" + filepath.Join(tmp, "gocache")}
		}
		start := time.Now()
		r, err := Build(ctx, cfg)
		require.NoError(t, err)
		t.Logf("build %d (%s): %s, %d files", i+1, strings.Join(testTargets, ", "), time.Since(start).Round(time.Second), len(r.Files))
		rels[i] = r
	}
	first, second := readDist(t, dists[0]), readDist(t, dists[1])
	require.NotEmpty(t, first)
	names := func(m map[string][]byte) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		return out
	}
	require.ElementsMatch(t, names(first), names(second), "both builds write the same files")
	for name, data := range first {
		assert.True(t, bytes.Equal(data, second[name]), "%s differs between two builds of the same commit", name)
	}

	rel := rels[0]
	head, err := git(ctx, srcs[0], "rev-parse", "HEAD")
	require.NoError(t, err)
	assert.Equal(t, head, rel.Commit)
	assert.Equal(t, "0.0.0-SNAPSHOT-"+head[:12], rel.Version, "HEAD has no v-tag: a snapshot version")
	want := []string{"checksums.txt", "hpguard.rb", "krew/hpguard.yaml", "release.json"}
	for _, a := range rel.Artifacts {
		want = append(want, a.Archive, a.SBOM)
		if a.Image != "" {
			want = append(want, a.Image)
		}
	}
	assert.ElementsMatch(t, want, names(first))

	t.Run("checksums", func(t *testing.T) {
		lines := strings.Split(strings.TrimSpace(string(first["checksums.txt"])), "\n")
		assert.Len(t, lines, len(first)-1, "one line per file but checksums.txt")
		for _, l := range lines {
			sum, name, ok := strings.Cut(l, "  ")
			require.True(t, ok, l)
			got := sha256.Sum256(first[name])
			assert.Equal(t, hex.EncodeToString(got[:]), sum, name)
		}
		if _, err := exec.LookPath("sha256sum"); err == nil {
			cmd := exec.Command("sha256sum", "--check", "--strict", "checksums.txt")
			cmd.Dir = dists[0]
			out, err := cmd.CombinedOutput()
			assert.NoError(t, err, string(out))
		}
	})

	var linuxBinary []byte
	for _, a := range rel.Artifacts {
		a := a
		t.Run(a.OS+"_"+a.Arch, func(t *testing.T) {
			sum := sha256.Sum256(first[a.Archive])
			assert.Equal(t, hex.EncodeToString(sum[:]), a.SHA256)
			assert.Equal(t, "https://example.invalid/releases/v"+rel.Version+"/"+a.Archive, a.URL)
			files := readArchive(t, a.Archive, first[a.Archive], rel.Time)
			require.Contains(t, files, a.Binary)
			require.Contains(t, files, "README.md")
			bin := files[a.Binary]
			checkBuildInfo(t, bin, a, rel)
			assert.False(t, bytes.Contains(bin, []byte(tmp)), "-trimpath: the build directory is not in the binary")
			switch a.OS {
			case "windows":
				checkPE(t, bin, a.Arch)
			case "linux":
				linuxBinary = bin
				if a.Arch == runtime.GOARCH {
					checkVersionOutput(t, bin, rel)
				}
				checkImage(t, filepath.Join(dists[0], a.Image), bin, a, rel)
			}
			checkSBOM(t, first[a.SBOM], a, rel, srcs[0])
		})
	}

	t.Run("homebrew", func(t *testing.T) {
		f := string(first["hpguard.rb"])
		assert.Contains(t, f, "class Hpguard < Formula")
		assert.Contains(t, f, `version "`+rel.Version+`"`)
		for _, a := range rel.Artifacts {
			if a.OS == "windows" {
				assert.NotContains(t, f, a.URL, "Homebrew has no Windows")
				continue
			}
			assert.Contains(t, f, "url \""+a.URL+"\"\n      sha256 \""+a.SHA256+"\"", "the formula's url and sha256 for %s/%s", a.OS, a.Arch)
		}
		open, closed := 0, 0
		for _, l := range strings.Split(f, "\n") {
			l = strings.TrimSpace(l)
			switch {
			case strings.HasPrefix(l, "class ") || strings.HasPrefix(l, "def ") || strings.HasSuffix(l, " do"):
				open++
			case l == "end":
				closed++
			}
		}
		assert.Equal(t, open, closed, "every class, def and do block is closed")
		oses, brewed := map[string]bool{}, 0
		for _, a := range rel.Artifacts {
			if a.OS != "windows" {
				oses[a.OS] = true
				brewed++
			}
		}
		assert.Equal(t, 2+len(oses)+2*brewed, open, "class and test, a block per OS, and per platform an arch block and install")
	})

	t.Run("krew", func(t *testing.T) {
		var p index.Plugin
		require.NoError(t, yaml.UnmarshalStrict(first["krew/hpguard.yaml"], &p))
		assert.Equal(t, "hpguard", p.Name)
		assert.Equal(t, "v"+rel.Version, p.Spec.Version)
		require.Len(t, p.Spec.Platforms, len(rel.Artifacts))
		if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" || linuxBinary == nil {
			t.Skip("krew installs the linux/amd64 archive")
		}
		// The real krew, at the version of tools/release/go.mod, installs the plugin from the
		// manifest and the archive (it checks the sha256 and the platform selector, extracts,
		// and links kubectl-hpguard), then kubectl's way of running it: kubectl-hpguard on the PATH.
		root := t.TempDir()
		krew := filepath.Join(root, "krew-bin")
		out, err := exec.Command("go", "build", "-o", krew, "sigs.k8s.io/krew/cmd/krew").CombinedOutput()
		require.NoError(t, err, string(out))
		var archive string
		for _, a := range rel.Artifacts {
			if a.OS == "linux" && a.Arch == "amd64" {
				archive = filepath.Join(dists[0], a.Archive)
			}
		}
		cmd := exec.Command(krew, "install", "--manifest="+filepath.Join(dists[0], "krew", "hpguard.yaml"), "--archive="+archive)
		cmd.Env = append(os.Environ(), "KREW_ROOT="+filepath.Join(root, "krew"), "KREW_NO_UPGRADE_CHECK=1")
		out, err = cmd.CombinedOutput()
		require.NoError(t, err, "krew install: %s", out)
		plugin := filepath.Join(root, "krew", "bin", "kubectl-hpguard")
		out, err = exec.Command(plugin, "version").CombinedOutput()
		require.NoError(t, err, string(out))
		assert.Contains(t, string(out), rel.Version)
		out, err = exec.Command(plugin, "check", "--help").CombinedOutput()
		require.NoError(t, err, string(out))
		assert.Contains(t, string(out), "kubectl hpguard check", "help names the command as kubectl runs it")
	})
}

// readArchive returns the files of a release archive and checks their metadata: modes, owner 0,
// the source date as mtime, no directories.
func readArchive(t *testing.T, name string, data []byte, when time.Time) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	if strings.HasSuffix(name, ".zip") {
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		require.NoError(t, err)
		for _, f := range zr.File {
			assert.True(t, f.Modified.Equal(when), "%s: mtime %s, want %s", f.Name, f.Modified, when)
			if strings.HasSuffix(f.Name, ".exe") {
				assert.Equal(t, os.FileMode(0o755), f.Mode().Perm(), f.Name)
			}
			rc, err := f.Open()
			require.NoError(t, err)
			b, err := io.ReadAll(rc)
			require.NoError(t, err)
			files[f.Name] = b
		}
		return files
	}
	gz, err := gzip.NewReader(bytes.NewReader(data))
	require.NoError(t, err)
	assert.True(t, gz.ModTime.IsZero() && gz.Name == "", "gzip header carries no name or time")
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		assert.Equal(t, byte(tar.TypeReg), h.Typeflag, h.Name)
		assert.Equal(t, 0, h.Uid, h.Name)
		assert.Equal(t, 0, h.Gid, h.Name)
		assert.True(t, h.ModTime.Equal(when), "%s: mtime %s, want %s", h.Name, h.ModTime, when)
		if h.Name == "hpguard" {
			assert.Equal(t, int64(0o755), h.Mode)
		}
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		files[h.Name] = b
	}
	return files
}

// checkBuildInfo reads the build info Go embeds in every binary (go version -m shows it).
func checkBuildInfo(t *testing.T, bin []byte, a Artifact, rel *Release) {
	t.Helper()
	bi, err := buildinfo.Read(bytes.NewReader(bin))
	require.NoError(t, err)
	assert.Equal(t, "github.com/hpguard/hpguard/cmd/hpguard", bi.Path)
	assert.Equal(t, "github.com/hpguard/hpguard", bi.Main.Path)
	assert.Equal(t, rel.GoVersion, bi.GoVersion)
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	assert.Equal(t, a.OS, settings["GOOS"])
	assert.Equal(t, a.Arch, settings["GOARCH"])
	assert.Equal(t, "0", settings["CGO_ENABLED"])
	assert.Equal(t, "true", settings["-trimpath"])
	assert.Equal(t, "git", settings["vcs"])
	assert.Equal(t, rel.Commit, settings["vcs.revision"])
	assert.Equal(t, rel.Time.Format(time.RFC3339), settings["vcs.time"])
	assert.Equal(t, "false", settings["vcs.modified"])
	// -trimpath keeps -ldflags out of the build info; the stamped version is in the binary (only
	// -X main.version puts it there; the commit is in the build info anyway, so it proves nothing).
	assert.True(t, bytes.Contains(bin, []byte(rel.Version)), "the version is stamped")
}

// checkPE reads the Windows binary's PE header: a console executable for the target machine.
func checkPE(t *testing.T, bin []byte, arch string) {
	t.Helper()
	f, err := pe.NewFile(bytes.NewReader(bin))
	require.NoError(t, err)
	defer f.Close()
	machine := map[string]uint16{"amd64": pe.IMAGE_FILE_MACHINE_AMD64, "arm64": pe.IMAGE_FILE_MACHINE_ARM64}[arch]
	assert.Equal(t, machine, f.Machine, "PE machine")
	assert.NotZero(t, f.Characteristics&pe.IMAGE_FILE_EXECUTABLE_IMAGE, "an executable image")
	oh, ok := f.OptionalHeader.(*pe.OptionalHeader64)
	require.True(t, ok, "a PE32+ (64-bit) optional header")
	assert.Equal(t, uint16(pe.IMAGE_SUBSYSTEM_WINDOWS_CUI), oh.Subsystem, "a console program")
	assert.NotNil(t, f.Section(".text"))
}

// checkVersionOutput runs the Linux binary from the archive: `hpguard version -o json` reports the
// release's version and commit.
func checkVersionOutput(t *testing.T, bin []byte, rel *Release) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hpguard")
	require.NoError(t, os.WriteFile(p, bin, 0o755))
	out, err := exec.Command(p, "version", "-o", "json").Output()
	require.NoError(t, err)
	var v struct {
		Version, Commit, CommitTime string
		Modified                    bool
	}
	require.NoError(t, json.Unmarshal(out, &v))
	assert.Equal(t, rel.Version, v.Version)
	assert.Equal(t, rel.Commit, v.Commit)
	assert.Equal(t, rel.Time.Format(time.RFC3339), v.CommitTime)
	assert.False(t, v.Modified)
}

// checkImage reads the image tarball as docker load would: platform, non-root user, entrypoint,
// creation time, and the binary in the layer equal to the archive's.
func checkImage(t *testing.T, path string, bin []byte, a Artifact, rel *Release) {
	t.Helper()
	img, err := tarball.ImageFromPath(path, nil)
	require.NoError(t, err)
	cfg, err := img.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, "linux", cfg.OS)
	assert.Equal(t, a.Arch, cfg.Architecture)
	assert.Equal(t, "65532:65532", cfg.Config.User, "not root")
	assert.Equal(t, []string{"/hpguard"}, cfg.Config.Entrypoint)
	assert.True(t, cfg.Created.Time.Equal(rel.Time), "created %s, want %s", cfg.Created.Time, rel.Time)
	assert.Equal(t, rel.Commit, cfg.Config.Labels["org.opencontainers.image.revision"])
	layers, err := img.Layers()
	require.NoError(t, err)
	require.Len(t, layers, 1, "one layer, no base image")
	rc, err := layers[0].Uncompressed()
	require.NoError(t, err)
	defer rc.Close()
	tr := tar.NewReader(rc)
	found := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		found[h.Name] = true
		if h.Name == "hpguard" {
			data, err := io.ReadAll(tr)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(bin, data), "the image's binary is the archive's")
			assert.Equal(t, int64(0o755), h.Mode)
		}
		if h.Name == "etc/passwd" {
			data, err := io.ReadAll(tr)
			require.NoError(t, err)
			assert.Contains(t, string(data), "nonroot:x:65532:65532:")
		}
	}
	assert.True(t, found["hpguard"] && found["etc/passwd"], "layer holds %v", found)
}

// checkSBOM reads the CycloneDX SBOM: the application, its version, the modules it links with
// their versions from the build info, and licences.
func checkSBOM(t *testing.T, data []byte, a Artifact, rel *Release, src string) {
	t.Helper()
	var bom struct {
		BOMFormat, SpecVersion, SerialNumber string
		Metadata                             struct {
			Timestamp string
			Component struct{ Name, Version, Purl, Type string }
		}
		Components []struct {
			Name, Version, Purl string
			Evidence            *struct {
				Licenses []struct{ License struct{ ID string } }
			}
		}
	}
	require.NoError(t, json.Unmarshal(data, &bom))
	assert.Equal(t, "CycloneDX", bom.BOMFormat)
	assert.Equal(t, "github.com/hpguard/hpguard", bom.Metadata.Component.Name)
	assert.Equal(t, "application", bom.Metadata.Component.Type)
	assert.Equal(t, "v"+rel.Version, bom.Metadata.Component.Version)
	assert.Equal(t, rel.Time.Format(time.RFC3339), bom.Metadata.Timestamp)
	assert.True(t, strings.HasPrefix(bom.SerialNumber, "urn:uuid:"), bom.SerialNumber)
	byName := map[string]string{}
	licensed := 0
	for _, c := range bom.Components {
		byName[c.Name] = c.Version
		if c.Evidence != nil && len(c.Evidence.Licenses) > 0 {
			licensed++
		}
		if c.Name != "std" {
			assert.Contains(t, c.Purl, "goos="+a.OS, c.Name)
		}
	}
	mainMod, err := os.ReadFile(filepath.Join(src, "go.mod"))
	require.NoError(t, err)
	for _, dep := range []string{"github.com/open-policy-agent/opa", "sigs.k8s.io/yaml", "github.com/spf13/cobra"} {
		v, ok := byName[dep]
		if assert.True(t, ok, "SBOM lists %s", dep) {
			assert.Contains(t, string(mainMod), dep+" "+v, "%s at go.mod's version", dep)
		}
	}
	assert.Equal(t, rel.GoVersion, byName["std"], "the Go standard library")
	assert.Greater(t, licensed, len(bom.Components)/2, "most components carry a detected licence")
}
