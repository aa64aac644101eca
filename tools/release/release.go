package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// DefaultTargets are the platforms of a release.
var DefaultTargets = []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64", "windows/amd64", "windows/arm64"}

// Config says what to build and where.
type Config struct {
	Source  string // repository root
	Dist    string // output directory
	Targets []string
	Version string // "" derives it from git
	BaseURL string
	Image   string
	NoSBOM  bool
	// GoEnv is added to the environment of every go command (tests set GOFLAGS, GOCACHE).
	GoEnv []string
}

// Release is the release data: what release.json holds and the formula and manifest are made from.
type Release struct {
	Version   string     `json:"version"`
	Commit    string     `json:"commit"`
	Time      time.Time  `json:"time"`
	GoVersion string     `json:"goVersion"`
	BaseURL   string     `json:"baseURL"`
	Image     string     `json:"image"`
	Artifacts []Artifact `json:"artifacts"`
	// Files are every file written, relative to Dist, sorted.
	Files []string `json:"-"`
}

// Artifact is one platform's archive.
type Artifact struct {
	OS      string `json:"os"`
	Arch    string `json:"arch"`
	Archive string `json:"archive"`
	SHA256  string `json:"sha256"`
	URL     string `json:"url"`
	Binary  string `json:"binary"` // the binary's name inside the archive
	SBOM    string `json:"sbom,omitempty"`
	Image   string `json:"image,omitempty"`
}

// Build builds the release of cfg.Source's HEAD into cfg.Dist.
func Build(ctx context.Context, cfg Config) (*Release, error) {
	src, err := filepath.Abs(cfg.Source)
	if err != nil {
		return nil, err
	}
	if dirty, err := git(ctx, src, "status", "--porcelain"); err != nil {
		return nil, err
	} else if dirty != "" {
		return nil, fmt.Errorf("%s has uncommitted changes or untracked files: a release is built from a commit (commit, stash or remove them)", src)
	}
	commit, err := git(ctx, src, "rev-parse", "HEAD")
	if err != nil {
		return nil, err
	}
	when, err := sourceDate(ctx, src)
	if err != nil {
		return nil, err
	}
	version := cfg.Version
	if version == "" {
		if version, err = deriveVersion(ctx, src, commit); err != nil {
			return nil, err
		}
	}
	version = strings.TrimPrefix(version, "v")
	dist, err := filepath.Abs(cfg.Dist)
	if err != nil {
		return nil, err
	}
	if rel, err := filepath.Rel(dist, src); err == nil && (rel == "." || !strings.HasPrefix(rel, "..")) {
		return nil, fmt.Errorf("-dist %s is the source tree or contains it: it is emptied first, so give another directory", cfg.Dist)
	}
	if err := os.RemoveAll(cfg.Dist); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dist, 0o755); err != nil {
		return nil, err
	}
	rel := &Release{Version: version, Commit: commit, Time: when, GoVersion: runtime.Version(),
		BaseURL: strings.TrimSuffix(cfg.BaseURL, "/"), Image: cfg.Image}
	readme, err := os.ReadFile(filepath.Join(src, "README.md"))
	if err != nil {
		return nil, err
	}
	binDir := filepath.Join(cfg.Dist, ".build")
	defer os.RemoveAll(binDir)
	var sbomCLI string
	if !cfg.NoSBOM {
		if sbomCLI, err = sbomTool(ctx, binDir); err != nil {
			return nil, err
		}
	}
	for _, t := range cfg.Targets {
		goos, goarch, ok := strings.Cut(t, "/")
		if !ok {
			return nil, fmt.Errorf("target %q: want OS/ARCH", t)
		}
		a := Artifact{OS: goos, Arch: goarch, Binary: "hpguard"}
		if goos == "windows" {
			a.Binary = "hpguard.exe"
		}
		bin := filepath.Join(binDir, goos+"_"+goarch, a.Binary)
		if err := goBuild(ctx, cfg, src, goos, goarch, version, commit, bin); err != nil {
			return nil, err
		}
		binData, err := os.ReadFile(bin)
		if err != nil {
			return nil, err
		}
		base := fmt.Sprintf("hpguard_%s_%s_%s", version, goos, goarch)
		files := []archiveFile{
			{Name: a.Binary, Data: binData, Mode: 0o755},
			{Name: "README.md", Data: readme, Mode: 0o644},
		}
		if goos == "windows" {
			a.Archive = base + ".zip"
			err = writeZip(filepath.Join(cfg.Dist, a.Archive), files, when)
		} else {
			a.Archive = base + ".tar.gz"
			err = writeTarGz(filepath.Join(cfg.Dist, a.Archive), files, when)
		}
		if err != nil {
			return nil, err
		}
		if a.SHA256, err = fileSHA256(filepath.Join(cfg.Dist, a.Archive)); err != nil {
			return nil, err
		}
		a.URL = fmt.Sprintf("%s/v%s/%s", rel.BaseURL, version, a.Archive)
		if !cfg.NoSBOM {
			a.SBOM = base + ".sbom.cdx.json"
			if err := writeSBOM(ctx, sbomCLI, bin, goos, goarch, version, when, filepath.Join(cfg.Dist, a.SBOM)); err != nil {
				return nil, fmt.Errorf("SBOM of %s: %w", t, err)
			}
		}
		if goos == "linux" {
			a.Image = base + ".image.tar"
			if err := writeImage(filepath.Join(cfg.Dist, a.Image), cfg.Image+":"+version, binData, goarch, when, version, commit); err != nil {
				return nil, fmt.Errorf("image of %s: %w", t, err)
			}
		}
		rel.Artifacts = append(rel.Artifacts, a)
	}
	if err := os.RemoveAll(binDir); err != nil {
		return nil, err
	}
	if err := writeHomebrew(filepath.Join(cfg.Dist, "hpguard.rb"), rel); err != nil {
		return nil, err
	}
	if err := writeKrew(filepath.Join(cfg.Dist, "krew", "hpguard.yaml"), rel); err != nil {
		return nil, err
	}
	data, err := json.MarshalIndent(rel, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(cfg.Dist, "release.json"), append(data, '\n'), 0o644); err != nil {
		return nil, err
	}
	if err := writeChecksums(cfg.Dist); err != nil {
		return nil, err
	}
	return rel, filepath.WalkDir(cfg.Dist, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		r, _ := filepath.Rel(cfg.Dist, p)
		rel.Files = append(rel.Files, filepath.ToSlash(r))
		return nil
	})
}

