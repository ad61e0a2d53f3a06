package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/govirt/govirt/internal/api/ovirt"
)

// table is what the client verbs print by default: aligned columns under
// a header, or, without one, a list of "Key:  value" lines; next, if
// any, follows after an empty line.
type table struct {
	head []string
	rows [][]string
	next *table
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	if t.head != nil {
		fmt.Fprintln(tw, strings.Join(t.head, "\t"))
	}
	for _, r := range t.rows {
		cells := make([]string, len(r))
		for i, c := range r {
			if c == "" {
				c = "-"
			}
			cells[i] = strings.ReplaceAll(c, "\t", " ")
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil || t.next == nil {
		return err
	}
	fmt.Fprintln(w)
	return t.next.print(w)
}

// emit prints v as JSON with -o json, and otherwise the table that build
// makes (it may need more requests, which JSON output skips).
func (f *cliFlags) emit(cmd *cobra.Command, v any, build func() (*table, error)) error {
	if f.output == "json" {
		return printJSON(cmd.OutOrStdout(), v)
	}
	t, err := build()
	if err != nil {
		return err
	}
	return t.print(cmd.OutOrStdout())
}

// cell is an optional string for a table: the first of vals that is set.
func cell(vals ...*string) string {
	for _, v := range vals {
		if v != nil && *v != "" {
			return *v
		}
	}
	return ""
}

// yesNo is an optional boolean for a table.
func yesNo(b *ovirt.Bool) string {
	switch {
	case b == nil:
		return ""
	case bool(*b):
		return "yes"
	}
	return "no"
}

func intCell(i *ovirt.Int) string {
	if i == nil {
		return ""
	}
	return strconv.FormatInt(int64(*i), 10)
}

func refID(r *ovirt.Ref) string {
	if r == nil {
		return ""
	}
	return r.ID
}

// sizeUnits are the suffixes parseSize knows: binary with and without
// "iB" (as qemu-img reads them) and decimal with "B".
var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40}, {"B", 1},
}

// parseSize reads 10GiB, 512M, 1.5G, 1000000 (bytes).
func parseSize(s string) (int64, error) {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range sizeUnits {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v <= 0 || v*float64(mult) > 1<<62 {
		return 0, fmt.Errorf("size %q: want a positive number with an optional unit such as MiB or GiB", s)
	}
	return int64(v * float64(mult)), nil
}

// formatSize writes bytes in the largest binary unit that keeps a number
// of at least 1, to a tenth: 1 GiB, 1.5 GiB, 512 MiB.
func formatSize(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	v, i := float64(n), 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return strings.TrimSuffix(strconv.FormatFloat(v, 'f', 1, 64), ".0") + " " + units[i]
}

func sizeCell(i *ovirt.Int) string {
	if i == nil {
		return ""
	}
	return formatSize(int64(*i))
}

// isTerminal tells whether w is a terminal (a character device).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progress shows a spinner, a label and the elapsed time on stderr while
// a long operation runs, if stderr is a terminal; otherwise it shows
// nothing.
type progress struct {
	start time.Time
	mu    sync.Mutex
	label string
	stop  chan struct{}
	done  chan struct{}
}

func startProgress(cmd *cobra.Command, label string) *progress {
	p := &progress{start: time.Now(), label: label}
	w := cmd.ErrOrStderr()
	if !isTerminal(w) {
		return p
	}
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(p.done)
		frames := `|/-\`
		tick := time.NewTicker(150 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			p.mu.Lock()
			fmt.Fprintf(w, "\r\033[K%c %s  %s", frames[i%len(frames)], p.label, p.elapsed().Round(time.Second))
			p.mu.Unlock()
			select {
			case <-p.stop:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-tick.C:
			}
		}
	}()
	return p
}

func (p *progress) set(label string) {
	p.mu.Lock()
	p.label = label
	p.mu.Unlock()
}

func (p *progress) elapsed() time.Duration { return time.Since(p.start) }

// end clears the spinner's line.
func (p *progress) end() {
	if p.stop != nil {
		close(p.stop)
		<-p.done
		p.stop = nil
	}
}
