package testguest

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"syscall"
)

// cpioEntry is one member of the initramfs. Regular files take their bytes
// from data or, when src is set, from that host file at write time.
type cpioEntry struct {
	mode      uint32 // file type bits and permissions
	data      []byte // contents, or the target of a symlink
	src       string
	rdevMajor uint32
	rdevMinor uint32
}

// archive collects initramfs members by path (no leading slash) and writes
// them as a gzip-compressed newc cpio, the format the kernel unpacks.
type archive struct {
	entries map[string]cpioEntry
}

func newArchive() *archive {
	return &archive{entries: map[string]cpioEntry{}}
}

func cleanName(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

func (a *archive) addDir(name string, perm uint32) {
	a.entries[cleanName(name)] = cpioEntry{mode: syscall.S_IFDIR | perm}
}

func (a *archive) addBytes(name string, data []byte, perm uint32) {
	a.entries[cleanName(name)] = cpioEntry{mode: syscall.S_IFREG | perm, data: data}
}

func (a *archive) addFile(name, src string, perm uint32) {
	a.entries[cleanName(name)] = cpioEntry{mode: syscall.S_IFREG | perm, src: src}
}

func (a *archive) addSymlink(name, target string) {
	a.entries[cleanName(name)] = cpioEntry{mode: syscall.S_IFLNK | 0o777, data: []byte(target)}
}

func (a *archive) addCharDev(name string, major, minor, perm uint32) {
	a.entries[cleanName(name)] = cpioEntry{mode: syscall.S_IFCHR | perm, rdevMajor: major, rdevMinor: minor}
}

// names returns every member path, with missing parent directories added,
// sorted so that each directory precedes its contents.
func (a *archive) names() []string {
	for name := range a.entries {
		for dir := path.Dir(name); dir != "." && dir != "/"; dir = path.Dir(dir) {
			if _, ok := a.entries[dir]; !ok {
				a.entries[dir] = cpioEntry{mode: syscall.S_IFDIR | 0o755}
			}
		}
	}
	names := make([]string, 0, len(a.entries))
	for name := range a.entries {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// writeGzip writes the archive to w, gzip-compressed.
func (a *archive) writeGzip(w io.Writer) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return fmt.Errorf("creating gzip writer: %w", err)
	}
	if err := a.write(zw); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("finishing gzip stream: %w", err)
	}
	return nil
}

// write writes the archive to w as an uncompressed newc cpio.
func (a *archive) write(w io.Writer) error {
	cw := &cpioWriter{w: w}
	for i, name := range a.names() {
		e := a.entries[name]
		data := e.data
		if e.src != "" {
			b, err := os.ReadFile(e.src)
			if err != nil {
				return fmt.Errorf("reading %s for /%s: %w", e.src, name, err)
			}
			data = b
		}
		if err := cw.member(uint32(i+1), name, e, data); err != nil {
			return err
		}
	}
	return cw.member(0, "TRAILER!!!", cpioEntry{}, nil)
}

// cpioWriter emits newc headers and keeps the 4-byte alignment.
type cpioWriter struct {
	w   io.Writer
	off int64
}

func (cw *cpioWriter) member(ino uint32, name string, e cpioEntry, data []byte) error {
	nlink := 1
	if e.mode&syscall.S_IFMT == syscall.S_IFDIR {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		ino, e.mode, 0, 0, nlink, 0, len(data), 0, 0, e.rdevMajor, e.rdevMinor, len(name)+1, 0)
	if err := cw.put([]byte(hdr + name + "\x00")); err != nil {
		return err
	}
	if err := cw.put(data); err != nil {
		return err
	}
	return nil
}

// put writes b and pads the stream to a multiple of 4 bytes.
func (cw *cpioWriter) put(b []byte) error {
	n, err := cw.w.Write(b)
	cw.off += int64(n)
	if err != nil {
		return fmt.Errorf("writing cpio: %w", err)
	}
	if pad := (4 - cw.off%4) % 4; pad > 0 {
		n, err = cw.w.Write(make([]byte, pad))
		cw.off += int64(n)
		if err != nil {
			return fmt.Errorf("writing cpio padding: %w", err)
		}
	}
	return nil
}