// goBuild builds hpguard for one platform: static, -trimpath, stamped with the version and the
// commit (ldflags) and with the VCS data in the build info (-buildvcs=true: go version -m shows it).
func goBuild(ctx context.Context, cfg Config, src, goos, goarch, version, commit, out string) error {
	ldflags := fmt.Sprintf("-s -w -buildid= -X main.version=%s -X main.commit=%s", version, commit)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=true", "-ldflags", ldflags, "-o", out, "./cmd/hpguard")
	cmd.Dir = src
	// The variables that change the code generated are pinned to their defaults.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch, "GOFLAGS=-mod=readonly",
		"GOAMD64=v1", "GOARM64=v8.0", "GOEXPERIMENT=", "GOFIPS140=off")
	cmd.Env = append(cmd.Env, cfg.GoEnv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s/%s: %w\n%s", goos, goarch, err, stderr.String())
	}
	return nil
}

// sourceDate is SOURCE_DATE_EPOCH when set, else the commit's time.
func sourceDate(ctx context.Context, src string) (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		var err error
		if s, err = git(ctx, src, "log", "-1", "--format=%ct"); err != nil {
			return time.Time{}, err
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", s, err)
	}
	return time.Unix(n, 0).UTC(), nil
}

// deriveVersion is the v-tag at HEAD (without the v), else 0.0.0-SNAPSHOT-<12 hex digits of the commit>.
func deriveVersion(ctx context.Context, src, commit string) (string, error) {
	tags, err := git(ctx, src, "tag", "--points-at", "HEAD", "--list", "v[0-9]*")
	if err != nil {
		return "", err
	}
	if tags != "" {
		list := strings.Fields(tags)
		sort.Strings(list)
		return strings.TrimPrefix(list[len(list)-1], "v"), nil
	}
	return "0.0.0-SNAPSHOT-" + commit[:12], nil
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

func fileSHA256(p string) (string, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

// writeChecksums writes checksums.txt: "SHA256  NAME" for every file of dir (sha256sum -c reads it).
func writeChecksums(dir string) error {
	var names []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		r, _ := filepath.Rel(dir, p)
		names = append(names, filepath.ToSlash(r))
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		sum, err := fileSHA256(filepath.Join(dir, n))
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s  %s\n", sum, n)
	}
	if len(names) == 0 {
		return errors.New("nothing to checksum")
	}
	return os.WriteFile(filepath.Join(dir, "checksums.txt"), []byte(b.String()), 0o644)
}
