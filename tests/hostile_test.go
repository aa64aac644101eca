package tests

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hpguard/hpguard/internal/check"
	"github.com/hpguard/hpguard/internal/engine"
	"github.com/hpguard/hpguard/internal/manifest"
	"github.com/hpguard/hpguard/internal/report"
)

// Hostile input: every case ends in a clear error or a clean result, in-process (internal/check)
// and through the binary, within hostileTimeout and, for the binary, within hostileMaxRSS of peak
// resident memory (measured by the kernel: rusage of the child process).
//
// The bound holds with the default limits (--max-file-size 256 MiB, --max-document-size 16 MiB,
// --max-depth 1000): the reader keeps at most one document's text (and its aliases' expansion is
// measured before it is expanded), so memory follows --max-document-size, not the file size. It
// does not cover a file of many valid documents: those are all decoded and evaluated, and memory
// grows with the input (about 1.5 GB peak for 200 MB of small Deployments).
const (
	hostileMaxRSS  = 256 << 20 // bytes
	hostileTimeout = 2 * time.Minute
)

type hostileCase struct {
	name string
	// write creates the input in dir and returns its path ("-" for stdin, see stdin).
	write func(t *testing.T, dir string) string
	stdin string
	args  []string // extra flags for the binary (and the matching limits in-process)
	// errContains is a substring of the error every non-skipped result must carry; "" means a
	// clean result (no error, exit 0).
	errContains string
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, data, 0o644))
	return p
}

func fixed(name, data string) func(*testing.T, string) string {
	return func(t *testing.T, dir string) string { return writeFile(t, dir, name, []byte(data)) }
}

// bigFile streams head, then body repeated up to size bytes, then tail, into dir/name.
func bigFile(name, head, body, tail string, size int) func(*testing.T, string) string {
	return func(t *testing.T, dir string) string {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		require.NoError(t, err)
		w := bufio.NewWriterSize(f, 1<<20)
		n, _ := w.WriteString(head)
		for n < size {
			m, _ := w.WriteString(body)
			n += m
		}
		_, _ = w.WriteString(tail)
		require.NoError(t, w.Flush())
		require.NoError(t, f.Close())
		return p
	}
}

func billionLaughs() string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\n")
	b.WriteString(`a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]` + "\n")
	prev := "a"
	for _, c := range "bcdefghi" {
		fmt.Fprintf(&b, "%c: &%c [*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s]\n", c, c, prev, prev, prev, prev, prev, prev, prev, prev, prev)
		prev = string(c)
	}
	b.WriteString("data: {x: *i}\n")
	return b.String()
}

