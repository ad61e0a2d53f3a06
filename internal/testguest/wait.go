package testguest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"
)

// pollInterval is how often a console log is re-read: short against the
// guest's 200 ms inventory polling, cheap since only new bytes are read.
const pollInterval = 50 * time.Millisecond

// tailLines is how much console a wait error quotes.
const tailLines = 30

// WaitReady waits until the guest in consolePath reports GOVIRT-READY: its
// modules are loaded and qemu-ga is starting. On ctx expiry the error quotes
// the console's last lines.
func WaitReady(ctx context.Context, consolePath string) error {
	f := &follower{path: consolePath}
	err := f.poll(ctx, func(line string) bool {
		return strings.Contains(line, markReady)
	}, nil)
	if err != nil {
		return fmt.Errorf("waiting for %s in %s: %w\n%s", markReady, consolePath, err, f.describe())
	}
	return nil
}

// WaitInventory follows the console log at consolePath (which libvirt may not
// have created yet) and returns the latest complete inventory as soon as it
// satisfies pred. Only the latest one counts, so a test that waits for a
// disk to go away is not fooled by an inventory from before it came. On ctx
// expiry the error includes the last inventory and console lines seen.
func WaitInventory(ctx context.Context, consolePath string, pred func(Inventory) bool) (Inventory, error) {
	f := &follower{path: consolePath}
	var found Inventory
	err := f.poll(ctx, nil, func(inv Inventory) bool {
		if pred(inv) {
			found = inv
			return true
		}
		return false
	})
	if err != nil {
		return Inventory{}, fmt.Errorf("waiting for an inventory in %s: %w\n%s", consolePath, err, f.describe())
	}
	return found, nil
}

// follower reads a growing console log, remembering the latest inventory and
// the last lines for error messages.
type follower struct {
	path    string
	off     int64
	partial []byte // an unterminated last line
	parser  parser
	last    *Inventory
	tail    []string
	opened  bool
	info    fs.FileInfo // of the file read last, to notice a rotation
}

// poll reads new console output every pollInterval until onLine accepts a
// line or onInventory accepts the latest inventory after a read.
func (f *follower) poll(ctx context.Context, onLine func(string) bool,
	onInventory func(Inventory) bool) error {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		lines, err := f.read()
		if err != nil {
			return err
		}
		for _, l := range lines {
			if onLine != nil && onLine(l) {
				return nil
			}
		}
		if onInventory != nil && f.last != nil && onInventory(*f.last) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// read returns the complete lines appended since the last call. A missing
// file is not an error (the domain may not have started yet); a shrunk file
// (a new domain reusing the path) is read again from its start.
func (f *follower) read() ([]string, error) {
	file, err := os.Open(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("opening console log: %w", err)
	}
	defer file.Close()
	f.opened = true
	info, err := file.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading console log: %w", err)
	}
	var lines []string
	switch {
	case f.info != nil && !os.SameFile(f.info, info):
		// Rotated: virtlogd, which writes libvirt's file consoles, renames
		// a log of max_size (2 MiB) to NAME.0 and starts NAME afresh, and
		// a guest's inventory of thousands of disks is larger than that.
		// The rest of the old file is read from where it was left, and the
		// inventory goes on across the two.
		rest, err := f.rotatedRest()
		if err != nil {
			return nil, err
		}
		lines = f.consume(rest)
		f.off = 0
	case info.Size() < f.off:
		// Truncated in place: a new boot's log.
		f.off, f.partial, f.parser, f.last = 0, nil, parser{}, nil
	}
	f.info = info
	buf, err := io.ReadAll(io.NewSectionReader(file, f.off, info.Size()-f.off))
	if err != nil {
		return nil, fmt.Errorf("reading console log: %w", err)
	}
	f.off += int64(len(buf))
	return append(lines, f.consume(buf)...), nil
}

// rotatedRest is what was written since the last read to the file that
// was followed and to any file that rotated after it, oldest first: the
// followed file is found among the rotated copies (NAME.1 or NAME.0) and
// read from where it was left, and a NAME.0 newer than it whole.
func (f *follower) rotatedRest() ([]byte, error) {
	names := []string{f.path + ".1", f.path + ".0"}
	var rest []byte
	from := -1 // offset into the next file read; -1 until the followed one is found
	for i, name := range names {
		old, err := os.Open(name)
		if err != nil {
			continue
		}
		info, err := old.Stat()
		switch {
		case err != nil:
		case from < 0 && os.SameFile(info, f.info) && info.Size() >= f.off:
			from = int(f.off)
		case from < 0 || i == 0:
			old.Close()
			continue
		default:
			from = 0
		}
		if err == nil {
			var b []byte
			b, err = io.ReadAll(io.NewSectionReader(old, int64(from), info.Size()-int64(from)))
			rest = append(rest, b...)
		}
		old.Close()
		if err != nil {
			return nil, fmt.Errorf("reading rotated console log %s: %w", name, err)
		}
	}
	return rest, nil
}

// consume splits new bytes into lines and feeds them to the parser.
func (f *follower) consume(buf []byte) []string {
	data := append(f.partial, buf...)
	cut := bytes.LastIndexByte(data, '\n')
	if cut < 0 {
		f.partial = data
		return nil
	}
	f.partial = append([]byte(nil), data[cut+1:]...)
	lines := strings.Split(string(data[:cut]), "\n")
	for i, l := range lines {
		l = strings.TrimRight(l, "\r")
		lines[i] = l
		if inv, ok := f.parser.line(l); ok {
			f.last = &inv
		}
		f.tail = append(f.tail, l)
	}
	if n := len(f.tail); n > tailLines {
		f.tail = append([]string(nil), f.tail[n-tailLines:]...)
	}
	return lines
}

// describe summarises what was seen, for an error message.
func (f *follower) describe() string {
	var b strings.Builder
	switch {
	case !f.opened:
		fmt.Fprintf(&b, "console log %s never appeared (did the domain start?)\n", f.path)
	case f.last == nil:
		b.WriteString("no complete inventory seen\n")
	default:
		fmt.Fprintf(&b, "last %s\n", f.last)
	}
	fmt.Fprintf(&b, "last %d console lines:\n", len(f.tail))
	for _, l := range f.tail {
		b.WriteString("  | " + l + "\n")
	}
	if len(f.partial) > 0 {
		b.WriteString("  | " + string(f.partial) + " (no newline yet)\n")
	}
	return b.String()
}

// LatestInventory returns the newest complete inventory in a console log
// (ok false when there is none yet), for a test that compares what the guest
// sees with state that changes beside it.
func LatestInventory(consolePath string) (inv Inventory, ok bool, err error) {
	f, err := os.Open(consolePath)
	if errors.Is(err, fs.ErrNotExist) {
		return Inventory{}, false, nil
	}
	if err != nil {
		return Inventory{}, false, err
	}
	defer f.Close()
	all, err := ParseInventories(f)
	if len(all) == 0 {
		return Inventory{}, false, err
	}
	return all[len(all)-1], true, err
}
