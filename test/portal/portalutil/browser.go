// Package portalutil drives the web portal in Debian's headless Chromium
// with chromedp: it starts the browser (failing loudly when it is missing),
// checks that the engine serves a built portal, and saves screenshots as
// test artifacts.
package portalutil

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// ChromiumPath is Debian's chromium, which scripts/host-setup.sh installs.
const ChromiumPath = "/usr/bin/chromium"

// Browser is one headless Chromium with a fresh profile.
type Browser struct {
	Ctx       context.Context // a tab; chromedp.Run(b.Ctx, ...)
	Artifacts string          // where screenshots go
	t         testing.TB

	mu     sync.Mutex
	errors []string // uncaught exceptions, console errors, CSP violations
}

// Start launches headless Chromium for the test's lifetime. A missing
// browser fails the test, naming the package that provides it.
func Start(t testing.TB) *Browser {
	t.Helper()
	if _, err := exec.LookPath(ChromiumPath); err != nil {
		t.Fatalf("%s is missing (Debian package chromium; scripts/host-setup.sh installs it): %v", ChromiumPath, err)
	}
	// Not t.TempDir: Chromium's helper processes can still write into the
	// profile for a moment after the browser exits, and TempDir's cleanup
	// then fails the test ("directory not empty").
	profile, err := os.MkdirTemp("", "govirt-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := append([]chromedp.ExecAllocatorOption{},
		chromedp.ExecPath(ChromiumPath),
		chromedp.UserDataDir(profile),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1440, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		for i := 0; ; i++ {
			err := os.RemoveAll(profile)
			if err == nil || i == 20 {
				if err != nil {
					t.Logf("browser profile %s left behind: %v", profile, err)
				}
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	b := &Browser{Ctx: ctx, Artifacts: ArtifactsDir(t), t: t}
	chromedp.ListenTarget(ctx, b.watch)
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start %s: %v", ChromiumPath, err)
	}
	return b
}

// watch records what the page reports going wrong. Failed requests are not
// among them: the portal shows the API's faults itself.
func (b *Browser) watch(ev any) {
	var msg string
	switch e := ev.(type) {
	case *runtime.EventExceptionThrown:
		msg = "exception: " + e.ExceptionDetails.Text
		if e.ExceptionDetails.Exception != nil {
			msg += " " + e.ExceptionDetails.Exception.Description
		}
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.APITypeError {
			msg = "console.error"
			for _, a := range e.Args {
				msg += " " + string(a.Value) + a.Description
			}
		}
	case *cdplog.EventEntryAdded:
		if e.Entry.Level == cdplog.LevelError && e.Entry.Source != cdplog.SourceNetwork {
			msg = fmt.Sprintf("%s: %s (%s)", e.Entry.Source, e.Entry.Text, e.Entry.URL)
		}
	}
	if msg != "" {
		b.mu.Lock()
		b.errors = append(b.errors, msg)
		b.mu.Unlock()
	}
}

// PageErrors returns what the page reported going wrong so far.
func (b *Browser) PageErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

// ArtifactsDir is $GOVIRT_ARTIFACTS/<test name>, or a directory under the
// test's temp dir that outlives it; it is logged either way.
func ArtifactsDir(t testing.TB) string {
	t.Helper()
	base := os.Getenv("GOVIRT_ARTIFACTS")
	if base == "" {
		var err error
		if base, err = os.MkdirTemp("", "govirt-portal-artifacts-*"); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(base, regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(t.Name(), "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("portal screenshots: %s", dir)
	return dir
}

// Run runs actions in the tab with a deadline, failing the test with what
// was being done when one fails; it saves a screenshot of the failure.
func (b *Browser) Run(what string, timeout time.Duration, actions ...chromedp.Action) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, timeout)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		b.Screenshot("failed-" + what)
		b.t.Fatalf("%s: %v", what, err)
	}
}

// Screenshot saves the whole page as name.png among the artifacts.
func (b *Browser) Screenshot(name string) string {
	b.t.Helper()
	var png []byte
	ctx, cancel := context.WithTimeout(b.Ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return ""
	}
	p := filepath.Join(b.Artifacts, regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(name, "-")+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Errorf("save %s: %v", p, err)
	}
	return p
}

// RequireBuilt fails unless the engine at url serves the built portal
// rather than the placeholder of an unbuilt tree.
func RequireBuilt(t testing.TB, url string) {
	t.Helper()
	resp, err := http.Get(url + "/")
	if err != nil {
		t.Fatalf("GET %s/: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "/assets/app-") {
		t.Fatalf("the engine does not serve a built portal (status %d): run `make portal` (npm ci and npm run build in web/) before the tests\n%s",
			resp.StatusCode, body)
	}
}

// Eval evaluates a JavaScript expression in the page into out.
func (b *Browser) Eval(what, js string, out any) {
	b.t.Helper()
	b.Run(what, 30*time.Second, chromedp.Evaluate(js, out))
}

// WaitJS polls a JavaScript condition until it is true or the timeout
// passes; on timeout it fails with the value of describe (a JS expression).
func (b *Browser) WaitJS(what, cond, describe string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var ok bool
		ctx, cancel := context.WithTimeout(b.Ctx, 10*time.Second)
		err := chromedp.Run(ctx, chromedp.Evaluate(fmt.Sprintf("Boolean(%s)", cond), &ok))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			var state string
			_ = chromedp.Run(b.Ctx, chromedp.Evaluate(describe, &state))
			b.Screenshot("timeout-" + what)
			b.t.Fatalf("%s: not within %v (err %v); page says: %s", what, timeout, err, state)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