func hostileCases() []hostileCase {
	const depth = 10000
	const big = 200 * 1000 * 1000
	return []hostileCase{
		{name: "alias-bomb", write: fixed("bomb.yaml", billionLaughs()), errContains: "expands to more than"},
		{name: "alias-long-string", write: func(t *testing.T, dir string) string {
			s := "apiVersion: v1\nkind: Pod\nmetadata: {name: s}\nx: &s \"" + strings.Repeat("x", 1<<20) + "\"\nspec:\n  y: [" + strings.TrimSuffix(strings.Repeat("*s, ", 100), ", ") + "]\n"
			return writeFile(t, dir, "long.yaml", []byte(s))
		}, errContains: "expands to more than"},
		{name: "alias-cycle", write: fixed("cycle.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: c}\nspec: &a {x: *a}\n"), errContains: "yaml"},
		{name: "nesting-yaml-flow-10000", write: fixed("deep-flow.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: deep}\nspec:\n  x: "+strings.Repeat("[", depth)+strings.Repeat("]", depth)+"\n"), errContains: "depth"},
		{name: "nesting-yaml-map-10000", write: fixed("deep-map.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: deep}\nspec:\n  x: "+strings.Repeat("{a: ", depth)+"1"+strings.Repeat("}", depth)+"\n"), errContains: "depth"},
		{name: "nesting-json-10000", write: fixed("deep.json", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"deep"},"spec":{"x":`+strings.Repeat(`{"a":`, depth)+"1"+strings.Repeat("}", depth)+"}}\n"), errContains: "depth"},
		{name: "nesting-through-anchor", write: fixed("deep-anchor.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: deep}\nx: &a "+strings.Repeat("[", 2000)+strings.Repeat("]", 2000)+"\nspec:\n  x: *a\n"), errContains: "nesting deeper than 1000 levels"},
		{name: "nesting-1500-with-raised-max-depth", write: fixed("deep-ok.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: deep}\nspec:\n  x: "+strings.Repeat("[", 1500)+strings.Repeat("]", 1500)+"\n"), args: []string{"--max-depth", "2000"}},
		{name: "nesting-1500-default-max-depth", write: fixed("deep-1500.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: deep}\nspec:\n  x: "+strings.Repeat("[", 1500)+strings.Repeat("]", 1500)+"\n"), errContains: "nesting deeper than 1000 levels"},
		{name: "200MB-yaml-document", write: bigFile("big.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n", "  k: "+strings.Repeat("x", 200)+"\n", "", big), errContains: "document larger than"},
		{name: "200MB-json-document", write: bigFile("big.json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"big"},"data":{"k":"`, strings.Repeat("x", 4096), "\"}}\n", big), errContains: "document larger than"},
		{name: "200MB-one-line", write: bigFile("line.yaml", "x: ", strings.Repeat("y", 4096), "\n", big), errContains: "document larger than"},
		{name: "200MB-over-max-file-size", write: bigFile("over.yaml", "", "# comment line\n", "", big), args: []string{"--max-file-size", "100000000"}, errContains: "file larger than 100000000 bytes"},
		{name: "binary-random", write: func(t *testing.T, dir string) string {
			r := rand.New(rand.NewPCG(1, 2))
			b := make([]byte, 1<<20)
			for i := range b {
				b[i] = byte(r.UintN(256))
			}
			return writeFile(t, dir, "random.yaml", b)
		}, errContains: "binary file"},
		{name: "binary-png", write: fixed("image.yaml", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), errContains: "binary file"},
		{name: "utf16-without-bom", write: fixed("utf16.yaml", "a\x00p\x00i\x00"), errContains: "binary file"},
		{name: "utf16-with-bom", write: fixed("utf16-bom.yaml", "\xff\xfea\x00p\x00i\x00"), errContains: "holds no Kubernetes object"},
		{name: "utf32", write: fixed("utf32.yaml", "\xff\xfe\x00\x00a\x00\x00\x00"), errContains: "UTF-32"},
		{name: "invalid-utf8-replaced", write: fixed("latin1.yaml", "# caf\xe9\napiVersion: v1\nkind: Service\nmetadata: {name: caf\xe9}\n")},
		{name: "number-out-of-range", write: fixed("huge.json", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"n"},"spec":{"x":1e400}}`), errContains: "out of range"},
		{name: "empty-file", write: fixed("empty.yaml", ""), errContains: "nothing was checked"},
		{name: "empty-file-allowed", write: fixed("empty.yaml", ""), args: []string{"--allow-empty"}},
		{name: "only-comments", write: fixed("comments.yaml", "# nothing\n\n   \n# here\n"), errContains: "nothing was checked"},
		{name: "only-separators", write: fixed("seps.yaml", "---\n---\n--- # c\n"), args: []string{"--allow-empty"}},
		{name: "empty-stdin", write: func(*testing.T, string) string { return "-" }, errContains: "nothing was checked"},
		{name: "empty-stdin-allowed", write: func(*testing.T, string) string { return "-" }, args: []string{"--allow-empty"}},
		{name: "bare-scalar", write: fixed("scalar.yaml", "hello\n"), errContains: "holds no Kubernetes object"},
		{name: "bare-number-json", write: fixed("number.json", "42\n"), errContains: "holds no Kubernetes object"},
		{name: "bare-list", write: fixed("list.yaml", "- a\n- b\n"), errContains: "holds no Kubernetes object"},
		{name: "json-array", write: fixed("array.json", `[{"apiVersion":"v1","kind":"Pod"}]`), errContains: "not a Kubernetes object"},
		{name: "explicit-null", write: fixed("null.yaml", "null\n"), errContains: "null"},
	}
}

// limitsFor applies the binary's limit flags (a flag and its value) to manifest options.
func limitsFor(args []string) manifest.Options {
	o := manifest.DefaultOptions()
	for i := 0; i+1 < len(args); i += 2 {
		var n int64
		_, _ = fmt.Sscan(args[i+1], &n)
		switch args[i] {
		case "--max-file-size":
			o.MaxFileBytes = n
		case "--max-document-size":
			o.MaxDocumentBytes = int(n)
		case "--max-depth":
			o.MaxDepth = int(n)
		}
	}
	return o
}

// checkHostile checks one report against the case.
func checkHostile(t *testing.T, who string, c hostileCase, rep *report.Report) {
	t.Helper()
	if c.errContains == "" {
		require.Zero(t, rep.Summary.Errors, "%s: clean result expected: %+v", who, rep.Results)
		return
	}
	require.NotZero(t, rep.Summary.Errors, "%s: an error expected: %+v", who, rep.Results)
	for _, r := range rep.Results {
		if r.Status == report.StatusError {
			require.Contains(t, r.Error, c.errContains, "%s: error message", who)
		}
	}
}

func TestHostileInput(t *testing.T) {
	bin := hpguardBin(t)
	p, err := engine.LoadPolicy(policiesFS())
	require.NoError(t, err)
	ev, err := engine.NewOPA(context.Background(), p, "hostprocess", nil)
	require.NoError(t, err)
	var peak int64
	for _, c := range hostileCases() {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := c.write(t, dir)

			// In-process, with a deadline: a hang fails instead of stalling the suite.
			ctx, cancel := context.WithTimeout(context.Background(), hostileTimeout)
			defer cancel()
			type outcome struct {
				rep *report.Report
				err error
			}
			done := make(chan outcome, 1)
			go func() {
				rep, err := check.Run(ctx, check.Options{Paths: []string{path}, Stdin: strings.NewReader(c.stdin), Evaluator: ev, Profile: "hostprocess", Workers: 2,
					Limits: limitsFor(c.args), AllowEmpty: slices.Contains(c.args, "--allow-empty")})
				done <- outcome{rep, err}
			}()
			select {
			case o := <-done:
				require.NoError(t, o.err)
				checkHostile(t, "in-process", c, o.rep)
			case <-time.After(hostileTimeout + 10*time.Second):
				t.Fatalf("in-process check did not finish within %s", hostileTimeout)
			}

			// The binary: exit status, report, peak RSS.
			args := append(append([]string{"check", "-o", "json", "-q"}, c.args...), path)
			out, code, rss := runMeasured(t, bin, c.stdin, args...)
			peak = max(peak, rss)
			t.Logf("exit %d, peak RSS %.0f MiB", code, float64(rss)/(1<<20))
			require.LessOrEqual(t, rss, int64(hostileMaxRSS), "peak RSS of the binary over the bound")
			var rep report.Report
			require.NoError(t, json.Unmarshal(out, &rep), "stdout: %.500s", out)
			checkHostile(t, "binary", c, &rep)
			if c.errContains == "" {
				require.Equal(t, 0, code)
			} else {
				require.Equal(t, 2, code)
			}
		})
	}
	t.Logf("hostile input: %d cases, highest peak RSS of the binary %.0f MiB (bound %d MiB)", len(hostileCases()), float64(peak)/(1<<20), hostileMaxRSS>>20)
}

// runMeasured runs the binary with a deadline and returns stdout, the exit status and the peak
// resident set size in bytes. The peak comes from GNU time (/usr/bin/time -f %M) when installed,
// else from polling VmHWM in /proc/<pid>/status. The child's own rusage is not used: Linux carries
// the RSS high-water mark of the forking (test) process over exec into it.
func runMeasured(t *testing.T, bin, stdin string, args ...string) ([]byte, int, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hostileTimeout)
	defer cancel()
	rssFile := filepath.Join(t.TempDir(), "rss")
	gnuTime := false
	var cmd *exec.Cmd
	if _, err := os.Stat("/usr/bin/time"); err == nil {
		gnuTime = true
		cmd = exec.CommandContext(ctx, "/usr/bin/time", append([]string{"-f", "%M", "-o", rssFile, bin}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, bin, args...)
	}
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	var polled int64
	stop := make(chan struct{})
	polledDone := make(chan struct{})
	go func() {
		defer close(polledDone)
		for {
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)); err == nil {
				for _, line := range strings.Split(string(b), "\n") {
					if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
						var kb int64
						_, _ = fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
						polled = max(polled, kb<<10)
					}
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	err := cmd.Wait()
	close(stop)
	<-polledDone
	require.NoError(t, ctx.Err(), "binary did not finish within %s", hostileTimeout)
	require.NotContains(t, stderr.String(), "panic", "the binary panicked")
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		require.True(t, ok, "run: %v", err)
		code = ee.ExitCode()
	}
	rss := polled
	if gnuTime {
		b, err := os.ReadFile(rssFile)
		require.NoError(t, err)
		lines := strings.Fields(string(b))
		require.NotEmpty(t, lines, "GNU time output")
		var kb int64
		_, err = fmt.Sscan(lines[len(lines)-1], &kb)
		require.NoError(t, err, "GNU time output %q", b)
		rss = kb << 10
	}
	return []byte(stdout.String()), code, rss
}
