package portalutil

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// awaitPromise makes Evaluate wait for an async expression's result.
func awaitPromise(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }

// Step is how long one UI step may take: the engine answers in
// milliseconds; this only bounds a hung browser.
const Step = 60 * time.Second

// js quotes s as a JavaScript string literal.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Login opens the portal and logs in through its form.
func (b *Browser) Login(url, user, password string) {
	b.t.Helper()
	b.Run("open the portal", Step, chromedp.Navigate(url+"/vms"), chromedp.WaitVisible("#login-user", chromedp.ByID))
	b.SetInput("#login-user", user)
	b.SetInput("#login-pass", password)
	b.Run("log in as "+user, Step, chromedp.Click("#login-submit", chromedp.ByQuery), chromedp.WaitVisible("#logout", chromedp.ByID))
}

// SetInput replaces an input's value as typing would, firing input and
// change events.
func (b *Browser) SetInput(sel, value string) {
	b.t.Helper()
	b.Eval("set "+sel, fmt.Sprintf(`(() => { const el = document.querySelector(%s); if (!el) throw new Error('no element %s');
		el.value = %s; el.dispatchEvent(new Event('input', {bubbles: true})); el.dispatchEvent(new Event('change', {bubbles: true})); return true; })()`,
		js(sel), sel, js(value)), nil)
}

// SetChecked sets a checkbox, firing change.
func (b *Browser) SetChecked(sel string, on bool) {
	b.t.Helper()
	b.Eval("check "+sel, fmt.Sprintf(`(() => { const el = document.querySelector(%s); if (!el) throw new Error('no element');
		if (el.checked !== %v) el.click(); return true; })()`, js(sel), on), nil)
}

// Click clicks the element sel finds once it is visible and enabled. The
// click is the element's own (HTMLElement.click), not a mouse event at
// coordinates, which a layout shift between finding and clicking would
// send elsewhere.
func (b *Browser) Click(sel string) {
	b.t.Helper()
	b.Run("click "+sel, Step, chromedp.WaitVisible(sel, chromedp.ByQuery), chromedp.WaitEnabled(sel, chromedp.ByQuery))
	b.Eval("click "+sel, fmt.Sprintf(`document.querySelector(%s).click()`, js(sel)), nil)
}

// WaitVisible waits for sel to be shown.
func (b *Browser) WaitVisible(sel string) {
	b.t.Helper()
	b.Run("wait for "+sel, Step, chromedp.WaitVisible(sel, chromedp.ByQuery))
}

// WaitGone waits until nothing matches sel.
func (b *Browser) WaitGone(sel string) {
	b.t.Helper()
	b.WaitJS("wait until "+sel+" is gone", fmt.Sprintf("!document.querySelector(%s)", js(sel)),
		`(document.querySelector('#dialog-error') || {}).innerText || 'no dialog error'`, Step)
}

// Text returns the visible text of the first element sel finds ("" if none).
func (b *Browser) Text(sel string) string {
	b.t.Helper()
	var s string
	b.Eval("read "+sel, fmt.Sprintf("(document.querySelector(%s) || {}).innerText || ''", js(sel)), &s)
	return s
}

// Bool evaluates a JavaScript condition.
func (b *Browser) Bool(what, cond string) bool {
	b.t.Helper()
	var ok bool
	b.Eval(what, fmt.Sprintf("Boolean(%s)", cond), &ok)
	return ok
}

// Fetch calls the API from the page with the portal's own token, as a user
// who bypasses the UI would, and returns the status and body.
func (b *Browser) Fetch(method, path, body string) (int, string) {
	b.t.Helper()
	var out struct {
		Status int    `json:"status"`
		Body   string `json:"body"`
	}
	expr := fmt.Sprintf(`(async () => {
		const s = JSON.parse(localStorage.getItem('govirt.session'));
		const r = await fetch('/ovirt-engine/api' + %s, {method: %s, body: %s || undefined,
			headers: {Accept: 'application/json', 'Content-Type': 'application/json', Authorization: 'Bearer ' + s.token}});
		return {status: r.status, body: await r.text()};
	})()`, js(path), js(method), js(body))
	b.Run("fetch "+path, Step, chromedp.Evaluate(expr, &out, awaitPromise))
	return out.Status, out.Body
}
