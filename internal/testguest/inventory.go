package testguest

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Console markers the guest prints (see init.sh).
const (
	markReady = "GOVIRT-READY"
	markBegin = "GOVIRT-INVENTORY BEGIN "
	markEnd   = "GOVIRT-INVENTORY END "
	markDisk  = "GOVIRT-DISK "
)

// Inventory is the set of block devices the guest saw at one moment; Seq
// increases with each change the guest reported.
type Inventory struct {
	Seq int
	// Boot is the guest kernel's boot_id: it changes only when the guest
	// boots again, which Seq cannot tell (the guest may report any number
	// of changes between two reads).
	Boot  string
	Disks []Disk
}

// Disk is one block device as the guest kernel sees it, the ground truth a
// test compares libvirt's and govirt's view with.
type Disk struct {
	Name string // kernel name: sda, vdb, sr0
	// HCTL is the SCSI address "H:C:T:L", empty for virtio-blk; Host,
	// Channel, Target and LUN are its parts, -1 when there is none. LUNs
	// above 255 appear in SAM flat-space form (unit 300 is LUN 16684).
	HCTL                       string
	Host, Channel, Target, LUN int
	Vendor, Model, Serial      string // empty when the device reports none
	Size                       uint64 // bytes
}

// ByName returns the disk with kernel name name.
func (inv Inventory) ByName(name string) (Disk, bool) {
	for _, d := range inv.Disks {
		if d.Name == name {
			return d, true
		}
	}
	return Disk{}, false
}

// BySerial returns the disk whose serial is serial: names and LUNs shift
// with hot-plug order, serials do not.
func (inv Inventory) BySerial(serial string) (Disk, bool) {
	for _, d := range inv.Disks {
		if d.Serial == serial {
			return d, true
		}
	}
	return Disk{}, false
}

// String renders the inventory compactly for test failure messages.
func (inv Inventory) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "inventory seq=%d:", inv.Seq)
	for _, d := range inv.Disks {
		hctl := d.HCTL
		if hctl == "" {
			hctl = "-"
		}
		fmt.Fprintf(&b, " [%s %s %s/%s serial=%q %d]", d.Name, hctl, d.Vendor, d.Model, d.Serial, d.Size)
	}
	if len(inv.Disks) == 0 {
		b.WriteString(" no disks")
	}
	return b.String()
}

// ParseInventories decodes every complete inventory block in a console log,
// in order. Lines without a marker, junk before a marker (kernel messages
// share the console) and blocks that are cut short or garbled are skipped.
func ParseInventories(r io.Reader) ([]Inventory, error) {
	var p parser
	var out []Inventory
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if inv, ok := p.line(sc.Text()); ok {
			out = append(out, inv)
		}
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("reading console log: %w", err)
	}
	return out, nil
}

// parser assembles inventories line by line, so a log can be fed as it grows.
type parser struct {
	open  bool // inside a BEGIN..END block
	bad   bool // the open block had a garbled line
	seq   int
	count int
	boot  string
	disks []Disk
}

// line feeds one console line and returns an inventory when it completes one.
func (p *parser) line(s string) (Inventory, bool) {
	i := strings.Index(s, "GOVIRT-")
	if i < 0 {
		return Inventory{}, false
	}
	s = strings.TrimRight(s[i:], "\r\n\x00 ")
	switch {
	case strings.HasPrefix(s, markBegin):
		p.begin(s[len(markBegin):])
	case strings.HasPrefix(s, markDisk) && p.open:
		p.disk(s[len(markDisk):])
	case strings.HasPrefix(s, markEnd) && p.open:
		return p.end(s[len(markEnd):])
	}
	return Inventory{}, false
}

func (p *parser) begin(rest string) {
	kv, err := fields(rest)
	seq, err1 := strconv.Atoi(kv["seq"])
	count, err2 := strconv.Atoi(kv["count"])
	boot := kv["boot"]
	if boot == "-" {
		boot = ""
	}
	*p = parser{open: err == nil && err1 == nil && err2 == nil, seq: seq, count: count, boot: boot}
}

func (p *parser) disk(rest string) {
	kv, err := fields(rest)
	if err != nil || kv["seq"] != strconv.Itoa(p.seq) {
		p.bad = true
		return
	}
	d, err := parseDisk(kv)
	if err != nil {
		p.bad = true
		return
	}
	p.disks = append(p.disks, d)
}

func (p *parser) end(rest string) (Inventory, bool) {
	kv, err := fields(rest)
	ok := err == nil && kv["seq"] == strconv.Itoa(p.seq) && !p.bad && len(p.disks) == p.count
	inv := Inventory{Seq: p.seq, Boot: p.boot, Disks: p.disks}
	*p = parser{}
	if !ok {
		return Inventory{}, false
	}
	if inv.Disks == nil {
		inv.Disks = []Disk{}
	}
	return inv, true
}

// fields splits "k=v k=v" into a map; a field without = is an error.
func fields(s string) (map[string]string, error) {
	kv := map[string]string{}
	for _, f := range strings.Fields(s) {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("field %q is not key=value", f)
		}
		kv[k] = v
	}
	return kv, nil
}

// parseDisk builds a Disk from one GOVIRT-DISK line's fields.
func parseDisk(kv map[string]string) (Disk, error) {
	for _, k := range []string{"name", "hctl", "vendor", "model", "serial", "size"} {
		if _, ok := kv[k]; !ok {
			return Disk{}, fmt.Errorf("disk line lacks %s", k)
		}
	}
	size, err := strconv.ParseUint(kv["size"], 10, 64)
	if err != nil {
		return Disk{}, fmt.Errorf("disk size: %w", err)
	}
	d := Disk{
		Name: value(kv["name"]), HCTL: value(kv["hctl"]),
		Vendor: value(kv["vendor"]), Model: value(kv["model"]), Serial: value(kv["serial"]),
		Size: size, Host: -1, Channel: -1, Target: -1, LUN: -1,
	}
	if d.Name == "" {
		return Disk{}, fmt.Errorf("disk line has no name")
	}
	if d.HCTL != "" {
		if err := d.parseHCTL(); err != nil {
			return Disk{}, err
		}
	}
	return d, nil
}

func (d *Disk) parseHCTL() error {
	parts := strings.Split(d.HCTL, ":")
	if len(parts) != 4 {
		return fmt.Errorf("hctl %q: want H:C:T:L", d.HCTL)
	}
	var n [4]int
	for i, s := range parts {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			return fmt.Errorf("hctl %q: bad number %q", d.HCTL, s)
		}
		n[i] = v
	}
	d.Host, d.Channel, d.Target, d.LUN = n[0], n[1], n[2], n[3]
	return nil
}

// value maps the guest's "-" placeholder back to an empty string.
func value(s string) string {
	if s == "-" {
		return ""
	}
	return s
}
