package testguest

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// member is one decoded newc record.
type member struct {
	Mode       uint32
	Data       string
	RMaj, RMin uint32
}

// readNewc decodes a newc archive (the format the kernel unpacks).
func readNewc(t *testing.T, r io.Reader) (map[string]member, []string) {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]member{}
	var order []string
	off := 0
	align := func(n int) int { return (n + 3) &^ 3 }
	for {
		if off+110 > len(b) || string(b[off:off+6]) != "070701" {
			t.Fatalf("bad header at %d", off)
		}
		field := func(i int) uint32 {
			v, err := strconv.ParseUint(string(b[off+6+8*i:off+14+8*i]), 16, 32)
			if err != nil {
				t.Fatal(err)
			}
			return uint32(v)
		}
		mode, size, rmaj, rmin, nameLen := field(1), int(field(6)), field(9), field(10), int(field(11))
		name := string(b[off+110 : off+110+nameLen-1])
		dataOff := align(off + 110 + nameLen)
		if name == "TRAILER!!!" {
			return out, order
		}
		out[name] = member{Mode: mode, Data: string(b[dataOff : dataOff+size]), RMaj: rmaj, RMin: rmin}
		order = append(order, name)
		off = align(dataOff + size)
	}
}

func TestArchiveRoundTrip(t *testing.T) {
	src := filepath.Join(t.TempDir(), "prog")
	if err := os.WriteFile(src, []byte("#!/bin/sh\necho hi\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ar := newArchive()
	ar.addBytes("/init", []byte("abc"), 0o755)
	ar.addFile("usr/bin/prog", src, 0o755)
	ar.addSymlink("/bin/sh", "busybox")
	ar.addCharDev("/dev/console", 5, 1, 0o600)
	ar.addDir("/tmp", 0o1777)
	var buf bytes.Buffer
	if err := ar.writeGzip(&buf); err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	got, order := readNewc(t, zr)
	want := map[string]member{
		"bin":          {Mode: syscall.S_IFDIR | 0o755},
		"bin/sh":       {Mode: syscall.S_IFLNK | 0o777, Data: "busybox"},
		"dev":          {Mode: syscall.S_IFDIR | 0o755},
		"dev/console":  {Mode: syscall.S_IFCHR | 0o600, RMaj: 5, RMin: 1},
		"init":         {Mode: syscall.S_IFREG | 0o755, Data: "abc"},
		"tmp":          {Mode: syscall.S_IFDIR | 0o1777},
		"usr":          {Mode: syscall.S_IFDIR | 0o755},
		"usr/bin":      {Mode: syscall.S_IFDIR | 0o755},
		"usr/bin/prog": {Mode: syscall.S_IFREG | 0o755, Data: "#!/bin/sh\necho hi\n"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("archive (-want +got):\n%s", diff)
	}
	seen := map[string]bool{}
	for _, name := range order {
		if dir := filepath.Dir(name); dir != "." && !seen[dir] {
			t.Errorf("%s comes before its directory %s", name, dir)
		}
		seen[name] = true
	}
}

func TestArchiveMissingSource(t *testing.T) {
	ar := newArchive()
	ar.addFile("/x", filepath.Join(t.TempDir(), "absent"), 0o644)
	if err := ar.write(io.Discard); err == nil {
		t.Fatal("write succeeded with a missing source file")
	}
}
