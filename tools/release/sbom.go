package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/google/uuid"
)

// sbomTool builds the cyclonedx-gomod CLI (the version of tools/release/go.mod) into dir.
func sbomTool(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "cyclonedx-gomod")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building cyclonedx-gomod: %w\n%s", err, msg)
	}
	return out, nil
}

// writeSBOM writes the CycloneDX SBOM of a built binary with `cyclonedx-gomod bin`: the modules the
// binary was linked from (its build info), the Go standard library, and their licences (detected in
// the module cache, reported as evidence). The package URLs carry the target platform, which
// cyclonedx-gomod reads from `go env`, so GOOS and GOARCH are the binary's. It leaves out the
// serial number and the time, which are then set from the release (a UUID derived from the
// file's name and version, the source date) so that the SBOM is reproducible too.
func writeSBOM(ctx context.Context, tool, binary, goos, goarch, version string, when time.Time, out string) error {
	raw := out + ".raw"
	defer os.Remove(raw)
	cmd := exec.CommandContext(ctx, tool, "bin", "-json", "-std", "-licenses", "-noserial", "-notimestamp",
		"-version", "v"+version, "-output", raw, binary)
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("cyclonedx-gomod bin: %w\n%s", err, msg)
	}
	data, err := os.ReadFile(raw)
	if err != nil {
		return err
	}
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(data), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		return fmt.Errorf("reading the SBOM: %w", err)
	}
	bom.SerialNumber = "urn:uuid:" + uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/hpguard/hpguard/releases/v"+version+"/"+filepath.Base(out))).String()
	if bom.Metadata == nil {
		return fmt.Errorf("SBOM of %s has no metadata", binary)
	}
	bom.Metadata.Timestamp = when.UTC().Format(time.RFC3339)
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	enc := cdx.NewBOMEncoder(f, cdx.BOMFileFormatJSON)
	enc.SetPretty(true)
	if err := enc.Encode(&bom); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
